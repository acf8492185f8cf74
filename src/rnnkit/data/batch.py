"""The batch every model's ``forward`` takes, and the collate function that builds it.

Collate pads on the right and never drops or truncates data: every step of every example ends
up in the batch, and ``lengths`` / ``y_lengths`` say how many steps are real.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor


@dataclass
class Example:
    """One item of a data set, before batching.

    Field kinds (collate decides by dtype and rank):
      x: ``(T,)`` int64 token ids or ``(T, F)`` float features -> a sequence, padded, with ``lengths``;
         ``(F,)`` float or ``(C, H, W)`` float -> a single item (one-to-one), stacked.
      y: ``()`` class id or regression value -> stacked; ``(L,)`` int64 -> a target sequence (tags,
         translation, caption), padded with 0 and given ``y_lengths``; float ``(H,)`` / ``(H, F)``
         (forecast horizon) -> stacked.
      cond: the conditioning input of one-to-many (a vector or an image), stacked.
      future: known covariates over the forecast horizon ``(H, C)``, stacked.
    """

    x: Tensor | None
    y: Tensor | None = None
    cond: Tensor | None = None
    future: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    """A padded batch (batch-first).

    Shape:
        x: ``(B, T, F)`` float or ``(B, T)`` int64 token ids (or ``(B, F)`` / ``(B, C, H, W)``
           for one-to-one inputs, with ``lengths`` None); lengths: ``(B,)`` int64;
        y: targets; y_lengths: ``(B,)`` for target sequences; cond: ``(B, ...)``;
        future: ``(B, H, C)``.
    """

    x: Tensor | None
    lengths: Tensor | None = None
    y: Tensor | None = None
    y_lengths: Tensor | None = None
    cond: Tensor | None = None
    future: Tensor | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        for t in (self.x, self.cond, self.y):
            if t is not None:
                return int(t.shape[0])
        raise ValueError("empty Batch: it has no x, cond or y")

    def mask(self) -> Tensor:
        """``(B, T)`` bool, True on valid steps of ``x``."""
        if self.x is None:
            raise ValueError("Batch.mask() needs x")
        if self.lengths is None:
            return torch.ones(self.x.shape[:2], dtype=torch.bool, device=self.x.device)
        return lengths_to_mask(self.lengths, self.x.shape[1])

    def y_mask(self) -> Tensor:
        """``(B, L)`` bool, True on valid steps of the target sequence ``y``."""
        if self.y is None or self.y_lengths is None:
            raise ValueError("Batch.y_mask() needs y and y_lengths")
        return lengths_to_mask(self.y_lengths, self.y.shape[1])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return replace(self, **moved)


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool mask, True where ``t < length``."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def _is_sequence_x(t: Tensor) -> bool:
    if t.dtype in (torch.int64, torch.int32) and t.dim() == 1:
        return True
    return t.is_floating_point() and t.dim() == 2


def pad_sequences(seqs: Sequence[Tensor], pad_value: float = 0) -> tuple[Tensor, Tensor]:
    """Right-pad ``(T_i, ...)`` tensors into ``(B, T_max, ...)``; returns (padded, lengths)."""
    if not seqs:
        raise ValueError("pad_sequences needs at least one sequence")
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.shape[1:] != trailing:
            raise ValueError(f"item {i} has step shape {tuple(s.shape[1:])}, expected {tuple(trailing)}")
    out = seqs[0].new_full((len(seqs), int(lengths.max()), *trailing), pad_value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lengths


def _stack(name: str, items: Sequence[Tensor | None]) -> Tensor | None:
    present = [t is not None for t in items]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"some examples have {name} and some do not")
    tensors = [t for t in items if t is not None]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"cannot stack {name}: examples have different shapes {sorted(shapes)}")
    return torch.stack(tensors)


def collate(examples: Sequence[Example]) -> Batch:
    """Pad a list of :class:`Example` into a :class:`Batch` (see Example for the field rules).

    Raises ValueError on an empty list or an empty sequence (a sequence of length 0 cannot be run
    by a recurrent layer; filter it out on purpose, never here).
    """
    if len(examples) == 0:
        raise ValueError("collate got no examples")
    xs = [e.x for e in examples]
    x: Tensor | None
    lengths: Tensor | None = None
    if all(t is not None for t in xs) and _is_sequence_x(xs[0]):  # type: ignore[arg-type]
        seqs = [t for t in xs if t is not None]
        for i, s in enumerate(seqs):
            if s.shape[0] == 0:
                meta = examples[i].meta
                raise ValueError(f"example {i} {meta or ''} has an empty input sequence (length 0)")
        x, lengths = pad_sequences(seqs)
    else:
        x = _stack("x", xs)

    ys = [e.y for e in examples]
    y: Tensor | None
    y_lengths: Tensor | None = None
    first_y = ys[0]
    if first_y is not None and first_y.dim() == 1 and first_y.dtype == torch.int64:
        if any(t is None for t in ys):
            raise ValueError("some examples have y and some do not")
        y, y_lengths = pad_sequences([t for t in ys if t is not None])
    else:
        y = _stack("y", ys)
    return Batch(
        x=x,
        lengths=lengths,
        y=y,
        y_lengths=y_lengths,
        cond=_stack("cond", [e.cond for e in examples]),
        future=_stack("future", [e.future for e in examples]),
        meta=[e.meta for e in examples],
    )
