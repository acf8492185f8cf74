"""Synchronous many-to-many: one label per input step (tagging, frame classification, segmentation).

Encoder + head + loss: InputEncoder -> Recurrent (bidirectional by default) -> Linear -> per-step
cross-entropy, or a linear-chain CRF over the per-step scores. Video frames (``frame_shape``) go
through a small CNN shared by every frame first: a recurrent layer reading raw pixels must learn a
digit anew at every position, while convolutions see it wherever it has moved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.layers.conv_encoder import ConvEncoder
from rnnkit.layers.crf import CRF, scheme_constraints
from rnnkit.layers.inputs import InputEncoder
from rnnkit.layers.ngrams import optional_bigrams, suggested_buckets
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.base import Model, ModelOutput, checked_series, recurrent_options, with_recurrent_options


def tag_scheme_of(tags: Sequence[str]) -> str | None:
    """``"BMES"`` for the four word-segmentation tags, ``"BIO"`` for ``O`` / ``B-X`` / ``I-X`` tags (at
    least one ``B-``), else None: the scheme whose transitions a CRF over ``tags`` can constrain."""
    names = set(tags)
    if names == {"B", "M", "E", "S"}:
        return "BMES"
    if names and any(t.startswith("B-") for t in names) and all(t == "O" or t[:2] in ("B-", "I-") for t in names):
        return "BIO"
    return None


def follows_scheme(examples: Sequence[Example], tags: Sequence[str], scheme: str) -> bool:
    """Whether every tag sequence of ``examples`` (``y``, tag ids) keeps ``scheme``'s order: its
    first tag, each transition and its last tag allowed."""
    c = scheme_constraints(list(tags), scheme)  # type: ignore[arg-type]
    K = len(tags)
    for e in examples:
        y = e.y
        if y is None or y.dim() != 1 or not len(y):
            continue
        y = y.long()
        if int(y.min()) < 0 or int(y.max()) >= K:
            return False
        if (c.start is not None and not bool(c.start[y[0]])) or (c.end is not None and not bool(c.end[y[-1]])):
            return False
        if len(y) > 1 and not bool(c.transitions[y[:-1], y[1:]].all()):
            return False
    return True


@dataclass(frozen=True)
class SequenceTaggerConfig:
    """Everything that rebuilds a :class:`SequenceTagger`.

    Exactly one of ``vocab_size`` (token-id inputs) or ``num_features`` (float frames) is set.
    ``embed_dim``: token embedding size (default 64), or a projection of the features (default:
    the raw features go straight into the recurrent layer). ``tag_scheme`` ("BIO" / "BMES") with
    ``tags`` adds CRF transition constraints. ``frame_shape`` ``(C, H, W)`` (with ``num_features``
    = C*H*W) reads every step as an image through a :class:`ConvEncoder` (output ``embed_dim``,
    default 64, ``conv_channels`` per block) instead of a linear projection.
    ``bigram_buckets`` > 0 (token inputs): each step also reads the embeddings (``bigram_dim`` each)
    of its left and right bigram, hashed into that many rows (:class:`~rnnkit.layers.ngrams.HashedBigrams`):
    the classic feature of Chinese word segmentation. ``word_dropout`` (token inputs): while training,
    each token is read as ``<unk>`` with this probability, so the embedding of unknown tokens is
    trained on contexts like those where test's unseen words occur (Kiperwasser & Goldberg 2016).
    """

    num_tags: int
    vocab_size: int | None = None
    num_features: int | None = None
    embed_dim: int | None = None
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    crf: bool = False
    tag_scheme: str | None = None
    tags: tuple[str, ...] | None = None
    frame_shape: tuple[int, int, int] | None = None
    conv_channels: tuple[int, ...] = (16, 32)
    bigram_buckets: int = 0
    bigram_dim: int = 32
    word_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


class FrameEncoder(nn.Module):
    """Flattened image frames ``(B, T, C*H*W)`` -> ``(B, T, E)`` through one :class:`ConvEncoder`
    shared by every frame; with ``mask`` the padding frames skip it."""

    def __init__(self, frame_shape: tuple[int, int, int], output_size: int, *, channels: Sequence[int] = (16, 32),
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.frame_shape, self.output_size = frame_shape, output_size
        self.conv = ConvEncoder(frame_shape[0], output_size, channels=channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``mask`` (B, T) True on valid frames: only those go through the CNN (padding frames would
        skew batch-norm statistics); the output is 0 on padding."""
        if not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != math.prod(self.frame_shape):
            raise ValueError(f"frames must be float (B, T, {math.prod(self.frame_shape)}) (C*H*W of "
                             f"{self.frame_shape}), got {x.dtype} {tuple(x.shape)}")
        B, T, _ = x.shape
        dense = mask is None or (torch.compiler.is_compiling() and not self.training)
        if dense:  # traced for export, x[mask]'s size is data-dependent; at eval batch norm uses its running stats
            h = self.conv(x.reshape(B * T, *self.frame_shape))  # (B*T, E)
            h = self.dropout(torch.relu(h)).view(B, T, -1)  # (B, T, E)
            return h if mask is None else h * mask.unsqueeze(-1)
        h = torch.relu(self.conv(x[mask].view(-1, *self.frame_shape)))  # (N valid, E)
        out = h.new_zeros(B, T, self.output_size)
        out[mask] = h
        return self.dropout(out)  # (B, T, E)


class SequenceTagger(Model):
    """One label per step, from token ids ``(B, T)`` or frames ``(B, T, F)``.

    Args: the fields of :class:`SequenceTaggerConfig`.

    Shape:
        batch.x ``(B, T)`` int64 or ``(B, T, F)`` float, batch.lengths ``(B,)``; batch.y ``(B, T)``
        tag ids (optional). ``forward`` -> ``ModelOutput(loss, logits (B, T, K))``;
        ``predict`` -> tag ids ``(B, T)``, 0 on padding (Viterbi when ``crf``).

    Example:
        >>> model = SequenceTagger(num_tags=5, vocab_size=100, crf=True)
        >>> out = model(batch)        # out.loss, out.logits
        >>> tags = model.predict(batch)
    """

    config_class = SequenceTaggerConfig

    def __init__(self, *, num_tags: int, vocab_size: int | None = None, num_features: int | None = None,
                 embed_dim: int | None = None, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.0, crf: bool = False,
                 tag_scheme: str | None = None, tags: tuple[str, ...] | list[str] | None = None,
                 frame_shape: Sequence[int] | None = None, conv_channels: Sequence[int] = (16, 32),
                 bigram_buckets: int = 0, bigram_dim: int = 32, word_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        tags = tuple(tags) if tags is not None else None
        frame = tuple(int(n) for n in frame_shape) if frame_shape is not None else None
        self.config = SequenceTaggerConfig(
            num_tags=num_tags, vocab_size=vocab_size, num_features=num_features, embed_dim=embed_dim,
            cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
            dropout=dropout, crf=crf, tag_scheme=tag_scheme, tags=tags,
            frame_shape=frame, conv_channels=tuple(int(c) for c in conv_channels),  # type: ignore[arg-type]
            bigram_buckets=bigram_buckets, bigram_dim=bigram_dim, word_dropout=float(word_dropout))
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        if tags is not None and len(tags) != num_tags:
            raise ValueError(f"tags has {len(tags)} names but num_tags is {num_tags}")
        if tag_scheme is not None and (not crf or tags is None):
            raise ValueError("tag_scheme constrains a CRF: pass crf=True and the tag names in tags=")
        if not 0.0 <= word_dropout < 1.0 or (word_dropout and vocab_size is None):
            raise ValueError(f"word_dropout must be in [0, 1) and needs token inputs (vocab_size), got "
                             f"word_dropout={word_dropout}, vocab_size={vocab_size}")
        if (vocab_size is not None or frame is not None) and embed_dim is None:
            embed_dim = 64
        self.encoder: nn.Module
        if frame is not None:
            if len(frame) != 3 or vocab_size is not None or num_features != frame[0] * frame[1] * frame[2]:
                raise ValueError(f"frame_shape (C, H, W) reads float frames of C*H*W features: pass num_features="
                                 f"C*H*W and no vocab_size, got frame_shape={frame}, num_features={num_features}")
            assert embed_dim is not None
            self.encoder = FrameEncoder(frame, embed_dim, channels=self.config.conv_channels, dropout=dropout)
        else:
            self.encoder = InputEncoder(num_features=num_features, vocab_size=vocab_size, embed_dim=embed_dim,
                                        dropout=dropout)
        self.bigrams = optional_bigrams(vocab_size, bigram_buckets, bigram_dim)
        input_size = self.encoder.output_size + (0 if self.bigrams is None else self.bigrams.output_size)
        self.rnn = Recurrent(cell, input_size, hidden_size, num_layers=num_layers,
                             bidirectional=bidirectional, dropout=dropout, **recurrent_options(self.config))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_tags)
        constraints = scheme_constraints(tags, tag_scheme) if tag_scheme and tags else None  # type: ignore[arg-type]
        self.crf = CRF(num_tags, constraints=constraints) if crf else None

    def emissions(self, batch: Batch) -> Tensor:
        """Per-step tag scores. Returns ``(B, T, K)``."""
        if batch.x is None:
            raise ValueError("SequenceTagger needs batch.x (token ids (B, T) or features (B, T, F))")
        x = checked_series(batch.x, batch.lengths)
        if isinstance(self.encoder, FrameEncoder):
            h = self.encoder(x, batch.mask())  # (B, T, E)
        else:
            if self.training and self.config.word_dropout > 0:
                unknown = torch.rand(x.shape, device=x.device) < self.config.word_dropout
                x = x.masked_fill(unknown & (x != Vocab.pad_id), Vocab.unk_id)
            h = self.encoder(x)  # (B, T, E)
        if self.bigrams is not None:
            h = torch.cat([h, self.dropout(self.bigrams(x, batch.lengths))], dim=-1)  # (B, T, E + 2 * bigram_dim)
        out = self.rnn(h, batch.lengths).outputs  # (B, T, D*H)
        return self.head(self.dropout(out))  # (B, T, K)

    def _targets(self, batch: Batch, mask: Tensor) -> Tensor:
        y = batch.y
        assert y is not None
        if y.shape != mask.shape:
            raise ValueError(f"tagging targets y must be (B, T) = {tuple(mask.shape)} like x, got {tuple(y.shape)}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"tagging targets y must be int64 tag ids, got {y.dtype}")
        if batch.y_lengths is not None and batch.lengths is not None and not torch.equal(
                batch.y_lengths.to(batch.lengths.device), batch.lengths):
            raise ValueError("tagging needs one tag per input step: y_lengths differs from lengths")
        valid = y.masked_select(mask)
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= self.config.num_tags):
            raise ValueError(f"tag ids must be in [0, {self.config.num_tags}), got min {int(valid.min())}, "
                             f"max {int(valid.max())}; was the data built with another tag set?")
        return y.masked_fill(~mask, 0)

    def forward(self, batch: Batch) -> ModelOutput:
        logits = self.emissions(batch)
        loss = None
        if batch.y is not None:
            mask = batch.mask()
            y = self._targets(batch, mask)
            if self.crf is not None:
                loss = self.crf.nll(logits, y, mask, reduction="token_mean")
            else:
                per_step = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (B, T)
                loss = (per_step * mask).sum() / mask.sum().clamp_min(1)
        return ModelOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Tag ids ``(B, T)`` (Viterbi with a CRF), 0 on padding."""
        logits = self.emissions(batch)
        mask = batch.mask()
        if self.crf is not None:
            return self.crf.decode(logits, mask)[0]
        return logits.argmax(dim=-1).masked_fill(~mask, 0)

    @torch.no_grad()
    def predict_proba(self, batch: Batch) -> Tensor:
        """Each step's tag probabilities ``(B, T, K)``, 0 on padding: the softmax of the emissions,
        or with a CRF the posterior marginals ``P(y_t = k | x)`` (forward-backward)."""
        logits = self.emissions(batch)
        mask = batch.mask()
        if self.crf is not None:
            return self.crf.marginals(logits, mask)
        return logits.softmax(-1) * mask.unsqueeze(-1)

    @classmethod
    def suggested_options(cls, dataset: SequenceDataset) -> dict[str, Any]:
        """The architecture the data suggest. Tagging tokens gets the segmentation recipe's model
        (``peoples_daily_seg``): a bidirectional LSTM (128 units) over 128-d embeddings, dropout 0.2,
        each step's left and right bigram hashed into a table with one row per training token
        (rounded up to a power of two, at most 2**18) of 32-d rows, and a CRF over the tags, whose
        decoding keeps the tag scheme's order when the tags are BMES or BIO (``tag_scheme``).
        Square frames (``info.extra["canvas"]`` squared equals ``num_features``, e.g.
        ``moving_digits``) get that recipe's model: a CNN (32-64 filters) shared by every frame
        (``frame_encoder="conv"``), then a bidirectional GRU (128 units), dropout 0.2. Other
        feature inputs get nothing (the constructor's defaults)."""
        info = dataset.info
        if info.input_kind in ("features", "series", "vector"):
            canvas = info.extra.get("canvas") if isinstance(info.extra, dict) else None
            if not canvas or not info.num_features or int(canvas) ** 2 != info.num_features:
                return {}
            return {"frame_encoder": "conv", "conv_channels": (32, 64), "cell": "gru", "hidden_size": 128,
                    "bidirectional": True, "dropout": 0.2}
        if info.input_kind != "tokens":
            return {}
        tokens = sum(len(e.x) for e in dataset.train.examples if e.x is not None)
        scheme = tag_scheme_of(info.classes or [])
        if scheme and not follows_scheme(dataset.train.examples, info.classes or [], scheme):
            scheme = None  # e.g. IOB1 data (I- opening a chunk): a constrained CRF could not score its gold paths
        return {"cell": "lstm", "embed_dim": 128, "hidden_size": 128, "bidirectional": True, "dropout": 0.2,
                "crf": True, "bigram_buckets": suggested_buckets(tokens), "bigram_dim": 32,
                **({"tag_scheme": scheme} if scheme else {})}

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> SequenceTagger:
        """Size the tagger from ``dataset.info``: input kind, vocabulary or feature count, tag names.
        Options not given follow :meth:`suggested_options` (for tokens: the segmentation recipe's;
        for square frames: moving_digits'). Pass ``frame_encoder="linear"`` for a linear projection
        of each frame instead of the CNN.

        ``frame_encoder="conv"`` reads each step as a square one-channel image (the data set's
        ``extra["canvas"]``, e.g. ``moving_digits``) through a CNN: sets ``frame_shape``.
        """
        info = dataset.info
        if "vocab_size" not in hyper:
            suggested = cls.suggested_options(dataset)
            if "tag_scheme" in suggested and "tag_scheme" not in hyper and hyper.get("crf") is False:
                del suggested["tag_scheme"]  # the scheme constrains a CRF: none asked for, none suggested
            for key, value in suggested.items():
                hyper.setdefault(key, value)
        frame_encoder = hyper.pop("frame_encoder", None)
        if frame_encoder not in (None, "linear", "conv"):
            raise ValueError(f"frame_encoder must be 'linear' or 'conv', got {frame_encoder!r}")
        if not info.classes:
            raise ValueError(f"dataset {info.name!r} has no classes (tag names); a tagger needs them")
        sizes: dict[str, Any] = {"num_tags": len(info.classes), "tags": tuple(info.classes)}
        if info.input_kind == "tokens":
            if info.input_vocab is None:
                raise ValueError(f"dataset {info.name!r} has token inputs but no input_vocab")
            sizes["vocab_size"] = len(info.input_vocab)
        elif info.input_kind in ("features", "series", "vector"):
            if not info.num_features:
                raise ValueError(f"dataset {info.name!r} has feature inputs but no num_features")
            sizes["num_features"] = info.num_features
            canvas = info.extra.get("canvas") if isinstance(info.extra, dict) else None
            if frame_encoder == "conv" and "frame_shape" not in hyper:
                if not canvas or canvas * canvas != info.num_features:
                    raise ValueError(f"frame_encoder='conv' needs square frames; dataset {info.name!r} gives "
                                     f"{info.num_features} features per step: pass frame_shape=(C, H, W)")
                hyper["frame_shape"] = (1, int(canvas), int(canvas))
        else:
            raise ValueError(f"SequenceTagger reads token ids or per-step features, not {info.input_kind!r}")
        return cls(**{**sizes, **hyper})
