"""Many-to-many of another length: an encoder-decoder (translation, grapheme-to-phoneme, dates).

Encoder: source ids (or frames) -> Recurrent (bidirectional by default). Bridge: the top encoder
layer's final state -> the decoder's initial state (any directions, layers and sizes). Decoder
(Luong et al. 2015): embed the previous token (plus the previous attentional vector: input
feeding) -> Recurrent.step -> attend over the encoder outputs (masked) -> ``tanh(W [c; h])`` ->
vocabulary. The decoder is a ``decoding.Decoder``, so greedy, sampling and beam search run on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batch import Batch, check_target_lengths
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import Generated, beam_search, greedy, sample
from rnnkit.decoding.ban import TokenBan, config_ban, output_ban
from rnnkit.layers.attention import KINDS, Attention
from rnnkit.layers.inputs import InputEncoder
from rnnkit.layers.recurrent import Recurrent, State
from rnnkit.models.base import (
    Model,
    ModelOutput,
    checked_series,
    decoding_cap,
    recurrent_options,
    with_recurrent_options,
)

RecState = State  # the decoder Recurrent's state: h (L, B, H), or (h, c) for LSTM


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that rebuilds a :class:`Seq2Seq`.

    Exactly one of ``src_vocab_size`` (token ids) or ``num_features`` (float frames) is set.
    ``attention``: ``"none"``, ``"additive"``, ``"dot"`` or ``"general"``. ``teacher_forcing``: the
    probability of feeding the true previous token in training (below 1: scheduled sampling).
    ``tie_embeddings``: the output layer shares the target embedding matrix. ``label_smoothing``:
    the share of each target's probability spread over the vocabulary in the training loss (the loss
    in eval mode stays the plain negative log-likelihood). ``decode``: what ``predict`` runs
    (``"greedy"`` or ``"beam"``).
    """

    tgt_vocab_size: int
    src_vocab_size: int | None = None
    num_features: int | None = None
    embed_dim: int = 64
    cell: str = "lstm"
    hidden_size: int = 128
    encoder_hidden_size: int | None = None
    num_layers: int = 1
    decoder_num_layers: int | None = None
    bidirectional: bool = True
    attention: str = "additive"
    input_feeding: bool = True
    dropout: float = 0.0
    teacher_forcing: float = 1.0
    tie_embeddings: bool = False
    label_smoothing: float = 0.0
    decode: str = "greedy"
    beam_size: int = 4
    length_penalty: float = 0.0
    max_length: int = 64
    bos_id: int = Vocab.bos_id
    eos_id: int = Vocab.eos_id
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


@dataclass
class Seq2SeqState:
    """What the decoder carries between steps. Batch is dim 1 of ``rnn`` (torch layout), dim 0 of
    the rest: ``feed`` (B, A) the last attentional vector, ``memory`` (B, S, K) the encoder outputs,
    ``keys`` (B, S, H') their attention projection, ``mask`` (B, S) True on valid source steps."""

    rnn: RecState
    feed: Tensor
    memory: Tensor
    keys: Tensor
    mask: Tensor


class Seq2SeqDecoder(nn.Module):
    """One decoder step; a :class:`rnnkit.decoding.Decoder` (``step`` / ``reorder``)."""

    def __init__(self, c: Seq2SeqConfig, memory_size: int) -> None:
        super().__init__()
        self.attention_kind, self.input_feeding = c.attention, c.input_feeding
        # with tied embeddings the attentional vector lives in embedding space, so W_out = E
        self.feed_size = c.embed_dim if c.tie_embeddings else c.hidden_size
        self.embed = nn.Embedding(c.tgt_vocab_size, c.embed_dim, padding_idx=Vocab.pad_id)
        in_size = c.embed_dim + (self.feed_size if c.input_feeding else 0)
        self.rnn = Recurrent(c.cell, in_size, c.hidden_size, num_layers=c.decoder_num_layers or c.num_layers,
                             dropout=c.dropout, **recurrent_options(c))
        self.attention = None if c.attention == "none" else Attention(
            c.attention, c.hidden_size, memory_size)  # type: ignore[arg-type]
        combined = c.hidden_size + (memory_size if self.attention is not None else 0)
        self.combine = nn.Linear(combined, self.feed_size)
        self.dropout = nn.Dropout(c.dropout)
        self.out = nn.Linear(self.feed_size, c.tgt_vocab_size)
        if c.tie_embeddings:
            self.out.weight = self.embed.weight

    def attend(self, h: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor | None]:
        """Attentional vectors ``tanh(W [c; h])`` for queries ``h`` (B, [L,] H), and the weights."""
        if self.attention is None:
            return torch.tanh(self.combine(h)), None
        ctx, weights = self.attention(h, state.memory, mask=state.mask, prepared=state.keys)
        return torch.tanh(self.combine(torch.cat([ctx, h], dim=-1))), weights

    def feed_step(self, x: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState, Tensor | None]:
        """One step from the embedded previous token ``x`` (B, E): the attentional vector
        ``(B, A)`` (before the output layer), the next state and the attention weights ``(B, S)``."""
        if self.input_feeding:
            x = torch.cat([x, state.feed], dim=-1)  # (B, E + A)
        h, rnn_state = self.rnn.step(x, state.rnn)  # (B, H)
        feed, weights = self.attend(h, state)  # (B, A)
        return feed, replace(state, rnn=rnn_state, feed=feed), weights

    def logits_step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState, Tensor | None]:
        """Logits ``(B, V)``, the next state and the attention weights ``(B, S)`` for one step."""
        feed, state, weights = self.feed_step(self.embed(tokens), state)  # (B, A)
        return self.out(self.dropout(feed)), state, weights  # (B, V)

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """``decoding.Decoder.step``: tokens ``(B,)`` -> log-probs ``(B, V)``, the next state."""
        logits, state, _ = self.logits_step(tokens, state)
        return logits.log_softmax(dim=-1), state

    def reorder(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """Keep / repeat batch entries by ``index`` ``(B',)``: recurrent state, encoder outputs, masks."""
        rnn: RecState = state.rnn.index_select(1, index) if isinstance(state.rnn, Tensor) else \
            (state.rnn[0].index_select(1, index), state.rnn[1].index_select(1, index))
        return Seq2SeqState(rnn=rnn, feed=state.feed.index_select(0, index),
                            memory=state.memory.index_select(0, index), keys=state.keys.index_select(0, index),
                            mask=state.mask.index_select(0, index))

    def batch_size(self, state: Seq2SeqState) -> int:
        """B, read by the decoding strategies."""
        return int(state.memory.shape[0])


class Seq2Seq(Model):
    """Encoder-decoder with attention, for source and target vocabularies of their own.

    Args: the fields of :class:`Seq2SeqConfig`.

    Shape:
        batch.x ``(B, S)`` source ids (or ``(B, S, F)`` frames), batch.lengths ``(B,)``;
        batch.y ``(B, L)`` target ids WITHOUT bos, ending with eos, batch.y_lengths ``(B,)`` counting
        eos. ``forward`` -> ``ModelOutput(loss, logits (B, L, V), extras={"attention": (B, L, S)})``
        (no ``"attention"`` key when ``attention="none"``); ``generate`` / ``predict`` ->
        :class:`~rnnkit.decoding.Generated`.

    Example:
        >>> model = Seq2Seq(src_vocab_size=40, tgt_vocab_size=50, attention="general")
        >>> loss = model(batch).loss
        >>> out = model.generate(batch, method="beam", beam_size=5)
    """

    config_class = Seq2SeqConfig

    def __init__(self, *, tgt_vocab_size: int, src_vocab_size: int | None = None, num_features: int | None = None,
                 embed_dim: int = 64, cell: str = "lstm", hidden_size: int = 128,
                 encoder_hidden_size: int | None = None, num_layers: int = 1, decoder_num_layers: int | None = None,
                 bidirectional: bool = True, attention: str = "additive", input_feeding: bool = True,
                 dropout: float = 0.0, teacher_forcing: float = 1.0, tie_embeddings: bool = False,
                 label_smoothing: float = 0.0, decode: str = "greedy", beam_size: int = 4,
                 length_penalty: float = 0.0, max_length: int = 64,
                 bos_id: int = Vocab.bos_id, eos_id: int = Vocab.eos_id,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        c = self.config = Seq2SeqConfig(
            tgt_vocab_size=tgt_vocab_size, src_vocab_size=src_vocab_size, num_features=num_features,
            embed_dim=embed_dim, cell=cell, hidden_size=hidden_size, encoder_hidden_size=encoder_hidden_size,
            num_layers=num_layers, decoder_num_layers=decoder_num_layers, bidirectional=bidirectional,
            attention=attention, input_feeding=input_feeding, dropout=dropout, teacher_forcing=teacher_forcing,
            tie_embeddings=tie_embeddings, label_smoothing=label_smoothing, decode=decode, beam_size=beam_size,
            length_penalty=length_penalty, max_length=max_length, bos_id=bos_id, eos_id=eos_id)
        c = self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                                 layer_norm)
        if c.attention not in ("none", *KINDS):
            raise ValueError(f"attention must be 'none', 'additive', 'dot' or 'general', got {c.attention!r}")
        if not 0.0 <= c.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing is a probability in [0, 1], got {c.teacher_forcing}")
        if not 0.0 <= c.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {c.label_smoothing}")
        if c.decode not in ("greedy", "beam"):
            raise ValueError(f"decode must be 'greedy' or 'beam', got {c.decode!r}")
        if c.tgt_vocab_size <= max(c.bos_id, c.eos_id):
            raise ValueError(f"tgt_vocab_size {c.tgt_vocab_size} must include bos ({c.bos_id}) and eos ({c.eos_id})")
        enc_hidden = c.encoder_hidden_size or c.hidden_size
        D = 2 if c.bidirectional else 1
        if c.attention == "dot" and D * enc_hidden != c.hidden_size:
            raise ValueError(f"dot attention needs encoder outputs of the decoder's size: {D} x {enc_hidden} != "
                             f"{c.hidden_size}; use attention='general' or set encoder_hidden_size")
        embed = c.embed_dim if c.src_vocab_size is not None else None
        self.source = InputEncoder(vocab_size=c.src_vocab_size, num_features=c.num_features, embed_dim=embed,
                                   dropout=c.dropout)
        self.encoder = Recurrent(c.cell, self.source.output_size, enc_hidden, num_layers=c.num_layers,
                                 bidirectional=c.bidirectional, dropout=c.dropout, **recurrent_options(c))
        self.decoder = Seq2SeqDecoder(c, D * enc_hidden)
        dec_layers = c.decoder_num_layers or c.num_layers
        n_state = 2 if c.cell == "lstm" else 1  # (h, c) for LSTM; h alone for the others
        self.bridge = nn.ModuleList(nn.Linear(D * enc_hidden, dec_layers * c.hidden_size) for _ in range(n_state))

    # --- encoder side ---------------------------------------------------------------------------

    def init_state(self, batch: Batch) -> Seq2SeqState:
        """Encode the source and build the decoder's initial :class:`Seq2SeqState`."""
        if batch.x is None:
            raise ValueError("Seq2Seq needs batch.x: source token ids (B, S) or frames (B, S, F)")
        # frames: NaN past a length is padding; at a valid step an error (attention spread it to every row)
        x = checked_series(batch.x, batch.lengths)
        memory, final = self.encoder(self.source(x), batch.lengths)  # (B, S, D*He)
        mask = batch.mask()
        B, D = memory.shape[0], 2 if self.config.bidirectional else 1
        parts = final if isinstance(final, tuple) else (final,)
        if len(parts) != len(self.bridge):
            raise ValueError(f"the encoder state has {len(parts)} tensors, the bridge expects {len(self.bridge)}")
        rnn = []
        for s, lin in zip(parts, self.bridge):
            top = s[-D:].transpose(0, 1).reshape(B, -1)  # (B, D*He): both directions of the top layer
            rnn.append(torch.tanh(lin(top)).view(B, -1, self.config.hidden_size).transpose(0, 1).contiguous())
        rnn_state: RecState = (rnn[0], rnn[1]) if len(rnn) == 2 else rnn[0]  # (L_dec, B, H)
        feed = memory.new_zeros(B, self.decoder.feed_size)
        att = self.decoder.attention
        keys = att.prepare(memory) if att is not None else memory
        return Seq2SeqState(rnn=rnn_state, feed=feed, memory=memory, keys=keys, mask=mask)

    # --- training -------------------------------------------------------------------------------

    def _targets(self, batch: Batch) -> Tensor:
        y = batch.y
        assert y is not None
        if batch.y_lengths is None:
            raise ValueError("Seq2Seq needs batch.y_lengths with batch.y (targets end with eos, are padded with 0); "
                             "build batches with rnnkit.data.collate")
        if y.dim() != 2 or y.is_floating_point():
            raise ValueError(f"Seq2Seq targets must be int64 ids (B, L), got {y.dtype} {tuple(y.shape)}")
        check_target_lengths(batch, y)
        V = self.config.tgt_vocab_size
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= V):
            raise ValueError(f"target id out of range [0, {V}): min {int(y.min())}, max {int(y.max())}; "
                             "was y encoded with another vocabulary?")
        return y

    def forward(self, batch: Batch) -> ModelOutput:
        """Teacher-forced logits for every target step, the masked loss and the attention weights.

        Without targets the decoder runs free (each step fed its own arg-max among the tokens
        ``generate`` may choose, so never pad or bos, up to ``config.max_length`` steps or until every
        sequence produced eos) and ``loss`` is None.
        """
        if batch.y is None:
            logits, weights = self._free_run(self.init_state(batch))
            return ModelOutput(loss=None, logits=logits, extras={} if weights is None else {"attention": weights})
        y = self._targets(batch)
        state = self.init_state(batch)
        bos = torch.full_like(y[:, :1], self.config.bos_id)
        inputs = torch.cat([bos, y[:, :-1]], dim=1)  # (B, L): bos, then the targets shifted right
        sampling = self.training and self.config.teacher_forcing < 1.0
        if not self.decoder.input_feeding and not sampling:
            logits, weights = self._decode_parallel(inputs, state)
        else:
            logits, weights = self._decode_loop(inputs, state, sampling)
        mask = batch.y_mask()
        smoothing = self.config.label_smoothing if self.training else 0.0
        per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none", label_smoothing=smoothing)  # (B, L)
        loss = (per_step * mask).sum() / mask.sum().clamp_min(1)
        extras = {} if weights is None else {"attention": weights}
        return ModelOutput(loss=loss, logits=logits, extras=extras)

    def _decode_loop(self, inputs: Tensor, state: Seq2SeqState, sampling: bool) -> tuple[Tensor, Tensor | None]:
        if not sampling:  # teacher forcing: embed every input and apply the output layer once, outside the loop
            dec = self.decoder
            feeds: list[Tensor] = []
            weight_steps: list[Tensor] = []
            for x in dec.embed(inputs).unbind(1):  # (B, E) per step
                feed, state, weights = dec.feed_step(x, state)
                feeds.append(feed)
                if weights is not None:
                    weight_steps.append(weights)
            stacked = torch.stack(weight_steps, dim=1) if weight_steps else None  # (B, L, S)
            return dec.out(dec.dropout(torch.stack(feeds, dim=1))), stacked  # (B, L, V)
        logits_steps: list[Tensor] = []
        weight_steps = []
        for t, tok in enumerate(inputs.unbind(1)):
            if sampling and t > 0:  # scheduled sampling: feed the model's own previous guess instead
                own = logits_steps[-1].detach().argmax(dim=-1)
                use_own = torch.rand(tok.shape, device=tok.device) >= self.config.teacher_forcing
                tok = torch.where(use_own, own, tok)
            logits, state, weights = self.decoder.logits_step(tok, state)
            logits_steps.append(logits)
            if weights is not None:
                weight_steps.append(weights)
        stacked = torch.stack(weight_steps, dim=1) if weight_steps else None  # (B, L, S)
        return torch.stack(logits_steps, dim=1), stacked

    def _free_run(self, state: Seq2SeqState) -> tuple[Tensor, Tensor | None]:
        c = self.config
        ban = TokenBan(output_ban(bos=c.bos_id, eos=c.eos_id))  # as greedy generation chooses
        tok = torch.full_like(state.mask[:, 0], c.bos_id, dtype=torch.long)  # (B,)
        ended = torch.zeros_like(tok, dtype=torch.bool)
        logits_steps: list[Tensor] = []
        weight_steps: list[Tensor] = []
        for _ in range(c.max_length):
            logits, state, weights = self.decoder.logits_step(tok, state)
            logits_steps.append(logits)
            if weights is not None:
                weight_steps.append(weights)
            tok = ban(logits).argmax(dim=-1)
            ended = ended | (tok == c.eos_id)
            if bool(ended.all()):
                break
        stacked = torch.stack(weight_steps, dim=1) if weight_steps else None  # (B, L, S)
        return torch.stack(logits_steps, dim=1), stacked

    def _decode_parallel(self, inputs: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor | None]:
        """Without input feeding every step's input is known: run the decoder over all of them."""
        dec = self.decoder
        h = dec.rnn(dec.embed(inputs), state=state.rnn).outputs  # (B, L, H)
        feed, weights = dec.attend(h, state)  # (B, L, A), (B, L, S)
        return dec.out(dec.dropout(feed)), weights

    # --- generation -----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, batch: Batch, method: Literal["greedy", "beam", "sample"] = "greedy", *,
                 ban_unk: bool = False, **kwargs: Any) -> Generated:
        """Decode target sequences for the sources in ``batch``.

        Args:
            method: ``"greedy"``, ``"beam"`` or ``"sample"``; ``kwargs`` go to the strategy
                (``max_length`` defaults to the config's; beam: ``beam_size``, ``n_best``,
                ``length_penalty``, ...; sample: ``temperature``, ``top_k``, ``top_p``, ``generator``;
                any: ``banned``, more token ids never generated).
            ban_unk: never generate ``<unk>`` (OpenNMT's ``-ban_unk_token``). Off by default: in
                translation an ``<unk>`` can be the honest output for a word the vocabulary lacks.

        ``<pad>`` and ``bos`` are never generated (decoding/ban.py, ``output_ban``): pad is what
        fills the tokens past each length and bos only starts a sequence, so neither is an output.

        Returns: :class:`~rnnkit.decoding.Generated` (tokens without bos, lengths counting eos).
        It runs in evaluation mode without gradients and leaves the model in the mode it found.
        """
        if method not in ("greedy", "beam", "sample"):
            raise ValueError(f"method must be 'greedy', 'beam' or 'sample', got {method!r}")
        c = self.config
        kwargs.setdefault("max_length", c.max_length)
        kwargs["banned"] = config_ban(c, ban_unk=ban_unk, banned=kwargs.get("banned"))
        with self.decoding():
            state = self.init_state(batch)
            if method == "greedy":
                return greedy(self.decoder, state, bos=c.bos_id, eos=c.eos_id, **kwargs)
            if method == "beam":
                kwargs.setdefault("beam_size", c.beam_size)
                kwargs.setdefault("length_penalty", c.length_penalty)
                return beam_search(self.decoder, state, bos=c.bos_id, eos=c.eos_id, **kwargs)
            return sample(self.decoder, state, bos=c.bos_id, eos=c.eos_id, **kwargs)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Generated:
        """``generate`` with the configured strategy (``config.decode``)."""
        return self.generate(batch, method="beam" if self.config.decode == "beam" else "greedy")

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> Seq2Seq:
        """Size the model from ``dataset.info``: source vocabulary (or feature count), target vocabulary."""
        info = dataset.info
        if info.output_vocab is None:
            raise ValueError(f"dataset {info.name!r} has no output_vocab; Seq2Seq needs the target vocabulary")
        sizes: dict[str, Any] = {"tgt_vocab_size": len(info.output_vocab)}
        if info.input_kind == "tokens":
            if info.input_vocab is None:
                raise ValueError(f"dataset {info.name!r} has token inputs but no input_vocab")
            sizes["src_vocab_size"] = len(info.input_vocab)
        elif info.num_features:
            sizes["num_features"] = info.num_features
        else:
            raise ValueError(f"Seq2Seq reads token ids or frames, and dataset {info.name!r} gives neither "
                             f"(input_kind={info.input_kind!r})")
        if "max_length" not in hyper:
            sizes["max_length"] = decoding_cap(dataset, Seq2SeqConfig.max_length)
        return cls(**{**sizes, **hyper})
