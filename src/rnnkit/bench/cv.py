"""``rnnkit bench cv``: k-fold cross-validation of a recipe on its training data, for choosing settings
on data sets too small for one valid split to tell them apart.

    rnnkit bench cv japanese_vowels                             # 5 folds of train, the recipe as is
    rnnkit bench cv japanese_vowels --set hidden_size=128 --train epochs=80 --ensemble 3
    rnnkit bench cv italy_power_demand --folds 10 --json --out runs/cv/italy.jsonl
    rnnkit bench cv arrowhead --folds 6 --jobs 2 --threads 1     # two folds at a time
    rnnkit bench cv arrowhead --folds 6 --repeats 3              # 3 fold assignments: 108 predictions
    rnnkit bench cv arrowhead --set "conv_kernel_sizes=[32,16,8]" --paired   # the change against the recipe

The recipe's training items (its ``train`` and ``valid`` splits pooled) are cut into ``--folds``
folds, stratified by class for many-to-one classification; each fold in turn is the valid set of a
model trained on the others, from the same model seed. Every item is scored once, so a 270-item set
gives 270 held-out predictions where a 20% carve gives 54. Each fold trains for the recipe's fixed
epoch count and is scored with its final weights: ``early_stopping`` and ``restore_best`` are
switched off, because picking the epoch on the fold that scores it would flatter the estimate.
The mean valid curve over folds (``curve``) shows where more or fewer epochs would have led.
``--repeats R`` repeats the whole cross-validation with R fold assignments (split seeds ``S .. S+R-1``,
repeated k-fold): every item is then scored R times, by models that saw different companions, which
steadies the estimate on sets so small that one item moves it by whole points. ``--paired`` runs the
recipe as it is on the same folds beside the ``--set`` / ``--train`` change and says which items the
change fixes and which it breaks, with a two-sided sign test over them: a gain made of one or two
items is weak evidence however many repeats score it (the items are the same in every repeat).
Test is never loaded into a model or scored: the folds come from training data only.
``--jobs J`` trains J folds at a time in spawned worker processes; a fold's result does not depend on J.

Single-series forecasting recipes get a rolling-origin backtest instead, because shuffled folds of
windows would train on the future of the windows they score (a set of many series, m1_yearly, has
neither)::

    rnnkit bench cv air_passengers --folds 3                    # origins 1954-12, 1955-12, 1956-12
    rnnkit bench cv air_passengers --folds 3 --repeats 5 --set hidden_size=64 --paired
    rnnkit bench cv air_passengers --folds 3 --data-option window=36 --plot runs/cv/air.png

The ``K`` = ``--folds`` forecast origins lie ``S``, ``2S`` .. ``KS`` steps before the end of the
training series, where test begins (``S`` = ``--origin-step``, default the season length, else the
horizon). Each fold trains a model from scratch on the windows whose targets all lie before that origin, and
forecasts from the ``window`` steps that end there. It is scored, in the data set's metric, on the
steps from the origin up to the horizon or the end of the training series, whichever comes first:
with a 36-month horizon and 12-month steps the three folds score 36, 24 and 12 months, and the
pooled metric is taken over all the scored steps. The latest origins see the most training windows,
as the final model does; the earliest must still leave one window plus one horizon before them.
Every fold trains for as many optimiser steps as the recipe takes on the whole training series
(its epochs stretched to match), so that an early origin with few windows is not also under-trained.
Nothing after the training series is read. Here ``--repeats R`` retrains every fold from model seeds
``seed .. seed+R-1`` (the origins do not move), which separates a setting's effect from a seed's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HELP = ("k-fold cross-validation of a recipe on its training data, a rolling-origin backtest for single-series "
        "forecasting (test is never scored)")


@dataclass
class FoldResult:
    """One fold: its size, headline metric, valid loss, the valid metric by epoch and the time spent."""

    fold: int  # within its repeat
    n_valid: int
    value: float
    loss: float | None
    curve: list[float]
    cpu_s: float
    wall_s: float
    wrong: list[int] = field(default_factory=list)  # pooled indices a classifier got wrong
    repeat: int = 0  # which fold assignment (split seed = split_seed + repeat); a backtest: model seed + repeat
    origin: str = ""  # a backtest fold: the last step its model trained on (a date where the series has them)
    forecast: list[float] = field(default_factory=list)  # a backtest fold: its forecast of the scored steps


@dataclass
class CVResult:
    """Every fold of one cross-validation run, and their summary."""

    dataset: str
    metric: str
    higher_is_better: bool
    folds: list[FoldResult]
    mean: float
    std: float
    pooled: float  # the metric over all held-out predictions at once (folds weighted by size)
    curve: list[float]  # the mean valid metric by epoch over folds
    settings: dict[str, Any]
    device: str
    date: str = ""
    itemwise: bool = False  # classification of whole sequences: the folds list the items they got wrong
    backtest: bool = False  # forecasting: the folds are forecast origins (see the module docstring)

    @property
    def best_epoch(self) -> int:
        """The epoch (1-based) of the best mean valid metric: a guide for ``epochs``, not a selection."""
        if not self.curve:
            return 0
        pick = max if self.higher_is_better else min
        return self.curve.index(pick(self.curve)) + 1


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


def _wrong(model: Any, fold_ds: Any, valid_idx: list[int]) -> list[int]:
    """The pooled indices of the fold's items that ``model`` classifies wrongly."""
    from rnnkit.report.predictions import predict_split

    truth, predicted = predict_split(model, fold_ds.valid, fold_ds.collate)
    return [i for i, t, p in zip(valid_idx, truth.reshape(-1), predicted.reshape(-1), strict=True) if p != t]


def cv_spec(spec: Any, *, model_options: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
            ensemble: int | None = None, data_options: dict[str, Any] | None = None) -> Any:
    """A copy of the recipe ``spec`` with the overrides, trained for its fixed epochs (no early
    stopping, final weights) and never on test."""
    settings = {**spec.train, **(train or {})}
    settings.pop("early_stopping", None)
    settings["restore_best"] = False
    return dataclasses.replace(
        spec, train=settings, model_options={**spec.model_options, **(model_options or {})},
        data_options={**spec.data_options, **(data_options or {})},
        ensemble=spec.ensemble if ensemble is None else ensemble)


def _fold_result(spec: Any, info: Any, pool: list[Any], labels: list[int] | None, collate: Any, extras: Any,
                 k: int, valid_idx: list[int], seed: int, repeat: int = 0) -> FoldResult:
    """Train ``spec``'s model on the pool without fold ``k`` and score it on fold ``k``."""
    from rnnkit.cli.runspec import build_model
    from rnnkit.data.dataset import ExampleList, SequenceDataset
    from rnnkit.train import Trainer
    from rnnkit.train.evaluation import evaluate_split
    from rnnkit.train.trainer import seed_everything

    held = set(valid_idx)
    fold_ds = SequenceDataset(dataclasses.replace(info, sizes=dict(info.sizes)),
                              ExampleList([e for i, e in enumerate(pool) if i not in held]),
                              ExampleList([pool[i] for i in valid_idx]), ExampleList([]),
                              collate=collate, extras=extras)
    metric = info.metric or "loss"
    column = f"valid_{metric}"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    seed_everything(seed)
    model = build_model(spec, fold_ds)
    history = Trainer(**{**spec.train, "seed": seed, "progress": False, "run_dir": None,
                         "evaluate_test": False}).fit(model, fold_ds)
    scores = evaluate_split(model, fold_ds.valid.examples, fold_ds.info, collate_fn=fold_ds.collate,
                            extras=fold_ds.extras)
    wrong = [] if labels is None else _wrong(model, fold_ds, valid_idx)
    curve = [float(v) for v in history.column(column)] if column in history.rows[-1] else []
    return FoldResult(k, len(valid_idx), float(scores.get(metric, scores.get("loss", float("nan")))),
                      scores.get("loss"), curve, time.process_time() - cpu0, time.perf_counter() - wall0, wrong, repeat)


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


def _training_series(ds: Any) -> tuple[Any, dict[str, Any]]:
    """The data set's one series cut where test begins (nothing after it is kept), and the extras
    without the whole series, its split and its scaler (a fold makes its own)."""
    series, split = ds.extras.get("series"), ds.extras.get("split")
    if series is None or split is None or isinstance(series, dict) or not hasattr(series, "iloc"):
        raise ValueError(f"{ds.info.name}: a backtest needs one series and its split, as the single-series "
                         "forecasting sets have (air_passengers, sunspots, co2, taylor); a set of many series "
                         "(m1_yearly) is not backtested: its recipe's valid windows are each series' own")
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


def _backtest_fold(spec: Any, info: Any, series: Any, extras: Any, collate: Any, k: int, origin: int, seed: int,
                   steps: int, repeat: int = 0) -> FoldResult:
    """Train ``spec``'s model on the windows that end before ``origin``, for ``steps`` optimiser steps
    whatever their number, and score its forecast from there."""
    import numpy as np
    import torch

    from rnnkit.bench.baselines_series import forecast_scorer
    from rnnkit.cli.runspec import build_model
    from rnnkit.data.batch import Batch
    from rnnkit.data.dataset import ExampleList, SequenceDataset
    from rnnkit.data.scalers import StandardScaler
    from rnnkit.data.windows import ChronoSplit, Segment, make_windows
    from rnnkit.train import Trainer
    from rnnkit.train.trainer import seed_everything

    values = np.asarray(series.to_numpy(), dtype=np.float64)
    n, window, horizon = len(values), int(info.window), int(info.horizon)
    train = make_windows(values, window=window, horizon=horizon, stride=int(info.extra.get("stride", 1)),
                         targets=0, segment=Segment(0, origin), meta={"series": info.name})
    seen = Segment(0, origin)
    fold_extras = {**extras, "series": series.iloc[:origin], "scaler": StandardScaler().fit(values[:origin]),
                   "split": ChronoSplit(seen, Segment(origin, origin), Segment(origin, origin))}
    fold_ds = SequenceDataset(dataclasses.replace(info, sizes=dict(info.sizes)), ExampleList(train),
                              ExampleList([]), ExampleList([]), collate=collate, extras=fold_extras)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    seed_everything(seed + repeat)
    model = build_model(spec, fold_ds)
    per_epoch = max(1, optimizer_steps({**spec.train, "epochs": 1, "max_steps": None}, len(train)))
    Trainer(**{**spec.train, "epochs": math.ceil(steps / per_epoch), "max_steps": steps, "seed": seed + repeat,
               "progress": False, "run_dir": None, "evaluate_test": False}).fit(model, fold_ds)
    h = min(horizon, n - origin)
    x = torch.tensor(values[origin - window: origin], dtype=torch.float32).reshape(1, window, -1)
    model.eval()
    with torch.no_grad():
        prediction = model.predict(Batch(x=x.to(model.device))).float().cpu().reshape(-1)[:h].numpy()
    value = forecast_scorer(info, [(values, origin)], h)([prediction])
    return FoldResult(k, h, value, None, [], time.process_time() - cpu0, time.perf_counter() - wall0,
                      [], repeat, _origin_label(series, origin), prediction.tolist())


_WORKER: dict[str, Any] = {}  # in a worker: what every fold needs, sent once


def _worker_setup(args: dict[str, Any]) -> None:
    _WORKER.update(args)


def pooled_value(metric: str, folds: list[tuple[float, int]]) -> float:
    """The metric over every fold's predictions from each fold's ``(value, count)``: a count-weighted
    mean for the means (accuracy, MAE, MAPE), and for a root of a mean (RMSE) the root of the weighted
    mean of squares (the weighted mean of fold RMSEs is not the RMSE of the whole)."""
    total = sum(n for _, n in folds)
    if metric.lower().endswith("rmse"):
        return math.sqrt(sum(v * v * n for v, n in folds) / total)
    return sum(v * n for v, n in folds) / total


def _run_fold(task: tuple[int, int, Any], common: dict[str, Any]) -> FoldResult:
    """One task ``(repeat, fold, valid indices or a backtest origin)`` with what every fold shares."""
    repeat, k, where = task
    if isinstance(where, int):
        return _backtest_fold(repeat=repeat, k=k, origin=where, **common)
    return _fold_result(repeat=repeat, k=k, valid_idx=where, **common)


def _worker_fold(task: tuple[int, int, Any]) -> FoldResult:
    return _run_fold(task, _WORKER)


def cross_validate(spec: Any, *, folds: int = 5, seed: int = 0, split_seed: int = 0, dataset: Any = None,
                   log: Any = None, jobs: int = 1, repeats: int = 1, origin_step: int | None = None) -> CVResult:
    """Train ``spec``'s model on each fold's complement of the training data and score it on the fold.

    ``spec`` is used as given (see :func:`cv_spec` for the recipe-to-CV settings); ``seed`` seeds each
    fold's initial weights and Trainer, ``split_seed`` the folds; ``repeats`` > 1 runs it all again with
    split seeds ``split_seed + 1 ..`` (the result lists every repeat's folds, in order). ``dataset``
    (already loaded) saves reloading; only its ``train`` and ``valid`` splits are read. ``jobs`` > 1
    trains that many folds at a time in spawned worker processes (each with this process's torch
    thread count), which get the pooled training items; the results are those of ``jobs=1``.

    A forecasting data set is backtested instead (module docstring): ``folds`` origins
    ``origin_step`` apart (default: the season length, else the horizon), and ``repeats`` retrain
    them from model seeds ``seed + 1 ..``; only the series before test is read.
    """
    from rnnkit.bench.accuracy import device_name
    from rnnkit.cli.runspec import load_data
    from rnnkit.train.history import lower_is_better

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    ds = dataset if dataset is not None else load_data(spec)
    metric = ds.info.metric or "loss"
    higher = not lower_is_better(metric)
    labels: list[int] | None = None
    settings: dict[str, Any] = {}
    common: dict[str, Any] = {"spec": spec, "info": ds.info, "collate": ds.collate, "seed": seed}
    tasks: list[tuple[int, int, Any]]
    if ds.info.task == "forecasting":
        series, extras = _training_series(ds)
        season = int(ds.info.extra.get("season_length") or 1)
        step = origin_step if origin_step is not None else (season if season > 1 else int(ds.info.horizon))
        origins = backtest_origins(len(series), folds, step, window=int(ds.info.window), horizon=int(ds.info.horizon))
        tasks = [(r, k, origin) for r in range(repeats) for k, origin in enumerate(origins)]
        steps = optimizer_steps(spec.train, len(ds.train) + len(ds.valid))
        common.update(series=series, extras=extras, steps=steps)
        settings = {"origin_step": step, "origins": [_origin_label(series, o) for o in origins],
                    "origin_index": origins, "steps": steps}
    else:
        if origin_step is not None:
            raise ValueError("--origin-step is for forecasting backtests; this data set is cut into folds")
        pool = list(ds.train.examples) + list(ds.valid.examples)
        labels = _class_labels(ds, pool)
        tasks = [(r, k, valid_idx) for r in range(repeats)
                 for k, valid_idx in enumerate(fold_indices(len(pool), folds, labels=labels, seed=split_seed + r))]
        common.update(pool=pool, labels=labels, extras=ds.extras)
    results: list[FoldResult] = []

    def report(result: FoldResult) -> None:
        results.append(result)
        if log is not None:
            where = f"repeat {result.repeat + 1}/{repeats} " if repeats > 1 else ""
            origin = f" (origin after {result.origin})" if result.origin else ""
            print(f"[cv] {ds.info.name} {where}fold {result.fold + 1}/{folds}{origin}: {metric} {result.value:.4f} "
                  f"(n={result.n_valid}, {result.cpu_s:.0f} CPU s)", file=log, flush=True)

    if jobs == 1:
        for task in tasks:
            report(_run_fold(task, common))
    else:
        from contextlib import closing

        from rnnkit.bench.workers import run_in_workers

        # an Example pickles only its own data, not a corpus it views
        with closing(run_in_workers(_worker_fold, tasks, jobs=jobs, setup=_worker_setup,
                                    setup_args=(common,))) as finished:
            for result in finished:
                report(result)
        results.sort(key=lambda r: (r.repeat, r.fold))
    values = [r.value for r in results]
    pooled = pooled_value(metric, [(r.value, r.n_valid) for r in results])
    length = min((len(r.curve) for r in results), default=0)
    curve = [statistics.fmean(r.curve[e] for r in results) for e in range(length)]
    settings = {"folds": folds, "repeats": repeats, "seed": seed, "split_seed": split_seed, "ensemble": spec.ensemble,
                "model_options": spec.model_options, "train": spec.train, "data_options": spec.data_options,
                **settings}
    return CVResult(ds.info.name, metric, higher, results, statistics.fmean(values),
                    statistics.stdev(values) if len(values) > 1 else 0.0, pooled, curve, settings,
                    device_name(min(jobs, len(tasks))), time.strftime("%Y-%m-%d"), labels is not None,
                    ds.info.task == "forecasting")


def plot_backtest(result: CVResult, dataset: Any, path: str | Path) -> Path:
    """Draw a backtest's forecasts over the training series of ``dataset`` (the one it ran on)."""
    from rnnkit.report import plots

    if not result.backtest:
        raise ValueError("--plot draws a forecasting backtest; this run cut classification folds")
    series, _ = _training_series(dataset)
    origins = [int(o) for o in result.settings["origin_index"]]
    by_origin = [(o, [f.forecast for f in result.folds if f.fold == k]) for k, o in enumerate(origins)]
    return plots.backtest(series.to_numpy(), by_origin, path, times=series.index,
                          title=f"{result.dataset}: backtest, pooled {result.metric} {result.pooled:.2f}",
                          ylabel=str(series.name or "value"))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least as uneven as ``wins`` : ``losses``
    if either side were equally likely (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def compare(base: CVResult, change: CVResult) -> dict[str, Any]:
    """``change`` against ``base`` on the same folds: for classifiers the items each one misses more
    often (``fixed``: the change misses them less; ``broken``: more; item -> (base misses, change
    misses)), otherwise the folds whose metric got better or worse; the sign test over those."""
    if [(f.repeat, f.fold, f.n_valid) for f in base.folds] != [(f.repeat, f.fold, f.n_valid) for f in change.folds]:
        raise ValueError("a paired comparison needs the same folds on both sides")
    out: dict[str, Any] = {"delta": change.pooled - base.pooled}
    if base.itemwise and change.itemwise:
        missed_b = Counter(i for f in base.folds for i in f.wrong)
        missed_c = Counter(i for f in change.folds for i in f.wrong)
        items = sorted(set(missed_b) | set(missed_c))
        out["fixed"] = {i: (missed_b[i], missed_c[i]) for i in items if missed_c[i] < missed_b[i]}
        out["broken"] = {i: (missed_b[i], missed_c[i]) for i in items if missed_c[i] > missed_b[i]}
        out["unit"] = "items"
    else:
        sign = 1 if base.higher_is_better else -1
        pairs = [(f"{b.repeat + 1}.{b.fold + 1}", sign * (c.value - b.value)) for b, c in zip(base.folds, change.folds)]
        out["fixed"] = {k: d for k, d in pairs if d > 0}
        out["broken"] = {k: d for k, d in pairs if d < 0}
        out["unit"] = "folds"
    out["p_sign"] = sign_test(len(out["fixed"]), len(out["broken"]))
    return out


def compare_text(base: CVResult, change: CVResult, paired: dict[str, Any]) -> str:
    """The paired comparison in a few lines."""
    unit = paired["unit"]
    lines = [f"paired: the change {paired['delta']:+.4f} pooled {base.metric} "
             f"({base.pooled:.4f} -> {change.pooled:.4f})"]
    for key in ("fixed", "broken"):
        found = paired[key]
        if unit == "items":
            shown = ", ".join(f"{i} ({b} -> {c} of {base.settings.get('repeats', 1)})" for i, (b, c) in found.items())
        else:
            shown = ", ".join(f"{k} ({d:+.4f})" for k, d in found.items())
        lines.append(f"  {key}: {len(found)} {unit}" + (f": {shown}" if shown else ""))
    lines.append(f"  sign test over the {unit} that changed: p = {paired['p_sign']:.3g} (two-sided)")
    return "\n".join(lines)


def to_text(result: CVResult) -> str:
    """A short plain-text table of the folds and their summary."""
    repeats = int(result.settings.get("repeats", 1))
    folds = len(result.folds) // repeats
    if result.backtest:
        kind = (f"rolling-origin backtest, {folds} origins {result.settings.get('origin_step')} steps apart"
                + (f", {repeats} model seeds each," if repeats > 1 else ""))
    else:
        kind = f"{folds}-fold cross-validation" + (f", repeated {repeats} times," if repeats > 1 else "")
    lines = [f"{result.dataset}: {kind} on train ({result.metric}, final weights; {result.device})",
             f"{'fold':>6} {'n':>5} {result.metric:>10} {'loss':>8} {'CPU s':>7}"
             + ("  trained to" if result.backtest else "")]
    for r in result.folds:
        loss = "" if r.loss is None else f"{r.loss:.4f}"
        name = f"{r.repeat + 1}.{r.fold + 1}" if repeats > 1 else str(r.fold + 1)
        lines.append(f"{name:>6} {r.n_valid:>5} {r.value:>10.4f} {loss:>8} {r.cpu_s:>7.0f}"
                     + (f"  {r.origin}" if r.origin else ""))
    n = sum(r.n_valid for r in result.folds)
    unit = "steps" if result.backtest else "items"
    lines.append(f"mean {result.mean:.4f} ± {result.std:.4f}; pooled {result.pooled:.4f} over {n} "
                 + (f"predictions ({n // repeats} {unit} x {repeats})" if repeats > 1 else unit))
    if result.curve:
        best = result.best_epoch
        lines.append(f"mean valid {result.metric} by epoch: best {result.curve[best - 1]:.4f} at epoch {best} "
                     f"of {len(result.curve)} (final {result.curve[-1]:.4f})")
    wrong = sorted(i for r in result.folds for i in r.wrong)
    if wrong and repeats > 1:
        counts = Counter(wrong)
        lines.append(f"wrong (pooled item index: times of {repeats}): "
                     + ", ".join(f"{i}: {counts[i]}" for i in sorted(counts)))
    elif wrong:
        lines.append(f"wrong (pooled item indices): {wrong}")
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="a data set with a recipe (`rnnkit bench accuracy` lists them)")
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="model seed of every fold (default 0)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    parser.add_argument("--repeats", type=int, default=1, metavar="R",
                        help="repeat with R fold assignments, split seeds S..S+R-1 (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model option of the recipe (value read as YAML)")
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE", dest="data_option",
                        help="override a data option of the recipe, e.g. --data-option window=36 (a forecaster)")
    parser.add_argument("--train", "--train-option", dest="train", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training setting of the recipe, e.g. --train epochs=80")
    parser.add_argument("--ensemble", type=int, default=None, metavar="K",
                        help="models per fold (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="folds trained at a time, each in its own worker process (default 1)")
    parser.add_argument("--origin-step", type=int, default=None, metavar="S",
                        help="forecasting backtest: steps between forecast origins (default: the season "
                             "length, else the horizon)")
    parser.add_argument("--paired", action="store_true",
                        help="also run the recipe as it is on the same folds, and compare item by item")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="forecasting: draw the backtest's forecasts over the training series")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", default=None, metavar="FILE", help="append the result as one JSON line to FILE")


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench.accuracy import load_recipe, recipe_names
    from rnnkit.cli.main import CLIError
    from rnnkit.cli.runspec import load_data
    from rnnkit.cli.train import _key_values

    if args.name not in recipe_names():
        raise CLIError(f"no recipe for {args.name}; recipes exist for: {', '.join(recipe_names())}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    _, recipe, _ = load_recipe(args.name)
    changes = {"model_options": _key_values(args.set, "--set"), "train": _key_values(args.train, "--train"),
               "data_options": _key_values(args.data_option, "--data-option")}
    if args.paired and not any(changes.values()):
        raise CLIError("--paired compares a change with the recipe: give it one with --set, --data-option or --train")
    spec = cv_spec(recipe, **changes, ensemble=args.ensemble)
    options = {"folds": args.folds, "seed": args.seed, "split_seed": args.split_seed, "log": sys.stderr,
               "jobs": args.jobs, "repeats": args.repeats, "origin_step": args.origin_step}
    data = load_data(spec)
    if args.plot and data.info.task != "forecasting":
        raise CLIError("--plot draws a forecasting backtest; this recipe's folds are cut from classification items")
    try:
        same_data = None if changes["data_options"] else data  # the recipe's own data: loaded once
        base = (cross_validate(cv_spec(recipe, ensemble=args.ensemble), dataset=same_data, **options)
                if args.paired else None)
        result = cross_validate(spec, dataset=data, **options)
        if args.plot:
            print(f"[cv] wrote {plot_backtest(result, data, args.plot)}", file=sys.stderr)
    except ValueError as e:
        raise CLIError(str(e)) from e
    record = {**asdict(result), "best_epoch": result.best_epoch}
    text = to_text(result)
    if base is not None:
        paired = compare(base, result)
        record["paired"] = {**paired, "base": asdict(base)}
        text = (f"the recipe as it is:\n{to_text(base)}\n\nwith the change:\n{text}\n\n"
                f"{compare_text(base, result, paired)}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=1) if args.json else text)
    return 0


__all__ = ["CVResult", "FoldResult", "backtest_origins", "compare", "compare_text", "cross_validate", "cv_spec",
           "fold_indices", "optimizer_steps", "plot_backtest", "sign_test", "to_text"]
