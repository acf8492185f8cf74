"""The ``Forecaster``'s distributions: sample paths of its Gaussian head and quantiles of either
probabilistic head, in the series' units.

A Gaussian head gives ``N(loc, scale^2)`` per step of the network's space (transformed, differenced,
scaled). A path draws each step from it (the autoregressive strategy feeds each path's own draws
back), is mapped back to the series' units (summed back over the horizon, untransformed), and
quantiles are read off many paths, so that transforms and differencing carry the uncertainty
through. A quantile head returns its own quantiles, for the levels it was trained for.

Example:
    >>> paths = sample_paths(model, batch, 1000)  # (1000, B, H[, K])
    >>> quantiles_of_paths(model.sample, batch, [0.1, 0.9], 1000, None).shape  # (B, H[, K], 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnkit.data.batch import Batch

if TYPE_CHECKING:
    from rnnkit.models.forecaster import Forecaster

SAMPLED_LEVELS = (0.1, 0.5, 0.9)  # the levels a Gaussian head's quantiles default to


def check_levels(levels: Sequence[float] | None, default: Sequence[float]) -> list[float]:
    """Quantile levels as floats in (0, 1), in the order given (``default`` when None)."""
    chosen = [float(q) for q in (default if levels is None else levels)]
    if not chosen or any(not 0.0 < q < 1.0 for q in chosen):
        raise ValueError(f"quantile levels must be a non-empty list of values in (0, 1), got {chosen}")
    return chosen


def quantiles_of_paths(sample: Callable[..., Tensor], batch: Batch, levels: list[float], samples: int,
                       generator: torch.Generator | None) -> Tensor:
    """Quantiles ``(B, H[, K], Q)`` read off ``samples`` paths of ``sample(batch, n, generator=...)``
    (a Gaussian forecaster's, or an ensemble's mixture)."""
    if samples < 2:
        raise ValueError(f"samples must be >= 2 to read quantiles off them, got {samples}")
    paths = sample(batch, samples, generator=generator)  # (n, B, H[, K])
    q = torch.tensor(levels, dtype=paths.dtype, device=paths.device)
    return torch.quantile(paths, q, dim=0).movedim(0, -1)


def sample_paths(model: Forecaster, batch: Batch, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` sample paths ``(n, B, H[, K])`` of a Gaussian-head ``model`` in the series' units: what
    :meth:`Forecaster.sample` returns (see there)."""
    cfg = model.config
    if cfg.head != "gaussian":
        raise ValueError(f"sample() needs head='gaussian', this model has head={cfg.head!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    x, future = model._check(batch)
    B = x.shape[0]

    def rep(t: Tensor | None) -> Tensor | None:  # n copies of the batch, copy-major
        return None if t is None else t.repeat(n, *([1] * (t.dim() - 1)))

    x, lengths, future = x.repeat(n, 1, 1), rep(batch.lengths), rep(future)
    x, lengths, heads = model._to_model_space(x, lengths)
    mean, std = model._stats(x, lengths)

    fed: list[Tensor] = []

    def draw(p: Tensor) -> Tensor:
        noise = torch.randn(p[..., 0].shape, generator=generator, device=p.device, dtype=p.dtype)
        fed.append(p[..., 0] + p[..., 1] * noise)
        return fed[-1]

    p = model._run((x - mean) / std, lengths, future, choose=draw)  # (n*B, H, K, 2)
    # autoregressive: the path is what was fed back; direct: each step drawn independently
    paths = torch.stack(fed, dim=1) if cfg.strategy == "autoregressive" else draw(p)  # (n*B, H, K)
    paths = paths * std[..., : cfg.num_targets] + mean[..., : cfg.num_targets]  # (n*B, H, K)
    paths = model._to_series_space(paths, heads)  # each path summed back and untransformed
    paths = paths.view(n, B, cfg.horizon, cfg.num_targets)
    return paths.squeeze(-1) if cfg.num_targets == 1 else paths


def forecast_quantiles(model: Forecaster, batch: Batch, levels: Sequence[float] | None, samples: int,
                       generator: torch.Generator | None) -> Tensor:
    """Quantiles ``(B, H[, K], Q)`` of ``model``'s forecasts in the batch's units: what
    :meth:`Forecaster.quantiles` returns (see there)."""
    cfg = model.config
    chosen = check_levels(levels, cfg.quantiles if cfg.head == "quantile" else SAMPLED_LEVELS)
    if cfg.head == "quantile":
        known = [float(q) for q in cfg.quantiles]
        missing = [q for q in chosen if not any(abs(q - k) < 1e-9 for k in known)]
        if missing:
            raise ValueError(f"this forecaster's quantile head was trained for the levels {known}, not "
                             f"{missing}: ask for some of those, or train with quantiles={sorted(known + missing)}")
        out = model.forward(Batch(x=batch.x, lengths=batch.lengths, future=batch.future)).extras["quantiles"]
        index = [min(range(len(known)), key=lambda i: abs(known[i] - level)) for level in chosen]
        return out[..., index]
    if cfg.head != "gaussian":
        raise ValueError(f"this forecaster has head={cfg.head!r}, a point forecast without a distribution: "
                         "train with head='gaussian' (any levels) or head='quantile' for quantiles")
    return quantiles_of_paths(model.sample, batch, chosen, samples, generator)


__all__ = ["SAMPLED_LEVELS", "check_levels", "forecast_quantiles", "quantiles_of_paths", "sample_paths"]
