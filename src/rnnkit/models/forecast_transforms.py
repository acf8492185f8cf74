"""Target transforms of the ``Forecaster``: Box-Cox (log) and differencing, each with its exact inverse;
the maps between a raw window and the network's space (:func:`to_model_space`, :func:`to_series_space`,
:func:`window_stats` for instance scaling);
and the standardisation statistics of its known-future covariates (:func:`future_statistics`).

The model works on ``w = D_{m_k} ... D_{m_1} g(y)``: ``g`` is the Box-Cox transform (Box & Cox 1964;
``lam = 0`` is the log, which turns a multiplicative season into an additive one), and ``D_m`` the
lag-``m`` difference ``D_m s_t = s_t - s_{t-m}`` (``m = 1`` removes a trend, ``m = season`` a stable
season), applied in the order given. Forecasts of ``w`` are mapped back by undoing each difference
over the horizon from the window's last ``m`` values (the "heads"), last lag first, then ``g``.

All functions are pure and act on ``(B, T, K)`` tensors; windows are right-padded with ``lengths``.

Example:
    >>> w, lengths, heads = difference_window(box_cox(x, 0.0), (12,), None)
    >>> y = inverse_box_cox(undifference(w_future, heads, (12,)), 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batch import Example, lengths_to_mask

if TYPE_CHECKING:
    from rnnkit.models.forecast_config import ForecasterConfig

TRANSFORMS = ("none", "log", "boxcox")
SCALE_FLOOR = 1e-5  # the least std a window is divided by (instance scaling)
CONSTANT_STD = 1e-5  # a covariate column whose std is below this is constant: it is centred, not divided


def box_cox(x: Tensor, lam: float) -> Tensor:
    """``(x**lam - 1) / lam``, or ``log x`` when ``lam == 0``; ``x`` must be > 0."""
    return torch.log(x) if lam == 0 else (x.pow(lam) - 1) / lam


def inverse_box_cox(z: Tensor, lam: float) -> Tensor:
    """The inverse of :func:`box_cox`; a forecast below the transform's range maps to 0."""
    if lam == 0:
        return torch.exp(z)
    return (lam * z + 1).clamp_min(0).pow(1 / lam)


def _last_steps(s: Tensor, lengths: Tensor | None, m: int) -> Tensor:
    """The last ``m`` valid steps of each window: ``(B, T, K)`` -> ``(B, m, K)``."""
    if lengths is None:
        return s[:, -m:]
    index = (lengths.to(s.device)[:, None] - m + torch.arange(m, device=s.device))  # (B, m)
    return s.gather(1, index[..., None].expand(-1, -1, s.shape[-1]))


def difference_window(s: Tensor, lags: Sequence[int], lengths: Tensor | None
                      ) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """Difference a window ``(B, T, K)`` at each lag in turn.

    Returns ``(w (B, T - sum(lags), K), lengths - sum(lags), heads)``: ``heads[i]`` ``(B, m_i, K)`` are
    the last ``m_i`` valid values of the series that lag ``i`` differenced, what its inverse starts
    from. Right padding stays on the right: a valid difference only reads valid steps.
    """
    heads = []
    for m in lags:
        heads.append(_last_steps(s, lengths, m))
        s = s[:, m:] - s[:, :-m]  # (B, T - m, K)
        lengths = None if lengths is None else lengths - m
    return s, lengths, heads


def difference_future(y: Tensor, heads: Sequence[Tensor]) -> Tensor:
    """The differenced values of a window's future ``y`` ``(B, H, K)``, continuing from ``heads`` (the
    lag of each difference is its head's length)."""
    for head in heads:
        full = torch.cat([head, y], dim=1)  # (B, m + H, K)
        y = y - full[:, : y.shape[1]]
    return y


def undifference(w: Tensor, heads: Sequence[Tensor], lags: Sequence[int]) -> Tensor:
    """Invert :func:`difference_future` over the horizon: ``s_t = w_t + s_{t-m}``, last lag first.

    For one lag the recursion is a cumulative sum over blocks of ``m`` steps started at the head.
    """
    for m, head in zip(reversed(lags), reversed(heads)):
        B, H, K = w.shape
        blocks = -(-H // m)  # ceil(H / m)
        padded = torch.cat([w, w.new_zeros(B, blocks * m - H, K)], dim=1)
        w = (padded.view(B, blocks, m, K).cumsum(1) + head[:, None]).view(B, blocks * m, K)[:, :H]
    return w


def check_lags(lags: Sequence[int]) -> tuple[int, ...]:
    """Lags as a tuple of positive ints, or a ValueError that says what to pass."""
    out = tuple(int(m) for m in lags)
    if any(m < 1 or m != lag for m, lag in zip(out, lags)):
        raise ValueError(f"difference must be a list of positive integer lags, e.g. [1] or [12] or [1, 12], "
                         f"got {list(lags)}")
    return out


def target_lambda(cfg: ForecasterConfig) -> float:
    """The Box-Cox ``lam`` of a forecaster's targets: 0 for ``transform="log"``, else ``boxcox_lambda``."""
    return 0.0 if cfg.transform == "log" else cfg.boxcox_lambda


def transform_targets(t: Tensor, cfg: ForecasterConfig, what: str) -> Tensor:
    """Box-Cox / log of target values (``what`` names them in the error for values <= 0)."""
    if cfg.transform == "none":
        return t
    if not torch.compiler.is_compiling() and (t <= 0).any():
        rows = (t <= 0).flatten(1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"transform={cfg.transform!r} needs target values > 0, but {what} of batch "
                         f"items {rows[:10]} has values <= 0; shift the series or use transform='none'")
    return box_cox(t, target_lambda(cfg))


def to_model_space(x: Tensor, lengths: Tensor | None, cfg: ForecasterConfig
                   ) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """Raw window ``(B, T, F)`` -> the window the network reads (targets transformed, then
    differenced; past covariates cut to the same steps), its lengths, and the heads that invert
    the differences."""
    if cfg.transform == "none" and not cfg.difference:
        return x, lengths, []
    K, short = cfg.num_targets, sum(cfg.difference)
    target, rest = x[..., :K], x[..., K:]
    if cfg.transform != "none" and lengths is not None:  # right padding is no data: keep it out of the log
        valid = lengths_to_mask(lengths, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
        target = torch.where(valid, target, torch.ones_like(target))
    target = transform_targets(target, cfg, "the input window")
    heads: list[Tensor] = []
    if cfg.difference:
        # traced (torch.export) the lengths are symbolic: the check is the exported program's caller's
        n = x.shape[1] if lengths is None or torch.compiler.is_compiling() else int(lengths.min())
        if n <= short:
            raise ValueError(f"a window of {n} steps is too short for difference={list(cfg.difference)}: "
                             f"it needs more than {short} steps; pass a longer series or window")
        target, lengths, heads = difference_window(target, cfg.difference, lengths)
        rest = rest[:, short:]
    return torch.cat([target, rest], dim=-1), lengths, heads


def to_series_space(w: Tensor, heads: list[Tensor], cfg: ForecasterConfig) -> Tensor:
    """Forecasts ``(B, H, K[, Q])`` in the network's space -> the series' units."""
    if heads:
        w = undifference(w, heads, cfg.difference)
    return w if cfg.transform == "none" else inverse_box_cox(w, target_lambda(cfg))


def window_stats(x: Tensor, lengths: Tensor | None, scaling: str) -> tuple[Tensor, Tensor]:
    """Per-window, per-column mean and std over valid steps: two ``(B, 1, F)`` tensors (instance
    scaling, RevIN-like, Kim et al. 2022); ``scaling="none"``: 0 and 1."""
    if scaling == "none":
        return torch.zeros_like(x[:, :1]), torch.ones_like(x[:, :1])
    m = (torch.ones_like(x[..., 0]) if lengths is None else lengths_to_mask(lengths, x.shape[1]).to(x))
    m = m.unsqueeze(-1)  # (B, T, 1)
    n = m.sum(1, keepdim=True)
    mean = (x * m).sum(1, keepdim=True) / n
    var = ((x - mean) ** 2 * m).sum(1, keepdim=True) / n
    return mean, var.sqrt().clamp_min(SCALE_FLOOR)  # a floor, not var + eps: scaling stays exact (a*s+b)


def future_statistics(future: Tensor | np.ndarray | Iterable[Example | Tensor | np.ndarray],
                      num_future: int) -> tuple[Tensor, Tensor]:
    """Per-column mean and std ``(C,)`` of known-future covariates, what the ``Forecaster``
    standardises them with (as a Keras ``Normalization`` layer's ``adapt``): ``(f - mean) / std``.

    Args:
        future: an array ``(..., C)`` (e.g. ``(N, H, C)``: every row counts), or an iterable of
            training :class:`Example` (their ``future``) or of arrays ``(..., C)``.
        num_future: ``C``, the covariates the model reads.

    Returns:
        ``(mean, std)``, float32; std is the population std (``ddof=0``), computed in float64, and 1
        for a constant column (std below :data:`CONSTANT_STD`), which is then only centred.
    """
    parts: list[tuple[str, Tensor | np.ndarray]] = []  # (what it is, in an error message; its values)
    if isinstance(future, Tensor | np.ndarray):
        parts.append(("the covariates", future))
    else:
        for i, item in enumerate(future):
            if isinstance(item, Example):
                if item.future is None:
                    raise ValueError(f"example {i} has no future covariates (its future is None), but the model "
                                     f"reads {num_future}; give every training example its known-future values")
                parts.append((f"the future of example {i}", item.future))
            else:
                parts.append((f"item {i} of the covariates", item))
    rows = []
    for what, part in parts:
        t = torch.as_tensor(part, dtype=torch.float64).detach().cpu()
        if t.dim() == 0 or t.shape[-1] != num_future:
            raise ValueError(f"{what} must be (..., {num_future}), one column per known-future covariate the "
                             f"model reads (num_future={num_future}), got shape {tuple(t.shape)}")
        rows.append(t.reshape(-1, num_future))
    values = torch.cat(rows) if rows else torch.zeros(0, num_future, dtype=torch.float64)  # (N, C)
    if values.shape[0] == 0:
        raise ValueError("no covariate values to compute the statistics from: pass at least one row")
    if not torch.isfinite(values).all():
        raise ValueError("the covariates hold NaN or infinity: fill them first (rnnkit.data.windows.fill_missing)")
    mean = values.mean(0)
    std = values.std(0, correction=0)
    std = torch.where(std < CONSTANT_STD, torch.ones_like(std), std)
    return mean.float(), std.float()


__all__ = ["CONSTANT_STD", "SCALE_FLOOR", "TRANSFORMS", "box_cox", "check_lags", "difference_future",
           "difference_window", "future_statistics", "inverse_box_cox", "target_lambda", "to_model_space",
           "to_series_space", "transform_targets", "undifference", "window_stats"]
