"""The token decoder that both one-to-many generators are built on: embedding -> ``Recurrent`` ->
vocabulary head, run one step at a time (:class:`_TokenDecoder`), the state it carries
(:class:`DecoderState`), and the token loss of teacher forcing.

It is a decoder for :mod:`rnnkit.decoding` (``step(tokens, state) -> (log_probs, state)``,
``reorder(state, index)``), and offers the plans of the fast greedy loops (C++ on the CPU, fused
Triton kernels) where they compute what ``step`` does. ``ConditionedGenerator`` and
``LanguageModel`` (:mod:`rnnkit.models.one_to_many`) add how the first state is made.

Example:
    >>> gen = ConditionedGenerator(vocab_size=10, cond_shape=(5,))
    >>> log_probs, state = gen.step(torch.tensor([1, 1]), gen.init_state(torch.randn(2, 5)))  # (2, 10)
    >>> state = gen.reorder(state, torch.tensor([1, 1]))  # the second entry, twice
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.decoding import Generated, beam_search, greedy, sample
from rnnkit.decoding.ban import config_ban
from rnnkit.decoding.base import check_decode_args
from rnnkit.decoding.cpu_greedy import CpuGreedyPlan
from rnnkit.decoding.fused_greedy import FusedGreedyPlan
from rnnkit.layers.inputs import InputEncoder
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.base import decoding_mode, recurrent_options
from rnnkit.ops import cpu_stream

_METHODS: dict[str, Callable[..., Generated]] = {"greedy": greedy, "sample": sample, "beam": beam_search,
                                                 "beam_search": beam_search}
RNNState = Tensor | tuple[Tensor, Tensor]


class DecoderState(NamedTuple):
    """What a generator carries between steps (every tensor has the batch on the dimension noted)."""

    rnn: RNNState | None  # h (L, B, H) or (h, c); None = zeros
    context: Tensor | None = None  # (B, E) condition fed at every step
    pending: Tensor | None = None  # (B, V) log-probs of the next token, already known (a prompt's end)


def _select(state: RNNState | None, index: Tensor) -> RNNState | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return (state[0].index_select(1, index), state[1].index_select(1, index))
    return state.index_select(1, index)


def _token_targets_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy over valid target positions (padding ignored)."""
    V = logits.shape[-1]
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"target tokens y must be int64 token ids, got {targets.dtype}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= V):
        raise ValueError(f"target token id out of range [0, {V}): min {int(targets.min())}, "
                         f"max {int(targets.max())}; was the data encoded with another vocabulary?")
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, L)
    return (nll * mask).sum() / mask.sum().clamp(min=1)


class _TokenDecoder(nn.Module):
    """Embedding -> Recurrent -> vocabulary head, one step at a time (shared by both generators)."""

    embed: InputEncoder
    rnn: Recurrent
    head: nn.Linear
    config: Any
    # greedy()/sample() may replay each token from a CUDA graph (decoding/graphs.py): after the first
    # token (which consumes a prompt's pending log-probs) the state keeps one layout.
    graph_step = True

    def _build(self, vocab_size: int, cell: str, embed_dim: int, context_size: int, hidden_size: int,
               num_layers: int, dropout: float, tie_weights: bool) -> None:
        if tie_weights and embed_dim != hidden_size:
            raise ValueError(f"tie_weights needs embed_dim == hidden_size, got {embed_dim} and {hidden_size}")
        self.embed = InputEncoder(vocab_size=vocab_size, embed_dim=embed_dim, dropout=dropout)
        self.rnn = Recurrent(cell, embed_dim + context_size, hidden_size, num_layers=num_layers,
                             dropout=dropout, **recurrent_options(self.config))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embed.embed.weight  # type: ignore[assignment]

    def _inputs(self, tokens: Tensor, context: Tensor | None) -> Tensor:
        x = self.embed(tokens)  # (B, T, E)
        if context is not None:
            x = torch.cat([x, context.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        return x

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One decoding step: previous tokens ``(B,)`` -> ``(log_probs (B, V), state)``."""
        if state.pending is not None:  # the prompt already gave the next distribution
            return state.pending, DecoderState(state.rnn, state.context, None)
        x_t = self._inputs(tokens.unsqueeze(1), state.context).squeeze(1)  # (B, E + C)
        y_t, rnn = self.rnn.step(x_t, state.rnn)
        return self.head(self.drop(y_t)).log_softmax(-1), DecoderState(rnn, state.context, None)

    def _plain_lstm_cells(self) -> list[Any] | None:
        """The LSTM cells when this decoder is *embedding -> plain LSTM stack -> linear head* as
        :meth:`step` runs it (no layer norm, zoneout or active dropout, no autograd, every token
        fed back embeddable), the form the C++ and Triton greedy loops compute; else None."""
        from rnnkit.cells.lstm import LSTMCell

        rnn = self.rnn
        cells = rnn.cell_list
        if type(self).step is not _TokenDecoder.step or any(type(c) is not LSTMCell or c.layer_norm for c in cells):
            return None
        if rnn.zoneout > 0 or (self.training and any(
                r > 0 for r in (rnn.dropout, rnn.recurrent_dropout, rnn.weight_drop, self.drop.p,
                                self.embed.dropout.p))):
            return None
        if not isinstance(self.embed.embed, nn.Embedding) or torch.is_grad_enabled() or \
                self.embed.embed.num_embeddings < self.head.out_features:  # every token must be fed back
            return None
        return list(cells)

    def cpu_greedy_plan(self, state: DecoderState) -> CpuGreedyPlan | None:
        """What greedy decoding in C++ needs (decoding/cpu_greedy.py), or None where that loop
        would not compute what :meth:`step` does: an LSTM without layer norm or zoneout, no dropout
        active, CPU float32/float64 state, a batch of at most ``cpu_stream.MAX_BATCH``, a folded
        embedding table of at most ``cpu_stream.MAX_TABLE_BYTES``, and a C++ compiler."""
        cells = self._plain_lstm_cells()
        if cells is None:
            return None
        h = c = None
        if state.rnn is not None:
            if not isinstance(state.rnn, tuple):
                return None
            h, c = state.rnn
        tensors = [t for t in (h, c, state.context, state.pending) if t is not None]
        dtype = cells[0].weight_hh.dtype
        if cells[0].weight_hh.device.type != "cpu" or any(t.device.type != "cpu" for t in tensors) or \
                dtype not in cpu_stream.DTYPES or any(t.dtype != dtype for t in (h, c) if t is not None):
            return None
        B = self.batch_size(state)
        if B > cpu_stream.MAX_BATCH or cpu_stream.load_library() is None:
            return None
        kernel = self.__dict__.get("_cpu_greedy")
        if kernel is None:
            kernel = cpu_stream.GreedyLSTM(self.embed.embed, cells, self.head, list(self.parameters()))
            self.__dict__["_cpu_greedy"] = kernel
        kernel.params = list(self.parameters())  # afresh: load_state_dict(assign=True) swaps the objects
        if kernel.table_bytes(self.head.out_features) > cpu_stream.MAX_TABLE_BYTES:
            return None
        return CpuGreedyPlan(kernel, B, h, c, state.context, state.pending)

    def fused_greedy_plan(self, state: DecoderState) -> FusedGreedyPlan | None:
        """What greedy decoding through the fused Triton kernels needs (decoding/fused_greedy.py),
        or None where they would not compute what :meth:`step` does: an LSTM without layer norm or
        zoneout, no dropout active, float32 weights and state on one device, no context beside the
        tokens and no prompt's pending log-probs."""
        cells = self._plain_lstm_cells()
        if cells is None:
            return None
        if state.context is not None or state.pending is not None or \
                (state.rnn is not None and not isinstance(state.rnn, tuple)):
            return None
        h, c = state.rnn if state.rnn is not None else (None, None)
        embedding = self.embed.embed
        assert isinstance(embedding, nn.Embedding)  # _plain_lstm_cells checked it
        weights = [embedding.weight, self.head.weight, *(p for c_ in cells for p in c_.parameters())]
        device = weights[0].device
        if any(w.dtype != torch.float32 or w.device != device for w in weights) or \
                any(t.dtype != torch.float32 or t.device != device for t in (h, c) if t is not None):
            return None

        def layer(cell: Any) -> tuple[Tensor, Tensor, Tensor | None]:
            biases = [b.detach() for b in (cell.bias_ih, cell.bias_hh) if b is not None]
            return (cell.weight_ih.detach().contiguous(), cell.weight_hh.detach().contiguous(),
                    sum(biases[1:], biases[0]) if biases else None)

        layers = [layer(cell) for cell in cells]
        head_bias = None if self.head.bias is None else self.head.bias.detach()
        sources = (*weights, *(() if self.head.bias is None else (self.head.bias,)))
        return FusedGreedyPlan(embedding.weight.detach().contiguous(), layers,
                               self.head.weight.detach().contiguous(), head_bias, self.batch_size(state), h, c,
                               sources)

    def reorder(self, state: DecoderState, index: Tensor) -> DecoderState:
        """Keep / repeat batch entries of ``state`` by a ``(B',)`` index."""

        def sel(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.index_select(0, index)

        return DecoderState(_select(state.rnn, index), sel(state.context), sel(state.pending))

    def batch_size(self, state: DecoderState) -> int:
        for t in (state.context, state.pending):
            if t is not None:
                return int(t.shape[0])
        if state.rnn is None:
            raise ValueError("cannot tell the batch size of an empty decoder state")
        h = state.rnn[0] if isinstance(state.rnn, tuple) else state.rnn
        return int(h.shape[1])

    def _decode(self, state: DecoderState, method: str, max_length: int, ban_unk: bool = False,
                **kwargs: Any) -> Generated:
        """Run a strategy from ``state``. ``<pad>`` and ``bos`` are never generated (pad fills the
        tokens past each length, bos only starts a sequence; decoding/ban.py, ``output_ban``), nor
        ``<unk>`` with ``ban_unk``, nor the ids in ``kwargs["banned"]``."""
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        c = self.config
        max_length = check_decode_args(bos=c.bos_id, eos=c.eos_id, max_length=max_length)[2]
        kwargs["banned"] = config_ban(c, ban_unk=ban_unk, banned=kwargs.get("banned"))
        with decoding_mode(self):
            return _METHODS[method](self, state, bos=c.bos_id, eos=c.eos_id, max_length=max_length, **kwargs)
