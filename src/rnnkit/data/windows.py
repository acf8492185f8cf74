"""Sliding windows for forecasting, a leak-free chronological split, and an explicit NaN policy.

A window that starts at step ``s`` reads ``window`` steps of the series and predicts the next
``horizon`` steps of the target columns:

    x      = series[s : s + window]                        (window, F)
    y      = series[s + window : s + window + horizon, K]  (horizon,) for one target, else (horizon, K)
    future = covariates[s + window : s + window + horizon] (horizon, C)  (known-future covariates)

:func:`chronological_split` cuts the time axis into train / valid / test *by target steps*: every
window of a split has all its targets inside that split's segment. Inputs may look back into
earlier segments (the past is known when forecasting), but no window of an earlier split ever
contains — as input or target — a step of a later segment, so test targets never leak into
training windows.

Missing values are never dropped silently: :func:`fill_missing` raises with the index of the
first NaN (``policy="raise"``) or interpolates linearly in time (``policy="interpolate"``) and
reports how many values it filled.

Example:
    >>> split = chronological_split(len(series), test_size=36, valid_size=0, window=24, horizon=36)
    >>> train = make_windows(series, window=24, horizon=36, targets=0, segment=split.train)
    >>> test = make_windows(series, window=24, horizon=36, targets=0, segment=split.test)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batch import Example

Column = int | str
NanPolicy = Literal["raise", "interpolate"]


def _as_2d(values: np.ndarray | Tensor | Sequence[float], name: str) -> np.ndarray:
    a = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N,) or (N, F), got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def fill_missing(
    series: np.ndarray | Tensor | Sequence[float], *, policy: NanPolicy = "raise", name: str = "series"
) -> tuple[np.ndarray, int]:
    """Apply the NaN policy to an ``(N,)`` or ``(N, F)`` series; returns (series, number filled), the
    series as ``(N, F)`` (an ``(N,)`` one as ``(N, 1)``, the shape the windows read).

    ``"raise"``: ValueError naming the first missing step and column and the total count.
    ``"interpolate"``: linear in the step index, per column; NaNs before the first or after the
    last observed value take that nearest observed value. A column with no values at all raises.
    Any other policy is refused, whether or not the series has a NaN.
    """
    if policy not in ("raise", "interpolate"):
        raise ValueError(f"nan_policy must be 'raise' or 'interpolate', got {policy!r}")
    a = _as_2d(series, name).copy()
    missing = np.isnan(a)
    count = int(missing.sum())
    if count == 0:
        return a, 0
    if policy == "raise":
        step, col = (int(v) for v in np.argwhere(missing)[0])
        raise ValueError(f"{name} has {count} missing value(s) (NaN); the first at step {step}, column "
                         f"{col}. Pass nan_policy='interpolate' to fill them linearly, or clean the data")
    steps = np.arange(len(a))
    for c in range(a.shape[1]):
        m = missing[:, c]
        if m.all():
            raise ValueError(f"{name} column {c} has no observed values to interpolate from")
        if m.any():
            a[m, c] = np.interp(steps[m], steps[~m], a[~m, c])
    return a, count


@dataclass(frozen=True)
class Segment:
    """Target steps ``[start, stop)`` that one split's windows must predict inside."""

    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


@dataclass(frozen=True)
class ChronoSplit:
    """Consecutive target segments: train, then valid, then test (each may be empty)."""

    train: Segment
    valid: Segment
    test: Segment


def chronological_split(
    n: int, *, test_size: int, valid_size: int = 0, window: int, horizon: int
) -> ChronoSplit:
    """Cut ``n`` steps into train / valid / test target segments, the test segment last.

    ``test_size`` and ``valid_size`` count steps. A non-empty valid or test segment must hold at
    least one whole horizon; the train segment must hold at least one window plus one horizon.
    """
    _check_positive(window=window, horizon=horizon)
    if test_size < 0 or valid_size < 0:
        raise ValueError(f"test_size and valid_size must be >= 0, got {test_size} and {valid_size}")
    for label, size in (("test_size", test_size), ("valid_size", valid_size)):
        if 0 < size < horizon:
            raise ValueError(f"{label}={size} is shorter than horizon={horizon}: no window fits in it")
    test_start = n - test_size
    valid_start = test_start - valid_size
    if valid_start < window + horizon:
        raise ValueError(f"a series of {n} steps leaves {valid_start} for training after valid_size="
                         f"{valid_size} and test_size={test_size}; one window needs window + horizon = "
                         f"{window + horizon}")
    return ChronoSplit(Segment(0, valid_start), Segment(valid_start, test_start), Segment(test_start, n))


def _resolve_columns(targets: Column | Sequence[Column] | None, columns: Sequence[str] | None,
                     num_features: int) -> tuple[list[int], bool]:
    """Target columns as indices, and whether y keeps a K axis."""
    if targets is None:
        return list(range(num_features)), num_features > 1
    single = isinstance(targets, int | str)
    items: list[Column] = [targets] if isinstance(targets, int | str) else list(targets)
    if not items:
        raise ValueError("targets must name at least one column")
    out = []
    for t in items:
        if isinstance(t, str):
            if columns is None or t not in columns:
                raise ValueError(f"target column {t!r} does not exist; columns are {list(columns or [])}")
            out.append(list(columns).index(t))
        else:
            if not -num_features <= int(t) < num_features:
                raise ValueError(f"target column {t} does not exist: the series has {num_features} columns")
            out.append(int(t) % num_features)
    return out, not single


def make_windows(
    series: np.ndarray | Tensor | Sequence[float],
    *,
    window: int,
    horizon: int,
    stride: int = 1,
    targets: Column | Sequence[Column] | None = None,
    columns: Sequence[str] | None = None,
    covariates: np.ndarray | Tensor | None = None,
    segment: Segment | None = None,
    align_end: bool = True,
    meta: dict[str, object] | None = None,
) -> list[Example]:
    """Cut ``series`` (N, F) into forecasting :class:`Example` windows (see the module docstring).

    Args:
        targets: the column(s) to forecast, by index or by name (``columns``); one column gives
            y ``(horizon,)``, a list gives ``(horizon, K)``; None means all columns.
        covariates: ``(N, C)`` values known in advance (calendar, holidays); each window gets the
            horizon's rows as ``future``. Put a covariate in ``series`` too if the model should
            also read its past.
        segment: only windows whose targets all lie in ``[segment.start, segment.stop)``.
        align_end: step the windows back from the segment's end, so the last target step is
            always used whatever the stride (else they start at the segment's first fit).
    Raises:
        ValueError on NaNs (naming the step and column), bad sizes or unknown target columns.
    """
    _check_positive(window=window, horizon=horizon, stride=stride)
    data = _as_2d(series, "series")
    n, num_features = data.shape
    if np.isnan(data).any():
        fill_missing(data, policy="raise")
    cols, keep_k = _resolve_columns(targets, columns, num_features)
    fut = None
    if covariates is not None:
        fut = _as_2d(covariates, "covariates")
        if len(fut) != n:
            raise ValueError(f"covariates have {len(fut)} steps but the series has {n}")
        if np.isnan(fut).any():
            fill_missing(fut, policy="raise", name="covariates")
    seg = segment if segment is not None else Segment(0, n)
    if not 0 <= seg.start <= seg.stop <= n:
        raise ValueError(f"segment [{seg.start}, {seg.stop}) is outside the series of {n} steps")
    # window start s is valid when its targets [s + window, s + window + horizon) sit in the segment
    first = max(0, seg.start - window)
    last = seg.stop - window - horizon
    if last < first:
        return []
    starts = range(last, first - 1, -stride)[::-1] if align_end else range(first, last + 1, stride)
    x_all = torch.tensor(data, dtype=torch.float32)
    f_all = None if fut is None else torch.tensor(fut, dtype=torch.float32)
    examples = []
    for s in starts:
        t0, t1 = s + window, s + window + horizon
        y = x_all[t0:t1, cols]  # (horizon, K)
        examples.append(Example(
            x=x_all[s:t0].clone(),  # (window, F)
            y=(y if keep_k else y[:, 0]).clone(),
            future=None if f_all is None else f_all[t0:t1].clone(),  # (horizon, C)
            meta={**(meta or {}), "start": s, "target_start": t0, "target_stop": t1},
        ))
    return examples


def _check_positive(**sizes: int) -> None:
    for key, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value}")


__all__ = ["ChronoSplit", "NanPolicy", "Segment", "chronological_split", "fill_missing", "make_windows"]
