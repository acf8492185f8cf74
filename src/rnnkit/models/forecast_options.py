"""A ``Forecaster``'s options: checked when given (:func:`check_options`), and read off a data set,
sizes from its info and the target transforms that its training series suggest (classical rules, as a
statistician would read the series).

:func:`suggested_options` looks at the train split only: a log for a positive series whose level grows
by a factor (:data:`LOG_RATIO`) within an example, and a seasonal difference for a season that is
strong in the training windows (:data:`SEASONAL_ACF`). :func:`dataset_options` fills in what a user
left out, for :meth:`Forecaster.from_dataset`.

Example:
    >>> suggested_options(rnnkit.datasets.load("air_passengers", window=24, horizon=36))
    {'transform': 'log', 'difference': [12]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rnnkit.data.dataset import SequenceDataset
from rnnkit.models.forecast_transforms import TRANSFORMS, check_lags

STRATEGIES = ("direct", "autoregressive")
HEADS = ("point", "gaussian", "quantile")
SEASONAL_ACF = 0.5  # from_dataset differences a season whose lag-m autocorrelation reaches this
LOG_RATIO = 1.5  # ... and takes logs of a positive series whose level moves by this factor in an example


def check_options(*, horizon: int, num_features: int, num_targets: int, num_future: int, strategy: str, head: str,
                  point_loss: str, quantiles: Sequence[float], scaling: str, window: int | None, transform: str,
                  difference: Sequence[int], highway: int) -> tuple[tuple[float, ...], tuple[int, ...], int]:
    """A ValueError that says what to pass when the ``Forecaster``'s options do not fit together, else
    ``(quantiles, difference, highway)`` as the config holds them (floats, int lags, an int)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if num_features < 1 or not 1 <= num_targets <= num_features:
        raise ValueError(f"need 1 <= num_targets <= num_features, got {num_targets} and {num_features}")
    if num_future < 0:
        raise ValueError(f"num_future must be >= 0, got {num_future}")
    for name, value, allowed in (("strategy", strategy, STRATEGIES), ("head", head, HEADS),
                                 ("point_loss", point_loss, ("mse", "mae")),
                                 ("scaling", scaling, ("instance", "none")), ("transform", transform, TRANSFORMS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    levels = tuple(float(q) for q in quantiles)
    if head == "quantile" and (not levels or any(not 0.0 < q < 1.0 for q in levels)):
        raise ValueError(f"quantiles must be a non-empty list of values in (0, 1), got {levels}")
    lags = check_lags(difference)
    if lags and head == "quantile":
        raise ValueError("difference needs head='point' or 'gaussian': quantiles of the differences do not "
                         "add up over the horizon (the Gaussian head's sample() paths do)")
    if window is not None and window <= sum(lags):
        raise ValueError(f"window={window} leaves nothing after difference={list(lags)}; read a window "
                         f"longer than {sum(lags)} steps")
    highway = int(highway)
    if highway < 0:
        raise ValueError(f"highway must be >= 0 (steps read by the linear part; 0: off), got {highway}")
    if highway and strategy != "direct":
        raise ValueError("highway maps the window's last steps to all horizon steps at once: it needs "
                         "strategy='direct'")
    if highway and window is not None and highway > window - sum(lags):
        raise ValueError(f"highway={highway} reads more steps than the window gives the network "
                         f"({window - sum(lags)} = window {window} - difference {list(lags)})")
    return levels, lags, highway


def suggested_options(dataset: SequenceDataset, head: str = "point") -> dict[str, Any]:
    """What the training data suggest for ``transform`` and ``difference`` (only the train split is read):

    * ``transform="log"`` when every target value is positive and, in the median training
      example (window and horizon), the level varies by a factor of :data:`LOG_RATIO` or more
      (growth that scales the season with it, as in AirPassengers);
    * ``difference=[m]`` for a season of ``m`` steps (``info.extra["season_length"]``) that is
      strong in the training windows: autocorrelation at lag ``m`` of the (transformed) first
      differences at least :data:`SEASONAL_ACF`, in windows of at least ``2m`` steps.

    The quantile head takes the transform but no difference (quantiles do not add up).
    """
    if not len(dataset.train):
        return {}
    K = dataset.info.num_targets or 1
    windows = []  # per training example, (K, W + H): each target's window followed by its horizon
    n = len(dataset.train)
    for ex in (dataset.train[i] for i in range(0, n, max(1, n // 256))):  # at most ~256 examples
        if ex.x is None:
            continue
        x = ex.x.double().reshape(ex.x.shape[0], -1)[:, :K]
        if ex.y is not None and ex.y.numel() % K == 0:
            x = torch.cat([x, ex.y.double().reshape(-1, K)])
        windows.append(x.t())
    if not windows:
        return {}
    values = torch.cat([w.reshape(-1) for w in windows])
    out: dict[str, Any] = {}
    positive = bool((values > 0).all()) and bool(torch.isfinite(values).all())
    if positive and float(torch.tensor([float(w.max() / w.min()) for w in windows]).median()) >= LOG_RATIO:
        out["transform"] = "log"
    m = int(dataset.info.extra.get("season_length", 1) or 1)
    if m > 1 and (dataset.info.window is None or dataset.info.window > m):  # the window must outlast the lag
        acfs = []
        for w in windows:
            z = w.log() if out.get("transform") == "log" else w
            for row in z:
                if row.numel() < 2 * m + 1:
                    continue
                d = row.diff()
                a, b = d[m:] - d[m:].mean(), d[:-m] - d[:-m].mean()
                den = float((a.square().sum() * b.square().sum()).sqrt())
                if den > 0:
                    acfs.append(float((a * b).sum()) / den)
        if acfs and sum(acfs) / len(acfs) >= SEASONAL_ACF and head != "quantile":
            out["difference"] = [m]
    return out


def dataset_options(dataset: SequenceDataset, hyper: dict[str, Any],
                    suggested: dict[str, Any]) -> dict[str, Any]:
    """``hyper`` (a user's options, updated in place and returned) with what it leaves out read from
    ``dataset``: ``suggested`` (the transforms), ``horizon``, ``window``, ``num_features`` and
    ``num_targets`` from its info, ``num_future`` from the first training item's ``future``."""
    info = dataset.info
    for key, value in suggested.items():
        hyper.setdefault(key, value)
    first = dataset.train[0] if len(dataset.train) else None
    if "horizon" not in hyper:
        if info.horizon is None:
            raise ValueError(f"dataset {info.name!r} gives no horizon; pass horizon=")
        hyper["horizon"] = info.horizon
    if "num_features" not in hyper:
        if info.num_features is not None:
            hyper["num_features"] = info.num_features
        elif first is not None and first.x is not None:
            hyper["num_features"] = int(first.x.shape[-1]) if first.x.dim() == 2 else 1
    hyper.setdefault("num_targets", info.num_targets or 1)
    hyper.setdefault("window", info.window)
    if "num_future" not in hyper and first is not None and first.future is not None:
        hyper["num_future"] = int(first.future.shape[-1])
    return hyper


__all__ = ["HEADS", "LOG_RATIO", "SEASONAL_ACF", "STRATEGIES", "check_options", "dataset_options", "suggested_options"]
