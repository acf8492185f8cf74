"""Synchronous many-to-many: one label per input step (tagging, frame classification, segmentation).

Encoder + head + loss: InputEncoder -> Recurrent (bidirectional by default) -> Linear -> per-step
cross-entropy, or a linear-chain CRF over the per-step scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batch import Batch
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.crf import CRF, scheme_constraints
from rnnkit.layers.inputs import InputEncoder
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.base import Model, ModelOutput


@dataclass(frozen=True)
class SequenceTaggerConfig:
    """Everything that rebuilds a :class:`SequenceTagger`.

    Exactly one of ``vocab_size`` (token-id inputs) or ``num_features`` (float frames) is set.
    ``embed_dim``: token embedding size (default 64), or a projection of the features (default:
    the raw features go straight into the recurrent layer). ``tag_scheme`` ("BIO" / "BMES") with
    ``tags`` adds CRF transition constraints.
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
                 tag_scheme: str | None = None, tags: tuple[str, ...] | list[str] | None = None) -> None:
        super().__init__()
        tags = tuple(tags) if tags is not None else None
        self.config = SequenceTaggerConfig(
            num_tags=num_tags, vocab_size=vocab_size, num_features=num_features, embed_dim=embed_dim,
            cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
            dropout=dropout, crf=crf, tag_scheme=tag_scheme, tags=tags)
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        if tags is not None and len(tags) != num_tags:
            raise ValueError(f"tags has {len(tags)} names but num_tags is {num_tags}")
        if tag_scheme is not None and (not crf or tags is None):
            raise ValueError("tag_scheme constrains a CRF: pass crf=True and the tag names in tags=")
        if vocab_size is not None and embed_dim is None:
            embed_dim = 64
        self.encoder = InputEncoder(num_features=num_features, vocab_size=vocab_size, embed_dim=embed_dim,
                                    dropout=dropout)
        self.rnn = Recurrent(cell, self.encoder.output_size, hidden_size, num_layers=num_layers,
                             bidirectional=bidirectional, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_tags)
        constraints = scheme_constraints(tags, tag_scheme) if tag_scheme and tags else None  # type: ignore[arg-type]
        self.crf = CRF(num_tags, constraints=constraints) if crf else None

    def emissions(self, batch: Batch) -> Tensor:
        """Per-step tag scores. Returns ``(B, T, K)``."""
        if batch.x is None:
            raise ValueError("SequenceTagger needs batch.x (token ids (B, T) or features (B, T, F))")
        h = self.encoder(batch.x)  # (B, T, E)
        out = self.rnn(h, batch.lengths).outputs  # (B, T, D*H)
        return self.head(self.dropout(out))  # (B, T, K)

    def _targets(self, batch: Batch, mask: Tensor) -> Tensor:
        y = batch.y
        assert y is not None
        if y.shape != mask.shape:
            raise ValueError(f"tagging targets y must be (B, T) = {tuple(mask.shape)} like x, got {tuple(y.shape)}")
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

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> SequenceTagger:
        """Size the tagger from ``dataset.info``: input kind, vocabulary or feature count, tag names."""
        info = dataset.info
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
        else:
            raise ValueError(f"SequenceTagger reads token ids or per-step features, not {info.input_kind!r}")
        return cls(**{**sizes, **hyper})
