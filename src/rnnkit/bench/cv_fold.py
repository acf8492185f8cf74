"""One fold of a cross-validation, trained and scored: :func:`_fold_result` holds out a fold of the
pooled training items, :func:`_backtest_fold` forecasts from one origin of a backtest; the
``_worker_*`` functions run them in the spawned processes of ``--jobs``
(:func:`rnnkit.bench.workers.run_in_workers`), each with what every fold shares sent once."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

from rnnkit.bench.cv_plan import _origin_label, optimizer_steps


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
    # a fold of items: its predictions and losses (train.evaluation.TaskMetrics), which the cross-validation
    # pools to score all held-out predictions at once; not written to the --out record
    tally: Any = field(default=None, repr=False, compare=False)


def _wrong(model: Any, fold_ds: Any, valid_idx: list[int]) -> list[int]:
    """The pooled indices of the fold's items that ``model`` classifies wrongly."""
    from rnnkit.report.predictions import predict_split

    truth, predicted = predict_split(model, fold_ds.valid, fold_ds.collate)
    return [i for i, t, p in zip(valid_idx, truth.reshape(-1), predicted.reshape(-1), strict=True) if p != t]


def _fold_result(spec: Any, info: Any, pool: list[Any], labels: list[int] | None, collate: Any, extras: Any,
                 k: int, valid_idx: list[int], seed: int, repeat: int = 0) -> FoldResult:
    """Train ``spec``'s model on the pool without fold ``k`` and score it on fold ``k``."""
    from rnnkit.cli.runspec import build_model
    from rnnkit.data.dataset import ExampleList, SequenceDataset
    from rnnkit.train import Trainer
    from rnnkit.train.evaluation import tally_split
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
    tally = tally_split(model, fold_ds.valid.examples, fold_ds.info, collate_fn=fold_ds.collate,
                        extras=fold_ds.extras)
    scores = tally.compute()
    tally.extras = {}  # applied (a scaler): what compute() needs is the predictions and the data set's info
    wrong = [] if labels is None else _wrong(model, fold_ds, valid_idx)
    curve = [float(v) for v in history.column(column)] if column in history.rows[-1] else []
    return FoldResult(k, len(valid_idx), float(scores.get(metric, scores.get("loss", float("nan")))),
                      scores.get("loss"), curve, time.process_time() - cpu0, time.perf_counter() - wall0, wrong, repeat,
                      tally=tally)


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


def _run_fold(task: tuple[int, int, Any], common: dict[str, Any]) -> FoldResult:
    """One task ``(repeat, fold, valid indices or a backtest origin)`` with what every fold shares."""
    repeat, k, where = task
    if isinstance(where, int):
        return _backtest_fold(repeat=repeat, k=k, origin=where, **common)
    return _fold_result(repeat=repeat, k=k, valid_idx=where, **common)


def _worker_fold(task: tuple[int, int, Any]) -> FoldResult:
    return _run_fold(task, _WORKER)


__all__ = ["FoldResult"]
