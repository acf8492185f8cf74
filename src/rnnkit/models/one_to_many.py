"""one-to-many: ``ConditionedGenerator`` (a condition -> a sequence, e.g. image captioning) and
``LanguageModel`` (the unconditioned case that continues a prompt).

Both are decoders for :mod:`rnnkit.decoding`: ``step(tokens, state) -> (log_probs, state)`` and
``reorder(state, index)``, so ``greedy``, ``sample`` and ``beam_search`` run on them unchanged. The
decoder they share, its state and its fast greedy plans live in :mod:`rnnkit.models.one_to_many_decoder`;
this module holds the two models, their configs and how each makes its first state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch, check_lengths, check_target_lengths, lengths_to_mask
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import Generated
from rnnkit.layers.conv_encoder import ConvEncoder
from rnnkit.models.base import Model, ModelOutput, checked_finite, decoding_cap, with_recurrent_options
from rnnkit.models.one_to_many_decoder import _METHODS as _METHODS
from rnnkit.models.one_to_many_decoder import DecoderState as DecoderState
from rnnkit.models.one_to_many_decoder import RNNState as RNNState
from rnnkit.models.one_to_many_decoder import _select as _select
from rnnkit.models.one_to_many_decoder import _token_targets_loss as _token_targets_loss
from rnnkit.models.one_to_many_decoder import _TokenDecoder as _TokenDecoder

CONDITIONING = ("init", "input", "both")


@dataclass(frozen=True)
class ConditionedGeneratorConfig:
    """``cond_shape``: ``(E,)`` for a vector condition or ``(C, H, W)`` for an image (read by a
    :class:`ConvEncoder`); ``conditioning``: ``"init"`` (sets the initial state), ``"input"`` (fed
    at every step) or ``"both"``; ``cond_size``: size of the encoded condition. ``cond_pool``: how
    the CNN summarises an image: ``"flatten"`` keeps where each feature is (a caption of digits
    read left to right needs it), ``"mean"`` averages over positions (any image size).
    ``cond_shift`` / ``cond_scale``: training-time augmentation of an image condition (random shift
    by up to that many pixels / intensity scaling by up to that share; see :class:`ConvEncoder`),
    off in eval mode and off by default. ``cond_dropout``: dropout on the CNN's final features
    (before its linear layer)."""

    vocab_size: int
    cond_shape: tuple[int, ...]
    cell: str = "lstm"
    conditioning: str = "init"
    cond_size: int = 64
    embed_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    conv_channels: tuple[int, ...] = (16, 32)
    tie_weights: bool = False
    bos_id: int = Vocab.bos_id
    eos_id: int = Vocab.eos_id
    max_length: int = 30
    cond_pool: str = "flatten"
    cond_shift: int = 0
    cond_scale: float = 0.0
    cond_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


class ConditionedGenerator(_TokenDecoder, Model):
    """Generate a token sequence from one condition (a vector, or an image through a small CNN).

    Args: the fields of :class:`ConditionedGeneratorConfig`.

    Shape: ``batch.cond`` ``(B, *cond_shape)`` float; ``batch.y`` ``(B, L)`` token ids without bos
    and ending with eos, ``batch.y_lengths`` ``(B,)``. Teacher forcing feeds ``[bos] + y[:-1]``.
    Returns ``ModelOutput(loss, logits (B, L, V))``.

    Example:
        >>> gen = ConditionedGenerator(vocab_size=10, cond_shape=(5,))
        >>> gen.generate(torch.randn(2, 5), max_length=6).tokens.shape[:2]
        torch.Size([2, 1])
    """

    config_class = ConditionedGeneratorConfig

    def __init__(self, *, vocab_size: int, cond_shape: tuple[int, ...], cell: str = "lstm",
                 conditioning: str = "init", cond_size: int = 64, embed_dim: int = 32, hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, conv_channels: tuple[int, ...] = (16, 32),
                 tie_weights: bool = False, bos_id: int = Vocab.bos_id, eos_id: int = Vocab.eos_id,
                 max_length: int = 30, cond_pool: str = "flatten", cond_shift: int = 0,
                 cond_scale: float = 0.0, cond_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        cond_shape = tuple(cond_shape)
        if cond_pool not in ("flatten", "mean"):
            raise ValueError(f"cond_pool must be 'flatten' or 'mean', got {cond_pool!r}")
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {conditioning!r}")
        if len(cond_shape) not in (1, 3):
            raise ValueError(f"cond_shape must be (E,) for vectors or (C, H, W) for images, got {cond_shape}")
        if (cond_shift or cond_scale or cond_dropout) and len(cond_shape) != 3:
            raise ValueError("cond_shift, cond_scale and cond_dropout apply to image conditions; cond_shape "
                             f"{cond_shape} is a vector")
        self.config = ConditionedGeneratorConfig(
            vocab_size, cond_shape, cell, conditioning, cond_size, embed_dim, hidden_size, num_layers,
            dropout, tuple(conv_channels), tie_weights, bos_id, eos_id, max_length, cond_pool, int(cond_shift),
            float(cond_scale), float(cond_dropout))
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        self.cond_encoder: nn.Module = (
            nn.Linear(cond_shape[0], cond_size) if len(cond_shape) == 1
            else ConvEncoder(cond_shape[0], cond_size, channels=conv_channels,
                             image_size=cond_shape[1:] if cond_pool == "flatten" else None,
                             shift=cond_shift, scale=cond_scale, dropout=cond_dropout))
        feed = conditioning in ("input", "both")
        self._build(vocab_size, cell, embed_dim, cond_size if feed else 0, hidden_size, num_layers, dropout,
                    tie_weights)
        self.num_states = 2 if cell == "lstm" else 1
        self.init_proj = (nn.Linear(cond_size, num_layers * hidden_size * self.num_states)
                          if conditioning in ("init", "both") else None)

    def init_state(self, cond: Tensor) -> DecoderState:
        """Encode the condition ``(B, *cond_shape)`` into the decoder's starting state."""
        shape = self.config.cond_shape
        if cond is None or not cond.is_floating_point() or tuple(cond.shape[1:]) != shape:
            got = None if cond is None else (tuple(cond.shape), cond.dtype)
            raise ValueError(f"ConditionedGenerator expects cond of shape (B, {', '.join(map(str, shape))}) "
                             f"float, got {got}")
        dtype = self.head.weight.dtype
        if cond.dtype != dtype:
            raise ValueError(f"cond is {cond.dtype} but the model's parameters are {dtype}; convert one of them "
                             f"(cond.to({dtype}) or model.to(cond.dtype))")
        c = torch.tanh(self.cond_encoder(checked_finite(cond, "the condition (cond)")))  # (B, cond_size)
        rnn: RNNState | None = None
        if self.init_proj is not None:
            B, L, H = c.shape[0], self.config.num_layers, self.config.hidden_size
            parts = self.init_proj(c).view(B, self.num_states, L, H).permute(1, 2, 0, 3)  # (S, L, B, H)
            h = torch.tanh(parts[0]).contiguous()
            rnn = (h, parts[1].contiguous()) if self.num_states == 2 else h
        return DecoderState(rnn, c if self.config.conditioning != "init" else None)

    def forward(self, batch: Batch) -> ModelOutput:
        if batch.cond is None or batch.y is None:
            raise ValueError("ConditionedGenerator.forward needs batch.cond and batch.y (token ids ending with "
                             "eos, with y_lengths); to generate without targets call generate(cond)")
        y = batch.y
        if y.is_floating_point() or y.dim() != 2:
            raise ValueError(f"batch.y must be (B, L) int64 token ids, got {tuple(y.shape)} {y.dtype}")
        if batch.cond.shape[0] != y.shape[0]:
            raise ValueError(f"batch.cond holds {batch.cond.shape[0]} conditions but batch.y {y.shape[0]} target "
                             "sequences; give one condition per target")
        check_target_lengths(batch, y)
        state = self.init_state(batch.cond)
        bos = torch.full_like(y[:, :1], self.config.bos_id)
        inputs = torch.cat([bos, y[:, :-1]], dim=1)  # (B, L)
        outputs = self.rnn(self._inputs(inputs, state.context), batch.y_lengths, state.rnn).outputs
        logits = self.head(self.drop(outputs))  # (B, L, V)
        mask = batch.y_mask() if batch.y_lengths is not None else torch.ones_like(y, dtype=torch.bool)
        return ModelOutput(loss=_token_targets_loss(logits, y, mask), logits=logits)

    def generate(self, cond: Tensor, *, method: str = "greedy", max_length: int | None = None,
                 ban_unk: bool = False, **kwargs: Any) -> Generated:
        """Generate from conditions ``(B, *cond_shape)`` with ``greedy``, ``sample`` or ``beam``;
        extra keywords go to the decoding function (``temperature``, ``beam_size``, ``n_best``,
        ``banned`` ...). ``ban_unk``: never generate ``<unk>`` (off by default, as OpenNMT's
        ``-ban_unk_token``). ``<pad>`` and ``bos`` are never generated: neither is an output (pad
        fills the tokens past each length, bos only starts a sequence)."""
        with self.decoding():  # the condition's encoder too: its dropout and augmentation stay off
            state = self.init_state(cond)
        return self._decode(state, method, self.config.max_length if max_length is None else max_length,
                            ban_unk, **kwargs)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Generated:
        if batch.cond is None:
            raise ValueError("ConditionedGenerator.predict needs batch.cond")
        return self.generate(batch.cond)

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> ConditionedGenerator:
        """Reads ``info.output_vocab`` and ``info.cond_shape`` (or the first training item's cond)."""
        info = dataset.info
        if "vocab_size" not in hyper:
            if info.output_vocab is None:
                raise ValueError(f"dataset {info.name!r} has no output_vocab; pass vocab_size=")
            hyper["vocab_size"] = len(info.output_vocab)
        if "cond_shape" not in hyper:
            first = dataset.train[0].cond if len(dataset.train) else None
            shape = info.cond_shape or (None if first is None else tuple(first.shape))
            if shape is None:
                raise ValueError(f"dataset {info.name!r} gives no cond_shape; pass cond_shape=")
            hyper["cond_shape"] = tuple(shape)
        if "max_length" not in hyper:
            hyper["max_length"] = decoding_cap(dataset, ConditionedGeneratorConfig.max_length)
        return cls(**hyper)


@dataclass(frozen=True)
class LanguageModelConfig:
    vocab_size: int
    cell: str = "lstm"
    embed_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    tie_weights: bool = False
    bos_id: int = Vocab.bos_id
    eos_id: int = Vocab.eos_id
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


def prompt_tensor(prompt_ids: Tensor | Sequence[int], device: torch.device | str | None = None) -> Tensor:
    """Prompts ``(P,)`` or ``(B, P)`` as a ``(B, P)`` int64 tensor on ``device``, checked: integer
    token ids, at least one per prompt."""
    prompt = torch.as_tensor(prompt_ids, device=device)
    if prompt.numel() and (prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool):
        raise ValueError(f"prompt_ids must be integer token ids, got {prompt.dtype}")
    prompt = prompt.long()
    if prompt.dim() == 1:
        prompt = prompt.unsqueeze(0)
    if prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt_ids must be (P,) or (B, P) with P >= 1, got {tuple(prompt.shape)}")
    return prompt


def prompt_lengths_tensor(lengths: Tensor | Sequence[int] | np.ndarray | None,
                          device: torch.device | str | None = None) -> Tensor | None:
    """``prompt_lengths`` as ``Recurrent.forward`` takes lengths: a tensor as it is, a list, tuple or
    numpy array of integers as an int64 tensor on ``device`` (where the prompts are). Whether there
    is one per prompt and each fits is ``Recurrent``'s check; here only that they are whole numbers."""
    if lengths is None or isinstance(lengths, Tensor):
        return lengths
    if not isinstance(lengths, list | tuple | np.ndarray):
        raise ValueError(f"prompt_lengths must be a tensor, list or array of token counts, one per prompt, got a "
                         f"{type(lengths).__name__}")
    values = np.asarray(lengths)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"prompt_lengths must be whole numbers of tokens, one per prompt, got {lengths!r}")
    return torch.as_tensor(values.astype(np.int64), device=device)


class LanguageModel(_TokenDecoder, Model):
    """A recurrent language model (char- or token-level) that continues a prompt.

    Batch: ``x`` token ids ``(B, T)`` with ``lengths``; ``y`` the next tokens ``(B, T)`` (aligned
    with ``x``). When ``y`` is None the shift is done here: inputs ``x[:, :-1]``, targets ``x[:, 1:]``.
    Returns ``ModelOutput(loss, logits (B, T, V))`` (``T - 1`` when shifted here).

    Example:
        >>> lm = LanguageModel(vocab_size=20)
        >>> out = lm.generate(torch.tensor([4, 5, 6]), max_length=10)
        >>> out.tokens.shape[:2]
        torch.Size([1, 1])
    """

    config_class = LanguageModelConfig

    def __init__(self, *, vocab_size: int, cell: str = "lstm", embed_dim: int = 64, hidden_size: int = 128,
                 num_layers: int = 1, dropout: float = 0.0, tie_weights: bool = False,
                 bos_id: int = Vocab.bos_id, eos_id: int = Vocab.eos_id,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.config = LanguageModelConfig(vocab_size, cell, embed_dim, hidden_size, num_layers, dropout,
                                          tie_weights, bos_id, eos_id)
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        self._build(vocab_size, cell, embed_dim, 0, hidden_size, num_layers, dropout, tie_weights)

    def _inputs_targets(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = batch.x
        if x is None or x.is_floating_point() or x.dtype == torch.bool or x.dim() != 2:
            got = None if x is None else (tuple(x.shape), x.dtype)
            raise ValueError(f"LanguageModel reads token ids x (B, T) int64, got {got}")
        if x.numel() == 0:
            raise ValueError(f"LanguageModel needs at least one sequence of at least one token, got x {tuple(x.shape)}")
        lengths = batch.lengths if batch.lengths is not None else torch.full_like(x[:, 0], x.shape[1])
        check_lengths(lengths, x.shape[0], x.shape[1], name="batch.lengths", of="x's time dimension",
                      per=f"one length per sequence of x {tuple(x.shape)}")
        if batch.y is not None:
            if batch.y.shape != x.shape:
                raise ValueError(f"batch.y (next tokens) must have the shape of x {tuple(x.shape)}, "
                                 f"got {tuple(batch.y.shape)}; or leave y None to shift x here")
            return x, batch.y, lengths, lengths
        if x.shape[1] < 2:
            raise ValueError("a language model needs sequences of >= 2 tokens when y is derived from x")
        return x[:, :-1], x[:, 1:], (lengths - 1).clamp(min=1), lengths - 1

    def forward(self, batch: Batch) -> ModelOutput:
        inputs, targets, run_lengths, target_lengths = self._inputs_targets(batch)
        outputs = self.rnn(self._inputs(inputs, None), run_lengths).outputs  # (B, T, H)
        logits = self.head(self.drop(outputs))  # (B, T, V)
        mask = lengths_to_mask(target_lengths, targets.shape[1])
        return ModelOutput(loss=_token_targets_loss(logits, targets, mask), logits=logits)

    @torch.no_grad()
    def perplexity(self, batch: Batch) -> float:
        """``exp`` of the mean negative log-likelihood per valid target token (evaluated in eval mode)."""
        was_training = self.training
        self.eval()
        try:
            out = self.forward(batch)
        finally:
            self.train(was_training)
        assert out.loss is not None
        return float(out.loss.exp())

    def prompt_state(self, prompt_ids: Tensor,
                     prompt_lengths: Tensor | Sequence[int] | np.ndarray | None = None) -> DecoderState:
        """Run prompts ``(B, P)`` through the network; the state holds their next-token log-probs.
        ``prompt_lengths``: ``(B,)`` tokens per prompt (a tensor, or a list or array of ints)."""
        lengths = prompt_lengths_tensor(prompt_lengths, prompt_ids.device)
        outputs, rnn = self.rnn(self._inputs(prompt_ids, None), lengths)
        last = (lengths.to(outputs.device) - 1 if lengths is not None
                else torch.full_like(prompt_ids[:, 0], prompt_ids.shape[1] - 1))
        at_last = outputs.gather(1, last.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])).squeeze(1)
        return DecoderState(rnn, None, self.head(at_last).log_softmax(-1))

    def generate(self, prompt_ids: Tensor | Sequence[int], max_length: int = 50, method: str = "greedy", *,
                 prompt_lengths: Tensor | Sequence[int] | np.ndarray | None = None, ban_unk: bool = False,
                 **kwargs: Any) -> Generated:
        """Continue prompts: ``(P,)`` or ``(B, P)`` token ids (right-padded, with ``prompt_lengths``, a
        tensor, list or array of ints, as ``Recurrent.forward`` takes lengths).

        The prompt runs through ``Recurrent.forward`` and generation carries its state on with
        ``step``; the result holds only the continuation (up to ``max_length`` tokens, eos included).
        ``ban_unk``: never generate ``<unk>`` (off by default, as OpenNMT's ``-ban_unk_token``);
        ``<pad>`` and ``bos`` are never generated (neither is an output: pad fills the tokens past
        each length, bos only starts a sequence). ``kwargs`` go to the strategy (``banned`` too).
        """
        prompt = prompt_tensor(prompt_ids, self.device)
        with self.decoding():
            state = self.prompt_state(prompt, prompt_lengths)
        return self._decode(state, method, max_length, ban_unk, **kwargs)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Generated:
        """Continue each sequence of ``batch.x`` (its valid steps are the prompt)."""
        if batch.x is None:
            raise ValueError("LanguageModel.predict needs batch.x as the prompt")
        return self.generate(batch.x, prompt_lengths=batch.lengths)

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> LanguageModel:
        """Reads the vocabulary size from ``info.output_vocab`` or ``info.input_vocab``.

        The data set must be text to continue: task ``"generation"`` with token inputs ``x`` (a
        ``text:`` file, see :mod:`rnnkit.data.formats.text`). Any other is refused: a tagger's or a
        classifier's ``y`` would be read as next tokens, and a conditioned set has no ``x``."""
        info = dataset.info
        if info.task != "generation" or info.input_kind != "tokens":
            other = {"one-to-many": "ConditionedGenerator (its sequences y follow a condition)",
                     "many-to-one": "SequenceClassifier", "synced": "SequenceTagger", "many-to-many": "Seq2Seq",
                     "forecasting": "Forecaster", "one-to-one": "FeedForward"}.get(info.shape, "another model")
            raise ValueError(f"a LanguageModel learns the next token of token sequences x: a data set of task "
                             f"'generation' with token inputs, such as a 'text:FILE' (rnnkit.datasets.load"
                             f"('text:corpus.txt')); {info.name!r} is {info.shape} ({info.task}; inputs: "
                             f"{info.input_kind}): use {other}")
        if "vocab_size" not in hyper:
            vocab = info.output_vocab or info.input_vocab
            if vocab is None:
                raise ValueError(f"dataset {info.name!r} has no vocabulary; pass vocab_size=")
            hyper["vocab_size"] = len(vocab)
        return cls(**hyper)
