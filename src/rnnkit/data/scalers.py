"""Per-feature scalers (standard, min-max), fitted on training data only.

A scaler learns one offset and one scale per feature (the last axis) from the data given to
``fit`` — which must be the training split alone — and then maps any array or tensor with the same
number of features:

    transform(v)         = (v - offset) / scale
    inverse_transform(z) = z * scale + offset

``StandardScaler``: offset = mean, scale = population standard deviation.
``MinMaxScaler``:   maps [min, max] onto ``feature_range`` = (a, b): scale = (max - min) / (b - a),
offset = min - a * scale.

A feature that is constant in the training data (zero variance or zero range) gets scale 1, so it
maps to a constant instead of dividing by zero; ``constant_features`` lists them. NaNs are never
averaged over silently: ``fit`` raises with the position of the first one (fill them first, e.g.
with :func:`rnnkit.data.windows.fill_missing`).

``state_dict()`` is plain lists and strings (YAML/JSON friendly) so a run directory can save it;
:func:`scaler_from_state_dict` rebuilds the right class.

Example:
    >>> s = StandardScaler().fit(train_series)          # (N, F) array or tensor
    >>> z = s.transform(test_series)                    # same type, device and dtype as the input
    >>> back = s.inverse_transform(z)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import Tensor

ArrayLike = TypeVar("ArrayLike", np.ndarray, Tensor)
Data = np.ndarray | Tensor | Sequence[np.ndarray] | Sequence[Tensor]


def _as_numpy_2d(data: Data) -> np.ndarray:
    """Stack the data into ``(rows, F)`` float64; a list of ``(T_i, F)`` sequences is concatenated."""
    if isinstance(data, Tensor | np.ndarray):
        parts = [data]
    else:
        parts = list(data)
        if not parts:
            raise ValueError("cannot fit a scaler on an empty list of sequences")
    arrays = []
    for i, p in enumerate(parts):
        a = p.detach().cpu().numpy() if isinstance(p, Tensor) else np.asarray(p)
        a = a.astype(np.float64, copy=False)
        if a.ndim == 0:
            raise ValueError(f"item {i}: a scaler needs at least one axis of values, got a scalar")
        arrays.append(a.reshape(-1, 1) if a.ndim == 1 else a.reshape(-1, a.shape[-1]))
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        raise ValueError(f"sequences have different numbers of features: {sorted(widths)}")
    out = np.concatenate(arrays, axis=0)
    if out.shape[0] == 0:
        raise ValueError("cannot fit a scaler on zero rows")
    return out


class Scaler:
    """Base class: per-feature ``(v - offset) / scale``. Subclasses define ``_fit_params``."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.offset_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.constant_features: list[int] = []

    # -- fitting -----------------------------------------------------------------------------
    def _fit_params(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (offset, raw scale, constant mask) for ``(rows, F)`` data."""
        raise NotImplementedError

    def fit(self, data: Data) -> Scaler:
        """Learn the per-feature parameters from the training data (``(N, F)``, ``(N,)``,
        ``(B, T, F)`` or a list of ``(T_i, F)`` sequences). Returns ``self``."""
        rows = _as_numpy_2d(data)
        bad = np.argwhere(~np.isfinite(rows))
        if bad.size:
            r, f = (int(v) for v in bad[0])
            raise ValueError(
                f"cannot fit {type(self).__name__}: {len(bad)} non-finite value(s), the first at "
                f"row {r}, feature {f} (value {rows[r, f]}); fill or drop missing values first "
                "(rnnkit.data.windows.fill_missing)")
        offset, scale, constant = self._fit_params(rows)
        self.offset_ = offset
        self.scale_ = np.where(constant, 1.0, scale)
        self.constant_features = [int(i) for i in np.flatnonzero(constant)]
        return self

    def fit_transform(self, data: ArrayLike) -> ArrayLike:
        return self.fit(data).transform(data)

    @property
    def is_fitted(self) -> bool:
        return self.offset_ is not None

    @property
    def num_features(self) -> int:
        return len(self._params()[0])

    # -- mapping -----------------------------------------------------------------------------
    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self.offset_ is None or self.scale_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(train_data) before "
                               "transform / inverse_transform")
        return self.offset_, self.scale_

    def _apply(self, data: ArrayLike, *, inverse: bool, features: Sequence[int] | None) -> ArrayLike:
        offset, scale = self._params()
        if features is not None:
            idx = list(features)
            for i in idx:
                if not -len(offset) <= i < len(offset):
                    raise IndexError(f"feature {i} out of range for a scaler of {len(offset)} features")
            offset, scale = offset[idx], scale[idx]
        n = len(offset)
        width = 1 if data.ndim == 0 else data.shape[-1]
        if data.ndim == 1 and n == 1:
            width = 1  # a plain (N,) series for a one-feature scaler
        elif width != n:
            raise ValueError(f"{type(self).__name__} was fitted on {n} feature(s) but the data's last "
                             f"axis has {width} (shape {tuple(data.shape)})")
        if isinstance(data, Tensor):
            dtype = data.dtype if data.is_floating_point() else torch.get_default_dtype()
            o = torch.as_tensor(offset, dtype=dtype, device=data.device)
            s = torch.as_tensor(scale, dtype=dtype, device=data.device)
            return data * s + o if inverse else (data - o) / s
        arr = np.asarray(data)
        dt = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        o_np, s_np = offset.astype(dt), scale.astype(dt)
        return arr * s_np + o_np if inverse else (arr - o_np) / s_np

    def transform(self, data: ArrayLike, *, features: Sequence[int] | None = None) -> ArrayLike:
        """Scale ``data`` (last axis = features). ``features`` picks a subset of the fitted
        features, e.g. the target columns when scaling a forecast."""
        return self._apply(data, inverse=False, features=features)

    def inverse_transform(self, data: ArrayLike, *, features: Sequence[int] | None = None) -> ArrayLike:
        """Undo :meth:`transform` (e.g. to put predictions back in the data's units)."""
        return self._apply(data, inverse=True, features=features)

    # -- saving ------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Plain-Python state (lists of floats) for a run directory's YAML/JSON."""
        offset, scale = self._params()
        return {"kind": self.kind, "offset": offset.tolist(), "scale": scale.tolist(),
                "constant_features": list(self.constant_features), **self._extra_state()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Scaler:
        """Rebuild a fitted scaler; ``Scaler.from_state_dict`` picks the class from ``kind``."""
        kind = state.get("kind")
        target = _KINDS.get(str(kind))
        if target is None:
            raise ValueError(f"unknown scaler kind {kind!r}; expected one of {sorted(_KINDS)}")
        if cls is not Scaler and target is not cls:
            raise ValueError(f"state is for a {target.__name__}, not a {cls.__name__}")
        for key in ("offset", "scale"):
            if key not in state:
                raise ValueError(f"scaler state has no {key!r} field")
        obj = target._from_extra_state(state)
        obj.offset_ = np.asarray(state["offset"], dtype=np.float64)
        obj.scale_ = np.asarray(state["scale"], dtype=np.float64)
        if obj.offset_.shape != obj.scale_.shape or obj.offset_.ndim != 1:
            raise ValueError(f"scaler state: offset {obj.offset_.shape} and scale {obj.scale_.shape} "
                             "must be 1-D of the same length")
        if np.any(obj.scale_ == 0):
            raise ValueError("scaler state: scale has a zero entry")
        obj.constant_features = [int(i) for i in state.get("constant_features", [])]
        return obj

    @classmethod
    def _from_extra_state(cls, state: dict[str, Any]) -> Scaler:
        return cls()

    def __repr__(self) -> str:
        fitted = f"{self.num_features} features" if self.is_fitted else "not fitted"
        return f"{type(self).__name__}({fitted})"


class StandardScaler(Scaler):
    """Zero mean, unit (population) standard deviation per feature.

    Example:
        >>> s = StandardScaler().fit(np.array([[1.0], [3.0]]))
        >>> s.transform(np.array([[3.0]]))
        array([[1.]])
    """

    kind = "standard"

    def _fit_params(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        # zero spread, or spread at float rounding of the values' size (relative, so that a feature of
        # values near 1e-13 is scaled, not passed through as "constant")
        constant = std <= 1e-12 * np.abs(mean)
        return mean, std, constant


class MinMaxScaler(Scaler):
    """Maps each feature's training [min, max] onto ``feature_range`` (default (0, 1)).

    Values outside the training range (e.g. a test set that trends upward) map outside
    ``feature_range``; they are not clipped.

    Example:
        >>> s = MinMaxScaler().fit(np.array([[2.0], [4.0]]))
        >>> s.transform(np.array([[3.0]]))
        array([[0.5]])
    """

    kind = "minmax"

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        lo, hi = (float(v) for v in feature_range)
        if not lo < hi:
            raise ValueError(f"feature_range must be (low, high) with low < high, got {feature_range}")
        self.feature_range = (lo, hi)

    def _fit_params(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.feature_range
        dmin, dmax = data.min(axis=0), data.max(axis=0)
        span = dmax - dmin
        constant = span <= 1e-12 * np.maximum(np.abs(dmin), np.abs(dmax))  # zero range, or its rounding
        scale = span / (hi - lo)
        offset = np.where(constant, dmin - lo, dmin - lo * scale)
        return offset, scale, constant

    def _extra_state(self) -> dict[str, Any]:
        return {"feature_range": list(self.feature_range)}

    @classmethod
    def _from_extra_state(cls, state: dict[str, Any]) -> Scaler:
        lo, hi = state.get("feature_range", (0.0, 1.0))
        return cls((lo, hi))


_KINDS: dict[str, type[Scaler]] = {StandardScaler.kind: StandardScaler, MinMaxScaler.kind: MinMaxScaler}


def scaler_from_state_dict(state: dict[str, Any]) -> Scaler:
    """Rebuild a fitted scaler of the right class from :meth:`Scaler.state_dict`."""
    return Scaler.from_state_dict(state)


__all__ = ["MinMaxScaler", "Scaler", "StandardScaler", "scaler_from_state_dict"]
