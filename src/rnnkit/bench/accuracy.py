"""``rnnkit bench accuracy``: each recipe trained with N seeds, beside a classical baseline and the
published figures, on the standard test split (issue 6).

    rnnkit bench accuracy                        # every recipe, 5 seeds, writes docs/RESULTS.md
    rnnkit bench accuracy gunpoint arrowhead --seeds 3 --json
    rnnkit bench accuracy addition --quick       # tiny epochs and data: checks that it runs
    rnnkit bench accuracy moving_digits --jobs 2 --threads 1   # two seeds at a time, one thread each

Seed ``i`` seeds the model's initial weights and the Trainer (shuffling, dropout); a recipe with
``ensemble: k`` trains k models per seed (each draws its own initial weights after seed ``i``) and
scores their averaged prediction (``rnnkit.models.Ensemble``). The data set is
loaded once with the recipe's own options, so every seed sees the same splits. ``--jobs J`` trains J
seeds at a time, each in a worker process of its own (started fresh, not forked, so no thread pool is
shared) that loads the data set once; a seed's result does not depend on J. Model selection
(early stopping, the restored best epoch) reads ``valid`` only: :func:`check_selection` refuses a
recipe that would pick anything on test. Each data set's rows go between the ``bench:accuracy``
markers of the output file; running a subset updates those rows only (the rows live as JSON in a
comment inside the section, and the table is rendered from them).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.bench import library_versions
from rnnkit.bench.accuracy_goals import GOALS, PERCENT, Goal, headline, parse_recipe_notes
from rnnkit.bench.accuracy_selection import RecipeError, check_selection

HELP = "train each recipe with N seeds beside a classical baseline; writes docs/RESULTS.md"
SECTION = "accuracy"
DEFAULT_OUT = "docs/RESULTS.md"
QUICK_LIMIT = 48  # examples per split in --quick runs
_ROWS_TAG = "accuracy-rows"


class Stopped(Exception):
    """SIGTERM arrived: the bench writes the seeds that finished, then exits."""


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(f"signal {signum}")


@dataclass
class SeedResult:
    """One trained seed: its headline value, every test metric, the epochs run and the time spent."""

    seed: int
    value: float
    metrics: dict[str, float]
    epochs: int
    best_epoch: int | None
    cpu_s: float
    wall_s: float


@dataclass
class Row:
    """One data set's line of the results table (and its JSON record)."""

    dataset: str
    metric: str
    higher_is_better: bool
    values: list[float]
    mean: float
    std: float | None  # the sample std over seeds; None for one seed
    cpu_s: float  # mean CPU seconds per seed (all threads), fit + evaluation
    wall_s: float
    epochs: float
    goal: str
    goal_met: bool | None
    baseline: dict[str, Any] | None
    published: list[dict[str, Any]]
    device: str
    recipe: str
    notes: str = ""
    quick: bool = False
    extra: dict[str, float] = field(default_factory=dict)  # secondary metrics, means over seeds
    date: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # python and libraries (bench.library_versions)


def recipe_names() -> list[str]:
    """The data sets with a recipe shipped in ``rnnkit/recipes``."""
    folder = Path(__file__).resolve().parents[1] / "recipes"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_recipe(name: str) -> tuple[dict[str, Any], Any, Path]:
    """The raw YAML mapping, the validated ``RunSpec`` and the file of recipe ``name``.

    Raises RecipeError (a ValueError) when the recipe selects on test data or changes the test split
    (see :func:`check_selection`), or does not load.
    """
    import yaml

    from rnnkit.cli.main import CLIError
    from rnnkit.cli.runspec import recipe_path, spec_from_dict

    try:
        path = recipe_path(name)
    except CLIError as e:
        raise RecipeError(str(e)) from e
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    check_selection(raw, where=str(path))
    try:
        spec = spec_from_dict(raw, str(path))
    except CLIError as e:
        raise RecipeError(str(e)) from e
    return raw, spec, path


def quick_spec(spec: Any) -> Any:
    """A shrunken copy of ``spec`` for smoke runs: one epoch on ``QUICK_LIMIT`` examples per split."""
    import dataclasses

    train = {**spec.train, "epochs": 1}
    train.pop("early_stopping", None)
    return dataclasses.replace(spec, train=train, limit=QUICK_LIMIT,
                               data_options=dict(spec.data_options), model_options=dict(spec.model_options))


def epoch_log(label: str, every_s: float = 60.0, stream: Any = None) -> Any:
    """A Trainer callback that prints ``[accuracy] LABEL: epoch e/E monitor=v (t s)`` to ``stream``
    (stderr by default) after an epoch, at most once every ``every_s`` seconds and after the last, so
    that a long seed shows where it stands without one line per epoch of a short one."""
    from rnnkit.train.callbacks import Callback

    class EpochLog(Callback):
        def __init__(self) -> None:
            self.start = self.last = time.perf_counter()

        def on_epoch_end(self, trainer: Any, state: Any) -> None:
            now, cfg = time.perf_counter(), trainer.config
            done, total = int(state.epoch), int(cfg.epochs)  # state.epoch counts the epochs done by now
            patience = getattr(cfg, "early_stopping", None)
            last = done >= total or state.stop or (patience is not None and state.bad_epochs >= patience)
            if now - self.last < every_s and not last:
                return
            self.last = now
            monitor = next((k for k in (cfg.monitor, "valid_loss", "train_loss")
                            if k and k in state.row), None)
            shown = f" {monitor}={float(state.row[monitor]):.4g}" if monitor else ""
            print(f"[accuracy] {label}: epoch {done}/{total}{shown} ({now - self.start:.0f} s)",
                  file=stream if stream is not None else sys.stderr, flush=True)

    return EpochLog()


def train_seed(spec: Any, dataset: Any, seed: int, *, label: str | None = None) -> SeedResult:
    """Build the recipe's model with ``seed``, train it on ``dataset`` and score it on test; with
    ``label``, print the progress of long runs (:func:`epoch_log`)."""
    from rnnkit.cli.runspec import build_model
    from rnnkit.train import Trainer
    from rnnkit.train.trainer import seed_everything

    settings = {**spec.train, "seed": seed, "progress": False, "run_dir": None, "evaluate_test": True}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    seed_everything(seed)  # the initial weights too, not only the Trainer's shuffling and dropout
    model = build_model(spec, dataset)
    callbacks = [epoch_log(f"{label} seed {seed}")] if label is not None else []
    history = Trainer(callbacks=callbacks, **settings).fit(model, dataset)
    metrics = dict(history.test)
    value, extra = headline(dataset.info, metrics, model, dataset)
    metrics.update(extra)
    return SeedResult(seed, value, metrics, len(history.rows), history.best_epoch,
                      time.process_time() - cpu0, time.perf_counter() - wall0)


def device_name(jobs: int = 1, precision: str = "fp32") -> str:
    """``"cpu (N cores, T torch threads)"`` (``"..., J jobs x T torch threads"`` for parallel seeds) or
    the GPU's name; ``", bf16 autocast"`` after it where the recipe's ``precision`` resolves to bf16
    on this device (``"auto"``: :func:`rnnkit.train.resolve_precision`)."""
    import os

    import torch

    from rnnkit.train import resolve_precision

    cuda = torch.cuda.is_available()
    if cuda:
        name = torch.cuda.get_device_name(0)
    else:
        threads = f"{torch.get_num_threads()} torch threads"
        name = f"cpu ({os.cpu_count()} cores, {f'{jobs} jobs x ' if jobs > 1 else ''}{threads})"
    bf16 = resolve_precision(precision, "cuda" if cuda else "cpu") == "bf16"
    return name + (", bf16 autocast" if bf16 else "")


# --- seeds in worker processes (--jobs) ---------------------------------------------------------------
_WORKER: dict[str, Any] = {}  # in a worker: the recipe spec and data set it loaded once


def _worker_setup(name: str, quick: bool, progress: bool = False) -> None:
    from rnnkit.cli.runspec import load_data

    _, spec, _ = load_recipe(name)
    spec = quick_spec(spec) if quick else spec
    _WORKER.update(spec=spec, dataset=load_data(spec), label=name if progress else None)


def _worker_seed(seed: int) -> SeedResult:
    return train_seed(_WORKER["spec"], _WORKER["dataset"], seed, label=_WORKER["label"])


def run_seeds(name: str, spec: Any, dataset: Any, seeds: int, *, jobs: int = 1, quick: bool = False,
              on_result: Any = None, progress: bool = False) -> list[SeedResult]:
    """Train seeds ``0..seeds-1`` (``jobs`` at a time in worker processes when ``jobs`` > 1) and
    return their results in seed order; ``on_result(r)`` is called as each one finishes. ``progress``
    prints each seed's epochs to stderr now and then (:func:`epoch_log`).

    :class:`Stopped` (SIGTERM) ends the run early: the workers are terminated and the seeds that
    finished are returned; with none finished, it propagates."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    results: list[SeedResult] = []
    try:
        if jobs == 1:
            for seed in range(seeds):
                results.append(train_seed(spec, dataset, seed, label=name if progress else None))
                if on_result is not None:
                    on_result(results[-1])
        else:
            from contextlib import closing

            from rnnkit.bench.workers import run_in_workers

            with closing(run_in_workers(_worker_seed, range(seeds), jobs=jobs, setup=_worker_setup,
                                        setup_args=(name, quick, progress))) as finished:
                for r in finished:  # closing() terminates the workers on Stopped or an error
                    results.append(r)
                    if on_result is not None:
                        on_result(r)
    except Stopped:
        if not results:
            raise
    return sorted(results, key=lambda r: r.seed)


def bench_dataset(name: str, *, seeds: int = 5, quick: bool = False, baseline: bool = True,
                  log: Any = None, jobs: int = 1) -> Row:
    """Run recipe ``name`` with seeds ``0..seeds-1`` (``jobs`` at a time) and its baseline; return the
    table row."""
    from rnnkit.cli.runspec import load_data

    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    raw, spec, path = load_recipe(name)
    spec = quick_spec(spec) if quick else spec
    dataset = load_data(spec)
    check_selection(raw, where=str(path), dataset=dataset)
    goal = GOALS.get(spec.data, Goal(dataset.info.metric, None, dataset.info.higher_is_better, "-"))
    def report(r: SeedResult) -> None:
        if log is not None:
            print(f"[accuracy] {name} seed {r.seed}: {goal.metric}={r.value:.4f} epochs={r.epochs} "
                  f"best={r.best_epoch} cpu={r.cpu_s:.0f}s wall={r.wall_s:.0f}s", file=log, flush=True)

    results = run_seeds(name, spec, dataset, seeds, jobs=jobs, quick=quick, on_result=report,
                        progress=log is not None and not quick)
    stopped = len(results) < seeds  # keep the seeds that finished; the row says how many were asked for
    base = baseline_of(name, spec, dataset, log=log) if baseline and not stopped else None
    values = [r.value for r in results]
    mean = statistics.fmean(values)
    extra_keys = sorted(set.intersection(*(set(r.metrics) for r in results)) & set(goal.secondary))
    extra = {k: statistics.fmean(r.metrics[k] for r in results) for k in extra_keys}
    wall_s = statistics.fmean(r.wall_s for r in results)
    cpu_s = statistics.fmean(r.cpu_s for r in results)
    return Row(
        dataset=spec.data, metric=goal.metric, higher_is_better=goal.higher_is_better, values=values,
        mean=mean, std=statistics.stdev(values) if len(values) > 1 else None,  # undefined for one seed
        cpu_s=cpu_s, wall_s=wall_s,
        epochs=statistics.fmean(r.epochs for r in results), goal=goal.text,
        goal_met=goal.met(mean, None if base is None else base["value"], cpu_s=cpu_s, extra=extra),
        baseline=base,
        published=[{"model": p.model, "metric": p.metric, "value": p.value, "source": p.source,
                    **({"note": p.note} if p.note else {})} for p in dataset.info.published],
        device=device_name(min(jobs, seeds), str(spec.train.get("precision", "fp32"))),
        recipe=str(path.name), quick=quick,
        notes=(f"stopped after {len(results)} of {seeds} seeds (out of time); baseline not run. " if stopped else "")
        + (f"an ensemble of {spec.ensemble} models per seed (their mean prediction; the time is for all "
           f"{spec.ensemble}). " if spec.ensemble > 1 else "")
        + parse_recipe_notes(path.read_text(encoding="utf-8")),
        extra=extra,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), versions=library_versions())


# --- the table --------------------------------------------------------------------------------------
def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}%" if metric in PERCENT else f"{value:.4f}"


def _published(row: dict[str, Any]) -> str:
    pubs = [p for p in row["published"] if p["metric"] == row["metric"]]
    # a note qualifies the figure (a best of several seeds gives its range): it is shown with it
    return "; ".join(f"{p['model']} {_fmt(p['value'], row['metric'])} ({p['source']}"
                     f"{'; ' + p['note'] if p.get('note') else ''})" for p in pubs) or "-"


def to_markdown(rows: list[dict[str, Any]], *, list_missing: bool = True) -> str:
    """The ``bench:accuracy`` section: the table, then the rows as JSON for later merges.
    ``list_missing`` names the recipes without a row (off for a run's own subset of rows)."""
    lines = ["## Accuracy: recipes vs classical baselines and published results", "",
             "Written by `rnnkit bench accuracy` (issue 6). rnnkit = mean ± sample std over n seeds of the "
             "recipe (`src/rnnkit/recipes/<data set>.yaml`) on the standard test split, model selection on "
             "valid only. Time = per seed, CPU seconds of the process (all threads) and wall seconds, "
             "training + evaluation (wall seconds grow with whatever else the machine runs; CPU seconds are the "
             "process's own). Goals are issue 6's. Baselines learn from train + valid and select nothing. "
             "Each row's JSON below records the Python and library versions it ran with (`versions`, and "
             "`baseline.versions`; rows measured before 2026-11-28 lack them).", "",
             "| data set | metric | rnnkit (mean ± std, n) | baseline | published (source) | goal | met? | "
             "time/seed CPU s (wall s) | epochs | device | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["dataset"]):
        m = r["metric"]
        spread = f" ± {_fmt(r['std'], m)}" if r.get("std") is not None else ""  # one seed: no std to show
        ours = f"{_fmt(r['mean'], m)}{spread} (n={len(r['values'])})"
        if r["extra"]:
            ours += "; " + ", ".join(f"{k} {_fmt(v, k)}" for k, v in r["extra"].items())
        base = r["baseline"]
        base_s = "-" if base is None else "; ".join(
            f"{_fmt(b['value'], m)} ({b['name']}, {b['seconds']:.1f} s)" for b in [base, *base.get("also", [])])
        met = "-" if r["goal_met"] is None else ("yes" if r["goal_met"] else "**no**")
        notes = ("**quick run, not a measurement.** " if r["quick"] else "") + r["notes"]
        lines.append(f"| {r['dataset']} | {m} | {ours} | {base_s} | {_published(r)} | {r['goal']} | {met} | "
                     f"{r['cpu_s']:.0f} ({r['wall_s']:.0f}) | {r['epochs']:.0f} | {r['device']} | "
                     f"{notes.replace('|', '/')} |")
    missing = sorted(set(recipe_names()) - {r["dataset"] for r in rows}) if list_missing else []
    if missing:
        lines += ["", f"Recipes without a measured row yet: {', '.join(missing)} "
                      "(`rnnkit bench accuracy NAME` adds one)."]
    lines += ["", f"<!-- {_ROWS_TAG}"]
    lines += [json.dumps(r, sort_keys=True) for r in sorted(rows, key=lambda r: r["dataset"])]
    lines += ["-->"]
    return "\n".join(lines)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows recorded in an earlier ``bench:accuracy`` section of ``path`` (none if absent)."""
    p = Path(path)
    if not p.is_file():
        return []
    match = re.search(rf"<!-- {_ROWS_TAG}\n(.*?)\n-->", p.read_text(encoding="utf-8"), re.DOTALL)
    if not match:
        return []
    return [json.loads(line) for line in match.group(1).splitlines() if line.strip()]


def merge_rows(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each data set of ``new`` replaced (or added)."""
    fresh = {r["dataset"]: r for r in new}
    return [r for r in old if r["dataset"] not in fresh] + list(fresh.values())


def write_results(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Merge ``rows`` into the ``bench:accuracy`` section of ``path``; a lock file (in the temporary
    folder) lets benches that run side by side (one data set each) update the file in turn."""
    import fcntl

    from rnnkit.bench import write_section

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    import hashlib
    import tempfile

    key = hashlib.blake2b(str(p.resolve()).encode(), digest_size=8).hexdigest()
    with open(Path(tempfile.gettempdir()) / f"rnnkit-results-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not p.exists():
            p.write_text("# Results\n\nMeasured by `rnnkit bench`; each section is written by its bench.\n")
        return write_section(p, SECTION, to_markdown(merge_rows(read_rows(p), rows)))


def baseline_of(name: str, spec: Any, dataset: Any, *, log: Any = None) -> dict[str, Any] | None:
    """The classical baseline of recipe ``name`` on ``dataset`` (None where there is none), logged to
    ``log``. torch's thread count is kept: the baselines' libraries (aeon/numba, scikit-learn) may
    reset it, and a later data set of the same run must train with the threads asked for (--threads)."""
    import torch

    from rnnkit.bench.baselines import run_baseline

    threads = torch.get_num_threads()
    base = run_baseline(spec.data, dataset)
    torch.set_num_threads(threads)
    if base is not None:  # what it ran with: statsmodels and aeon results move between releases
        base["versions"] = library_versions()
    if log is not None and base is not None:
        print(f"[accuracy] {name} baseline {base['name']}: {base['value']:.4f} ({base['seconds']:.1f}s)",
              file=log, flush=True)
    return base


def refresh_baseline(name: str, out: str, *, log: Any = None) -> dict[str, Any]:
    """Run the classical baseline of recipe ``name`` alone (no seeds trained) and, when ``out`` is
    given and already holds the data set's row, put the new baseline and the goal's verdict against
    it into that row; the rnnkit figures stay as they were measured. Returns the baseline record."""
    from rnnkit.cli.runspec import load_data

    _, spec, _ = load_recipe(name)
    base = baseline_of(name, spec, load_data(spec), log=log)
    if base is None:
        raise ValueError(f"{name}: no classical baseline is defined for this data set")
    if out and Path(out).exists():
        rows = [r for r in read_rows(out) if r["dataset"] == spec.data]
        if rows:
            row = rows[0]
            goal = GOALS.get(spec.data)
            if goal is not None:
                row["goal_met"] = goal.met(row["mean"], base["value"], cpu_s=row.get("cpu_s"),
                                           extra=row.get("extra") or {})
            row["baseline"] = base
            write_results(out, [row])
        elif log is not None:
            print(f"[accuracy] {name}: {out} has no row for {spec.data} yet; the baseline is not written "
                  "(run the recipe's seeds to add the row)", file=log, flush=True)
    return base


# --- command line -------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="data sets with a recipe (default: all)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per recipe, 0..N-1 (default 5)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true",
                        help=f"1 epoch on {QUICK_LIMIT} examples per split: checks that it runs; writes "
                             "nothing unless --out is given")
    parser.add_argument("--no-baseline", action="store_true", help="skip the classical baselines")
    parser.add_argument("--baselines-only", action="store_true",
                        help="run only the classical baselines (no seeds) and update the baseline of the "
                             "rows already in the table")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 avoids oversubscription when "
                             "several benches share the cores")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds trained at a time, each in its own worker process (default 1); with "
                             "--threads T each worker uses T threads")
    parser.add_argument("--out", default=None, help=f"markdown file to update (default {DEFAULT_OUT}; '' to skip)")


def run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.seeds < 1:
        from rnnkit.cli.main import CLIError

        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs < 1:
        from rnnkit.cli.main import CLIError

        raise CLIError(f"--jobs must be >= 1, got {args.jobs}")
    names = args.names or recipe_names()
    unknown = sorted(set(names) - set(recipe_names()))
    if unknown:
        from rnnkit.cli.main import CLIError

        raise CLIError(f"no recipe for {', '.join(unknown)}; recipes exist for: {', '.join(recipe_names())}")
    import signal

    out = args.out if args.out is not None else ("" if args.quick else DEFAULT_OUT)
    if args.baselines_only:
        if args.no_baseline or args.quick:
            from rnnkit.cli.main import CLIError

            raise CLIError("--baselines-only runs no seeds: it does not combine with --no-baseline or --quick")
        bases = {}
        for n in names:
            try:
                bases[n] = refresh_baseline(n, out, log=sys.stderr)
            except ValueError as e:
                print(f"[accuracy] {e}", file=sys.stderr)
        print(json.dumps(bases, indent=1) if args.json else "\n".join(
            f"{n}: {b['name']} {b['value']:.4f} ({b['seconds']:.1f} s)" for n, b in bases.items()))
        return 0
    rows = []
    previous = signal.signal(signal.SIGTERM, _stop)  # `kill PID`: keep the finished seeds, then stop
    try:
        for n in names:  # each data set's row is written as soon as it is measured
            row = asdict(bench_dataset(n, seeds=args.seeds, quick=args.quick, baseline=not args.no_baseline,
                                       log=sys.stderr, jobs=args.jobs))
            rows.append(row)
            if out:
                write_results(out, [row])
            if row["notes"].startswith("stopped after"):
                break
    except Stopped:
        print("[accuracy] stopped before any seed of the current data set finished", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(rows, indent=1) if args.json
          else to_markdown(rows, list_missing=False).split(f"\n\n<!-- {_ROWS_TAG}")[0])
    return 0


__all__ = ["Row", "SeedResult", "baseline_of", "bench_dataset", "load_recipe", "merge_rows", "read_rows",
           "recipe_names", "refresh_baseline", "run_seeds", "to_markdown", "train_seed", "write_results"]
