"""The plan of a cross-validation, before any model trains: the recipe's settings for it
(:func:`cv_spec`), the items each fold holds out (:func:`fold_indices`, stratified for many-to-one
classification), and for a single-series forecaster the origins of a rolling-origin backtest
(:func:`backtest_origins`) over the series before test, with the optimiser steps every origin
trains for (:func:`optimizer_steps`). ``rnnkit bench cv`` (:mod:`rnnkit.bench.cv`) runs the plan."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def fold_indices(n: int, folds: int, *, labels: list[int] | None = None, seed: int = 0) -> list[list[int]]:
    """The valid indices of each of ``folds`` folds over ``n`` items: a seeded shuffle, stratified by
    ``labels`` when every class has at least ``folds`` items (otherwise plain)."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    if folds > n:
        raise ValueError(f"{folds} folds need at least {folds} training items; the recipe's data has {n}")
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = list(range(n))
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} items")
        smallest = min(labels.count(c) for c in set(labels))
        if smallest >= folds:
            skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            return [sorted(int(i) for i in v) for _, v in skf.split(idx, labels)]
    kf = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [sorted(int(i) for i in v) for _, v in kf.split(idx)]


def _class_labels(dataset: Any, examples: list[Any]) -> list[int] | None:
    """Each item's class for stratification: many-to-one classification with a scalar target only."""
    if dataset.info.task != "classification" or dataset.info.shape != "many-to-one":
        return None
    if any(e.y is None or e.y.dim() != 0 for e in examples):
        return None
    return [int(e.y) for e in examples]


def cv_spec(spec: Any, *, model_options: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
            ensemble: int | None = None, data_options: dict[str, Any] | None = None) -> Any:
    """A copy of the recipe ``spec`` with the overrides, trained for its fixed epochs (no early
    stopping, final weights) and never on test. A fold's valid split is the data it is scored on, so
    nothing may read it while the fold trains: ``early_stopping`` is dropped, ``restore_best`` is off
    and ``monitor`` is ``train_loss`` (what ``schedule: plateau`` steps on; a backtest fold has no
    valid split for a recipe's ``monitor: valid_mae`` to read)."""
    settings = {**spec.train, **(train or {})}
    settings.pop("early_stopping", None)
    settings["restore_best"] = False
    settings["monitor"] = "train_loss"
    return dataclasses.replace(
        spec, train=settings, model_options={**spec.model_options, **(model_options or {})},
        data_options={**spec.data_options, **(data_options or {})},
        ensemble=spec.ensemble if ensemble is None else ensemble)


def check_train_keys(train: dict[str, Any]) -> None:
    """Refuse, before any data loads, a ``--train`` key that is no Trainer setting, naming the valid ones."""
    from rnnkit.train.trainer import TrainerConfig

    valid = sorted(f.name for f in dataclasses.fields(TrainerConfig))
    unknown = sorted(set(train) - set(valid))
    if unknown:
        raise ValueError(f"--train {', '.join(unknown)}: not a Trainer setting; the settings are {', '.join(valid)}")


def backtest_origins(n: int, folds: int, step: int, *, window: int, horizon: int) -> list[int]:
    """The forecast origins of a rolling-origin backtest over the first ``n`` steps, earliest first:
    ``folds`` of them, ``step``, ``2 * step`` .. ``folds * step`` steps before ``n``. An origin is the
    first step a fold forecasts; the steps before it must hold one window plus one horizon."""
    if folds < 1:
        raise ValueError(f"a backtest needs at least 1 origin, got --folds {folds}")
    if step < 1:
        raise ValueError(f"--origin-step must be >= 1, got {step}")
    origins = [n - k * step for k in range(folds, 0, -1)]
    if origins[0] < window + horizon:
        fit = max(0, (n - window - horizon) // step)
        raise ValueError(f"{folds} origins {step} steps apart reach back to step {origins[0]} of {n}, but a fold "
                         f"needs window + horizon = {window + horizon} training steps before its origin; "
                         f"at most {fit} fit (fewer --folds or a smaller --origin-step)")
    return origins


def many_series(name: str) -> str:
    """Why the data set ``name`` is not backtested: it holds many series, or none with a split."""
    return (f"{name}: a backtest needs one series and its split, as the single-series forecasting sets have "
            "(air_passengers, sunspots, co2, taylor); a set of many series (m1_yearly) is not backtested: its "
            "recipe's valid windows are each series' own")


def registered_many_series(name: str) -> bool:
    """Whether the registry says that the bundled set ``name`` holds many series (``num_series`` in its
    info): :func:`many_series` then refuses it before its load (m1_yearly's took 4.7 s)."""
    from rnnkit.data.datasets import registry

    return name in registry.names() and int(registry.info(name).extra.get("num_series", 1)) > 1


def _training_series(ds: Any) -> tuple[Any, dict[str, Any]]:
    """The data set's one series cut where test begins (nothing after it is kept), and the extras
    without the whole series, its split and its scaler (a fold makes its own)."""
    series, split = ds.extras.get("series"), ds.extras.get("split")
    if series is None or split is None or isinstance(series, dict) or not hasattr(series, "iloc"):
        raise ValueError(many_series(ds.info.name))
    rest = {k: v for k, v in ds.extras.items() if k not in ("series", "split", "scaler", "missing")}
    return series.iloc[: int(split.test.start)], rest


def _origin_label(series: Any, origin: int) -> str:
    """The last step before ``origin``, as a date where the series has them."""
    stamp = series.index[origin - 1]
    return str(stamp.date()) if hasattr(stamp, "date") else str(origin - 1)


def optimizer_steps(train: dict[str, Any], n: int) -> int:
    """The optimiser steps that the Trainer settings ``train`` take over ``n`` training items."""
    from rnnkit.train.trainer import TrainerConfig

    cfg = TrainerConfig(**train)
    steps = cfg.epochs * math.ceil(math.ceil(n / cfg.batch_size) / cfg.accumulate)
    return steps if cfg.max_steps is None else min(steps, cfg.max_steps)


__all__ = ["backtest_origins", "check_train_keys", "cv_spec", "fold_indices", "optimizer_steps"]
