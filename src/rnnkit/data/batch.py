"""The batch every model's ``forward`` takes, and the collate function that builds it.

Collate pads on the right and never drops or truncates data: every step of every example ends
up in the batch, and ``lengths`` / ``y_lengths`` say how many steps are real.
"""

from __future__ import annotations

import functools
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

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for a worker process, ``copy.deepcopy``, ``torch.save``) with only its own data.
        Loaders cut a corpus's examples out of one large tensor as views, and pickling a view
        writes its whole storage: 10 People's Daily sentences took 266 MB."""
        state = dict(self.__dict__)
        for name, value in state.items():
            if isinstance(value, Tensor) and value.untyped_storage().nbytes() > value.nbytes:
                state[name] = value.clone()
        return state


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

    def __post_init__(self) -> None:
        for name in _TENSOR_FIELDS:  # a few isinstance checks: cheap enough for every batch
            value = getattr(self, name)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"Batch.{name} must be a torch.Tensor or None, got {type(value).__name__}; "
                                f"convert it with torch.as_tensor(...)")

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


_TENSOR_FIELDS = ("x", "lengths", "y", "y_lengths", "cond", "future")


def check_lengths(lengths: Tensor, B: int, T: int, *, name: str = "lengths", axis: str = "T",
                  of: str | None = None, per: str | None = None, host_only: bool = False) -> None:
    """ValueError unless ``lengths`` is ``(B,)`` integers in ``1..T``; ``name`` opens the message,
    ``axis``/``of`` name T (``"T"``, ``"x's time dimension"``), ``per`` says what one length counts.
    The range is read only outside ``torch.compile``, and with ``host_only`` only on the CPU (on a
    GPU, reading it makes the host wait for the device)."""
    if not isinstance(lengths, Tensor):
        raise ValueError(f"{name} must be a ({B},) int64 tensor{'' if per is None else ', ' + per}, got "
                         f"{type(lengths).__name__}; convert it with torch.as_tensor(...)")
    if lengths.shape != (B,) or lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"{name} must be ({B},) int64{'' if per is None else ', ' + per}, got {lengths.dtype} "
                         f"{tuple(lengths.shape)}")
    if not B or torch.compiler.is_compiling() or (host_only and lengths.device.type != "cpu"):
        return
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > T:
        rows = ((lengths < 1) | (lengths > T)).nonzero().flatten().tolist()
        shown = ", ".join(map(str, rows[:5])) + (f", ... ({len(rows)} in all)" if len(rows) > 5 else "")
        advice = "; an example needs at least one step: drop the empty ones or fill them" if lo < 1 else ""
        raise ValueError(f"{name} must be between 1 and {axis}={T}{'' if of is None else f' ({of})'}, got min {lo} "
                         f"and max {hi} (row{'s' if len(rows) > 1 else ''} {shown}){advice}")


def check_target_lengths(batch: Batch, y: Tensor) -> None:
    """ValueError unless target sequences ``y`` ``(B, L)`` have x's batch size and ``batch.y_lengths``
    (when given) is ``(B,)`` integers in ``1..L``: what Seq2Seq and ConditionedGenerator read."""
    B, L, n = y.shape[0], y.shape[1], batch.y_lengths
    if batch.x is not None and batch.x.shape[0] != B:
        raise ValueError(f"batch.y has {B} target sequences but batch.x has {batch.x.shape[0]} inputs")
    if n is not None:
        check_lengths(n, B, L, name="batch.y_lengths", axis="L", of="y's length",
                      per="one target length per sequence")


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool mask, True where ``t < length``."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def _is_integer(t: Tensor) -> bool:
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def _is_sequence_x(t: Tensor) -> bool:
    if t.dtype in (torch.int64, torch.int32) and t.dim() == 1:
        return True
    return t.is_floating_point() and t.dim() == 2


def pad_sequences(seqs: Sequence[Tensor], pad_value: float = 0) -> tuple[Tensor, Tensor]:
    """Right-pad ``(T_i, ...)`` tensors into ``(B, T_max, ...)``; returns (padded, lengths)."""
    if not seqs:
        raise ValueError("pad_sequences needs at least one sequence")
    for i, s in enumerate(seqs):
        if s.dim() == 0:
            raise ValueError(f"item {i} is a scalar where a sequence (T, ...) was expected (item 0 has shape "
                             f"{tuple(seqs[0].shape)}); give every example the same kind of field")
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.shape[1:] != trailing:
            raise ValueError(f"item {i} has step shape {tuple(s.shape[1:])}, expected {tuple(trailing)}")
    dtype = functools.reduce(torch.promote_types, (s.dtype for s in seqs))  # float32 and float64: float64
    out = seqs[0].new_full((len(seqs), int(lengths.max()), *trailing), pad_value, dtype=dtype)
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


def _label(i: int, meta: dict[str, Any]) -> str:
    return f"example {i} {meta}" if meta else f"example {i}"


def _check_examples(examples: Sequence[Example]) -> None:
    """TypeError unless every item is an Example whose fields are tensors (or None)."""
    for i, e in enumerate(examples):
        if not isinstance(e, Example):
            raise TypeError(f"collate takes a list of rnnkit.data.Example, item {i} is {type(e).__name__}")
        for name in ("x", "y", "cond", "future"):
            value = getattr(e, name)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{_label(i, e.meta)}: {name} must be a torch.Tensor or None, got "
                                f"{type(value).__name__}; convert it with torch.as_tensor(...)")
    for name in ("x", "y", "cond", "future"):  # one kind per field: a batch takes one dtype
        kinds: dict[bool, int] = {}
        for i, e in enumerate(examples):
            value = getattr(e, name)
            if value is not None:
                kinds.setdefault(value.is_floating_point(), i)
        if len(kinds) > 1:  # padded into one tensor, the floats would be cut to integers (NaN to -2**63)
            raise ValueError(f"{name} is a float tensor in {_label(kinds[True], examples[kinds[True]].meta)} "
                             f"and an integer one in {_label(kinds[False], examples[kinds[False]].meta)}: give "
                             f"every example's {name} one kind (float features or values; integer ids or classes)")


def _check_finite(batch: Batch) -> None:
    """ValueError naming the example, field and step of the first NaN or infinity in a float field.

    One ``isfinite`` over each padded field (padding is 0): data enter here, so a NaN is named where
    it came from instead of surfacing as a NaN loss later.
    """
    for name in ("x", "y", "cond", "future"):
        t = getattr(batch, name)
        if t is None or not t.is_floating_point():
            continue
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            where = bad.nonzero()[0].tolist()  # (example, step, ...) of the first bad value
            i, pos = where[0], where[1:]
            kind = "NaN" if bool(torch.isnan(t[tuple(where)])) else "infinity"
            at = f" at step {pos[0]}" if name == "x" and batch.lengths is not None else (
                f" at index {tuple(pos)}" if pos else "")
            raise ValueError(f"{_label(i, batch.meta[i])} has {kind} in {name}{at}; fill or drop missing values "
                             "(rnnkit.data.windows.fill_missing) before batching")


def collate(examples: Sequence[Example]) -> Batch:
    """Pad a list of :class:`Example` into a :class:`Batch` (see Example for the field rules).

    Raises ValueError on an empty list, an empty sequence (a sequence of length 0 cannot be run
    by a recurrent layer; filter it out on purpose, never here) or a NaN / infinity in a float
    field, and TypeError on items that are not Examples of tensors.
    """
    if len(examples) == 0:
        raise ValueError("collate got no examples")
    _check_examples(examples)
    xs = [e.x for e in examples]
    x: Tensor | None
    lengths: Tensor | None = None
    if all(t is not None for t in xs) and _is_sequence_x(xs[0]):  # type: ignore[arg-type]
        seqs = [t for t in xs if t is not None]
        for i, s in enumerate(seqs):
            if s.shape[0] == 0:
                raise ValueError(f"{_label(i, examples[i].meta)} has an empty input sequence (length 0)")
        x, lengths = pad_sequences(seqs)
    else:
        x = _stack("x", xs)

    # integer targets are ids (classes, tags, tokens): int64, as losses and embeddings take them, from
    # whichever integer type the data came in (int32 from numpy on Windows, uint8 from images)
    ys = [t.long() if t is not None and _is_integer(t) else t for t in (e.y for e in examples)]
    y: Tensor | None
    y_lengths: Tensor | None = None
    first_y = ys[0]
    if first_y is not None and first_y.dim() == 1 and first_y.dtype == torch.int64:
        if any(t is None for t in ys):
            raise ValueError("some examples have y and some do not")
        for i, t in enumerate(ys):
            # a decoder's targets end with <eos>, a tagger's match x: none is empty
            if t is not None and t.dim() >= 1 and t.shape[0] == 0:
                raise ValueError(f"{_label(i, examples[i].meta)} has an empty target sequence (length 0)")
        y, y_lengths = pad_sequences([t for t in ys if t is not None])
    else:
        y = _stack("y", ys)
    batch = Batch(
        x=x,
        lengths=lengths,
        y=y,
        y_lengths=y_lengths,
        cond=_stack("cond", [e.cond for e in examples]),
        future=_stack("future", [e.future for e in examples]),
        meta=[e.meta for e in examples],
    )
    _check_finite(batch)
    return batch
