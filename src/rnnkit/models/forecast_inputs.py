"""What the ``Forecaster`` reads: a checked :class:`Batch`, a raw series for ``forecast()``, the last
steps of a window (the highway's input) and the distinct rows of overlapping windows' covariates.

A batch is ``x`` ``(B, T, F)`` float, the first ``num_targets`` columns the series to forecast, the
rest past covariates, and ``future`` ``(B, H, C)``, the known-future covariates. A raw series is
``(T,)`` or ``(T, F)`` numpy, pandas or torch; ``forecast()`` answers in the same kind.

Example:
    >>> x, future = check_batch(batch, model.config, model.enc_proj.weight.dtype)
    >>> forecast_series(model, series, 12, None).shape  # (12,)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batch import Batch, Example
from rnnkit.models.base import checked_series

if TYPE_CHECKING:
    from rnnkit.models.forecast_config import ForecasterConfig
    from rnnkit.models.forecaster import Forecaster


NO_COVARIATES = ("future holds known-future covariates, but this model was trained without them (num_future=0): "
                 "leave future out")


def last_steps(x: Tensor, lengths: Tensor | None, n: int) -> Tensor:
    """The last ``n`` valid steps of each series: ``(B, T, K)`` -> ``(B, K, n)``, oldest first; a series
    shorter than ``n`` is padded with zeros on the left (the scaled window's mean)."""
    B, T, K = x.shape
    end = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
    idx = end.unsqueeze(1) - n + torch.arange(n, device=x.device)  # (B, n)
    valid = (idx >= 0).unsqueeze(-1)
    out = x.gather(1, idx.clamp_min(0).unsqueeze(-1).expand(B, n, K))
    return torch.where(valid, out, torch.zeros_like(out)).transpose(1, 2)


def covariate_rows(items: Iterable[Example | Tensor | np.ndarray]) -> list[Example | Tensor | np.ndarray]:
    """The known-future covariates of forecasting windows with each row of the series once.

    Windows overlap: with stride 1 and horizon H, a row is in the ``future`` of up to H windows (rows
    near the ends of the training part in fewer), and statistics of the windows' rows would weigh
    each row by how many windows hold it. When every item is an :class:`Example` whose ``meta``
    says where its horizon starts (``target_start``, as :func:`rnnkit.data.windows.make_windows`
    writes, with ``series`` for a table of several), the rows are read back by ``(series, step)``,
    each once. Otherwise (arrays, or examples without that index) the items are returned as given,
    and every row of every window counts.

    Returns:
        ``[rows (N, C)]``, the distinct rows, or the items unchanged.
    """
    items = list(items)
    if not items or not all(isinstance(e, Example) and e.future is not None and e.future.dim() == 2
                            and "target_start" in e.meta for e in items):
        return items
    codes: dict[Any, int] = {}  # series key -> a number
    keys, rows = [], []
    for e in items:
        assert isinstance(e, Example) and e.future is not None
        H, start = e.future.shape[0], int(e.meta["target_start"])
        code = codes.setdefault(e.meta.get("series"), len(codes))
        keys.append(np.stack([np.full(H, code), np.arange(start, start + H)], axis=1))  # (H, 2): series, step
        rows.append(e.future)
    _, first = np.unique(np.concatenate(keys), axis=0, return_index=True)  # each (series, step) once
    return [torch.cat(rows)[torch.as_tensor(np.sort(first))]]  # (N, C) in the windows' order


def require_batch(batch: Batch) -> None:
    """A TypeError that points at ``forecast()`` when ``batch`` is not a :class:`Batch`."""
    if not isinstance(batch, Batch):
        raise TypeError(f"Forecaster takes a Batch, got {type(batch).__name__}; for a raw series call "
                        "forecast(series)")


def check_batch(batch: Batch, cfg: ForecasterConfig, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """``(x, future)`` of ``batch`` as the network reads them (padding zeroed; ``future`` None when the
    model reads no covariates), or a ValueError that says what to change. ``dtype``: the parameters'."""
    require_batch(batch)
    x = batch.x
    if x is None or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != cfg.num_features:
        got = None if x is None else (tuple(x.shape), x.dtype)
        raise ValueError(f"Forecaster expects x of shape (B, T, {cfg.num_features}) float (targets first, "
                         f"then past covariates), got {got}; set num_features to match the data")
    if x.dtype != dtype:
        raise ValueError(f"batch.x is {x.dtype} but the model's parameters are {dtype}; convert one of them "
                         f"(x.to({dtype}) or model.to(x.dtype))")
    if batch.lengths is not None and batch.lengths.shape != x.shape[:1]:
        raise ValueError(f"batch.lengths must be ({x.shape[0]},), one length per window, got "
                         f"{tuple(batch.lengths.shape)}")
    # torch.export / compile trace symbolic values: a Python `if` on them cannot be traced
    checks_values = not torch.compiler.is_compiling()
    x = checked_series(x, batch.lengths, "the input window")
    future = batch.future
    if cfg.num_future:
        if future is None or tuple(future.shape) != (x.shape[0], cfg.horizon, cfg.num_future):
            raise ValueError(f"this model needs batch.future of shape (B, {cfg.horizon}, {cfg.num_future}) "
                             f"with B = {x.shape[0]} (x's batch), "
                             f"got {None if future is None else tuple(future.shape)}")
        if checks_values and torch.isnan(future).any():
            raise ValueError("NaN in batch.future (known-future covariates)")
    elif future is not None:  # the network would read none of it, and the answer look as if it had
        raise ValueError(NO_COVARIATES)
    return x, future if cfg.num_future else None


def check_targets(y: Tensor, cfg: ForecasterConfig, batch_size: int) -> Tensor:
    """``batch.y`` ``(B, H)`` or ``(B, H, K)`` as ``(B, H, K)``, or a ValueError naming what is wrong."""
    if (not y.is_floating_point() or y.numel() != batch_size * cfg.horizon * cfg.num_targets
            or (y.dim() > 0 and y.shape[0] != batch_size)):
        raise ValueError(f"batch.y must be (B, {cfg.horizon}) or (B, {cfg.horizon}, {cfg.num_targets}) "
                         f"float with B = {batch_size} (x's batch), got {tuple(y.shape)} {y.dtype}")
    if not torch.compiler.is_compiling() and not torch.isfinite(y).all():
        rows = (~torch.isfinite(y)).flatten(1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"NaN or infinity in batch.y (the targets) of batch items {rows[:10]}")
    return y.reshape(batch_size, cfg.horizon, cfg.num_targets)


def check_horizon(horizon: Any, most: int) -> int:
    """``forecast()``'s ``horizon``: an int in ``1..most`` (None: ``most``), or an error that says why not."""
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int | np.integer)):
        raise TypeError(f"horizon must be an int (steps to forecast), got {horizon!r}")
    horizon = most if horizon is None else int(horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if horizon > most:
        raise ValueError(f"this model forecasts at most {most} steps, asked for {horizon}; "
                         f"train with horizon={horizon} or forecast in chunks")
    return horizon


def series_inputs(series: Tensor | np.ndarray, future: Tensor | np.ndarray | None, cfg: ForecasterConfig, *,
                  dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor | None, bool]:
    """A raw series and its known-future covariates as ``forecast()`` feeds them to the network.

    Returns:
        ``x`` ``(T, F)`` (the last ``cfg.window`` steps when the model has a window), ``future``
        ``(1, H, C)`` or None, and whether the series came as numpy or pandas (then so does the answer).
    """
    if hasattr(series, "to_numpy") and hasattr(series, "index"):  # a pandas Series or DataFrame: its values
        series = np.array(series, dtype=np.float64)  # a writable copy: pandas may hand out read-only views
    is_numpy = isinstance(series, np.ndarray)
    try:
        if isinstance(series, np.ndarray) and not series.flags.writeable:  # pandas to_numpy(): torch would warn
            series = series.copy()
        x = torch.as_tensor(series, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"series must be numbers, (T,) or (T, {cfg.num_features}), got {type(series).__name__} "
                        f"that does not convert to a float tensor: {e}") from e
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2 or x.shape[-1] != cfg.num_features or x.shape[0] < 1:
        raise ValueError(f"series must be (T,) or (T, {cfg.num_features}) with T >= 1 "
                         f"(this model reads {cfg.num_features} features), got {tuple(x.shape)}")
    if cfg.window is not None:
        if x.shape[0] < cfg.window:
            raise ValueError(f"series has {x.shape[0]} steps, fewer than this model's window of {cfg.window} "
                             f"steps (it learnt from windows of exactly {cfg.window}); pass at least "
                             f"{cfg.window} steps of history")
        x = x[-cfg.window:]
    if future is None and cfg.num_future:
        raise ValueError(f"this model reads {cfg.num_future} known-future covariate(s): pass future=, their "
                         f"values over the next {cfg.horizon} steps, ({cfg.horizon}, {cfg.num_future})")
    if future is not None and not cfg.num_future:
        raise ValueError(NO_COVARIATES)
    if hasattr(future, "to_numpy") and hasattr(future, "index"):
        future = np.array(future, dtype=np.float64)  # a pandas frame of the covariates (a writable copy)
    f: Tensor | None = None
    if isinstance(future, Tensor):  # by torch: numpy has no bfloat16, and would refuse a CUDA tensor
        f = future.detach().to(device=device, dtype=dtype).unsqueeze(0)
    elif future is not None:
        f = torch.as_tensor(np.asarray(future), dtype=dtype, device=device).unsqueeze(0)
    if f is not None and not torch.isfinite(f).all():
        raise ValueError("future (the known covariates) holds NaN or infinity: fill it first")
    return x, f, is_numpy


def forecast_series(model: Forecaster, series: Tensor | np.ndarray, horizon: int | None,
                    future: Tensor | np.ndarray | None) -> Tensor | np.ndarray:
    """``model``'s forecast of the next ``horizon`` values of a raw series: what
    :meth:`Forecaster.forecast` returns (see there), the model put back in its mode after."""
    horizon = check_horizon(horizon, model.config.horizon)
    dtype = model.enc_proj.weight.dtype  # float32 unless the model was converted
    x, f, is_numpy = series_inputs(series, future, model.config, dtype=dtype, device=model.device)
    was_training = model.training
    model.eval()
    try:
        pred = model.forward(Batch(x=x.unsqueeze(0), future=f)).predictions
    finally:
        model.train(was_training)
    assert pred is not None
    out = pred[0, :horizon]
    # in the series' own float type (a float64 series is not answered in float32), else the model's
    if is_numpy:
        values = out.cpu().numpy()
        if hasattr(series, "index"):  # pandas, read as float64 (series_inputs)
            return values.astype(np.float64)
        kind = np.asarray(series).dtype
        return values.astype(kind) if kind.kind == "f" else values
    return out.to(series.dtype) if isinstance(series, Tensor) and series.is_floating_point() else out


__all__ = ["check_batch", "check_horizon", "check_targets", "covariate_rows", "forecast_series", "last_steps",
           "require_batch", "series_inputs"]
