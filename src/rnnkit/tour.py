"""``rnnkit tour``: one model per problem shape, trained on bundled real data, in a few CPU minutes.

The tour is the list :data:`STOPS`; each :class:`Stop` is a run spec (the same schema as
``rnnkit train --config``) plus the smaller settings of ``--quick``. Add a shape or a data set by
adding a ``Stop``. :func:`run_tour` trains every stop into ``ROOT/<name>/`` (report included),
collects one :class:`TourRow` per stop and writes ``ROOT/index.html`` linking every run.

Stops train two at a time, each in its own process with one torch thread: the models are small, so
intra-op threads buy little, and two threads per process on a busy 2-core machine made the tour
several times slower (OpenMP threads spin against each other). The full tour costs about 4 CPU
minutes, so about 2-3 minutes on an idle 2-core machine.

Example:
    >>> rows = run_tour("runs/tour", quick=True)   # doctest: +SKIP
    >>> [(r.shape, r.dataset, r.result) for r in rows]   # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.cli.runspec import RunSpec


@dataclass(frozen=True)
class Stop:
    """One stop of the tour: a shape, a data set, a model and how to train it (full and quick)."""

    name: str
    shape: str
    data: str
    model: str
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    limit: int | dict[str, int] | None = None
    vectors: bool = False
    quick: dict[str, Any] = field(default_factory=dict)  # keys: limit, train, model_options, data_options
    baseline: str = "-"  # shown when the data set lists no published figure for its metric

    def spec(self, root: Path, *, quick: bool = False) -> RunSpec:
        """The run spec of this stop (``--quick`` settings laid over the full ones)."""
        model_options, train = dict(self.model_options), dict(self.train)
        data_options, limit = dict(self.data_options), self.limit
        if quick:
            model_options.update(self.quick.get("model_options", {}))
            train.update(self.quick.get("train", {}))
            data_options.update(self.quick.get("data_options", {}))
            limit = self.quick.get("limit", limit)
        return RunSpec(data=self.data, model=self.model, data_options=data_options, model_options=model_options,
                       train=train, limit=limit, vectors=self.vectors, out=str(root / self.name))


_QUICK = {"limit": 32, "train": {"epochs": 1, "batch_size": 16}, "model_options": {"hidden_size": 16}}

STOPS: list[Stop] = [
    Stop("one_to_one", "one-to-one", "digits", "feedforward",
         model_options={"hidden_sizes": (256,), "dropout": 0.3},
         train={"epochs": 60, "batch_size": 32, "lr": 3e-3, "seed": 0},
         quick={"limit": 32, "train": {"epochs": 1}, "model_options": {"hidden_sizes": (16,)}},
         baseline="0.972 logistic regression (same split)"),
    Stop("one_to_many", "one-to-many", "digit_captions", "generator",
         model_options={"cell": "gru", "hidden_size": 128, "embed_dim": 32, "dropout": 0.2, "max_length": 6},
         train={"epochs": 15, "batch_size": 64, "lr": 3e-3, "seed": 0}, data_options={"n_train": 24000},
         limit={"valid": 300, "test": 1000}, quick={**_QUICK, "data_options": {"n_train": 200, "n_test": 50}}),
    Stop("many_to_one", "many-to-one", "japanese_vowels", "classifier",
         model_options={"cell": "gru", "hidden_size": 128, "bidirectional": True, "embed_dim": 64,
                        "pooling": "mean", "dropout": 0.3},
         train={"epochs": 40, "batch_size": 16, "lr": 3e-3, "seed": 0}, quick=_QUICK),
    Stop("many_to_many", "many-to-many", "dates_iso", "seq2seq",
         model_options={"cell": "gru", "hidden_size": 64, "max_length": 16},
         train={"epochs": 5, "batch_size": 64, "lr": 3e-3, "seed": 0}, quick=_QUICK,
         limit={"train": 3000, "valid": 200, "test": 500}),
    Stop("synced", "synchronous", "moving_digits", "tagger",
         model_options={"cell": "gru", "hidden_size": 64, "bidirectional": True, "frame_encoder": "conv",
                        "dropout": 0.2},
         train={"epochs": 14, "batch_size": 32, "lr": 3e-3, "seed": 0}, quick=_QUICK,
         limit={"valid": 100, "test": 400}),
    Stop("forecasting", "forecasting", "air_passengers", "forecaster",
         model_options={"cell": "gru", "hidden_size": 32},
         train={"epochs": 100, "batch_size": 8, "lr": 3e-3, "seed": 0},
         quick={"train": {"epochs": 2}, "model_options": {"hidden_size": 8}}),
]


@dataclass
class TourRow:
    """One line of the tour's table; ``status`` is ``"ok"`` or the one-line reason a stop failed."""

    shape: str
    dataset: str
    model: str
    metric: str
    result: float | None
    published: str
    seconds: float
    run_dir: Path
    status: str = "ok"
    thumbnail: Path | None = None
    cut: str = ""  # "test 32 of 359" when --limit cut the scored split: the result is not the published kind

    def as_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "dataset": self.dataset, "model": self.model, "metric": self.metric,
                "result": "failed" if self.result is None else self.result, "published": self.published,
                "seconds": round(self.seconds, 1), "thumbnail": self.thumbnail, "cut": self.cut}


def primary_metric(metrics: dict[str, float], info: Any) -> tuple[str, float | None]:
    """The data set's primary metric and its value (through the metric aliases), else the first one."""
    from rnnkit.train.evaluation import metric_key

    name = info.metric or ""
    for key in (name, metric_key(name) if name else ""):
        value = metrics.get(key) if key else None
        if value is not None and math.isfinite(value):
            return name, float(value)
    others = [(k, v) for k, v in metrics.items() if k != "loss" and v is not None]
    return (others[0][0], float(others[0][1])) if others else (name or "loss", metrics.get("loss"))


def _thumbnail(run_dir: Path) -> Path | None:
    plots = run_dir / "plots"
    for name in ("forecast", "captions", "attention", "tag_timeline", "confusion_matrix", "learning_curves"):
        if (plots / f"{name}.png").is_file():
            return plots / f"{name}.png"
    return None


def run_stop(stop: Stop, root: Path, *, quick: bool = False, progress: bool = False) -> TourRow:
    """Train one stop; a failure becomes a row with its reason, so the tour goes on."""
    from rnnkit.cli.main import CLIError
    from rnnkit.cli.train import best_published, train_run
    from rnnkit.cli.train_metrics import scored_cut

    spec = stop.spec(root, quick=quick)
    start = time.perf_counter()
    try:
        result = train_run(spec, progress=progress, overwrite=True)  # the tour's own folder, run again
    except (CLIError, ValueError, TypeError, RuntimeError, KeyError, OSError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        return TourRow(stop.shape, stop.data, stop.model, "", None, "-", time.perf_counter() - start,
                       Path(spec.out), status=f"{type(e).__name__}: {reason}")
    info = result.dataset.info
    metric, value = primary_metric(result.metrics, info)
    published = best_published(info, metric)
    published = stop.baseline if published == "-" else published
    cut = ""
    if (scored_on := scored_cut(info)) is not None:  # --limit cut the split this run was scored on
        split, kept, before = scored_on
        cut = f"{split} {kept} of {before}"
        # a baseline scored on the whole split is not on the split this run scored
        published = published.replace("(same split)", f"(all {before} {split} examples)")
    return TourRow(stop.shape, info.name, type(result.model).__name__, metric, value, published,
                   result.seconds, result.run_dir, thumbnail=_thumbnail(result.run_dir), cut=cut)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: tiny recurrent ops gain nothing from intra-op threads,
    # and two threads on a busy core slow them several times over (spinning OpenMP barriers)


def default_jobs() -> int:
    """Stops trained at once: one per core, at most 2 (the tour's 2-core target), 1 on one core."""
    return max(1, min(2, os.cpu_count() or 1))


def select_stops(only: Sequence[str] | None, stops: Sequence[Stop] = ()) -> list[Stop]:
    """The stops (default :data:`STOPS`) that ``only`` names by name, shape or data set, in the tour's
    order; all of them without ``only``. A ValueError names an unknown one, with a close match."""
    from rnnkit.cli.runspec import did_you_mean

    chosen = list(stops or STOPS)
    if not only:
        return chosen
    keys = [k for s in chosen for k in (s.name, s.shape, s.data)]
    unknown = sorted(set(only) - set(keys))
    if unknown:
        hint = did_you_mean(unknown[0], keys)
        raise ValueError(f"unknown tour stop(s) {', '.join(unknown)}{hint}; choose a name, shape or data set: "
                         f"{', '.join(s.name for s in chosen)}, or {', '.join(s.data for s in chosen)}")
    return [s for s in chosen if {s.name, s.shape, s.data} & set(only)]


def run_tour(
    root: str | Path = "runs/tour",
    *,
    quick: bool = False,
    only: Sequence[str] | None = None,
    progress: bool = False,
    on_row: Callable[[TourRow], None] | None = None,
    stops: Sequence[Stop] = (),
    jobs: int | None = None,
) -> list[TourRow]:
    """Train every stop (or those ``only`` names: :func:`select_stops`) under ``root`` and write
    ``root/index.html``.

    ``jobs`` stops train at once, each in its own process with one torch thread (default
    :func:`default_jobs`); ``jobs=1`` trains them one after the other in this process, with the
    progress bars of ``progress``. Rows come back in the order of the stops; ``on_row`` sees each
    as it finishes.
    """
    from rnnkit.report.html import write_tour_report

    chosen = select_stops(only, stops or STOPS)
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    root = Path(root)
    if jobs == 1 or len(chosen) < 2:
        rows = []
        for stop in chosen:
            row = run_stop(stop, root, quick=quick, progress=progress)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    else:
        rows = _run_parallel(chosen, root, quick=quick, jobs=min(jobs, len(chosen)), on_row=on_row)
    write_tour_report([r.as_dict() for r in rows], [r.run_dir for r in rows], root / "index.html",
                      note=tour_note(rows, chosen, quick=quick))
    return rows


def tour_note(rows: Sequence[TourRow], stops: Sequence[Stop], *, quick: bool) -> str:
    """The line atop index.html for a quick tour or one whose runs scored splits cut by ``limit``: its
    figures beside the published ones would otherwise read as results of the same kind."""
    cut = [f"{r.dataset} {r.cut}" for r in rows if r.cut]
    scored = f"scored on cut splits ({', '.join(cut)}), so not comparable with the published figures and " \
             "baselines" if cut else ""
    if not quick:
        return f"Some runs were {scored}." if cut else ""
    epochs = sorted({int(s.spec(Path("."), quick=True).train.get("epochs", 0)) for s in stops})
    return (f"A quick tour (rnnkit tour --quick): a smoke test of {'-'.join(map(str, epochs))} epoch(s) per stop on "
            f"few examples{'; ' + scored if cut else ''}.")


def _run_parallel(chosen: list[Stop], root: Path, *, quick: bool, jobs: int,
                  on_row: Callable[[TourRow], None] | None) -> list[TourRow]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    found: dict[int, TourRow] = {}
    # spawn, not fork: a forked child of a process that already ran torch's thread pool can hang
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init) as pool:
        futures = {pool.submit(run_stop, stop, root, quick=quick): i for i, stop in enumerate(chosen)}
        for future in as_completed(futures):
            i, stop = futures[future], chosen[futures[future]]
            try:
                row = future.result()
            except Exception as e:  # the worker died (out of memory, killed): the tour goes on
                spec = stop.spec(root, quick=quick)
                row = TourRow(stop.shape, stop.data, stop.model, "", None, "-", 0.0, Path(spec.out),
                              status=f"{type(e).__name__}: {(str(e).splitlines() or ['worker failed'])[0]}")
            found[i] = row
            if on_row is not None:
                on_row(row)
    return [found[i] for i in range(len(chosen))]


__all__ = ["STOPS", "Stop", "TourRow", "default_jobs", "primary_metric", "run_stop", "run_tour", "select_stops"]
