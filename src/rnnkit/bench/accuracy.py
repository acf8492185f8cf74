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

# The bench's parts live beside this module, one idea each (the docstring above is the command's
# --help): the recipes and the test-data guard (accuracy_recipes, accuracy_selection), the seeds
# (accuracy_seeds), the table and its file (accuracy_table), the goals (accuracy_goals). Here: one data
# set's row, its baseline, and the command. What this module offered before the split is offered here
# still, as the same objects; `run` looks `recipe_names` up here, where tests patch it.

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnkit.bench import library_versions as library_versions
from rnnkit.bench.accuracy_goals import GOALS as GOALS
from rnnkit.bench.accuracy_goals import PERCENT as PERCENT
from rnnkit.bench.accuracy_goals import Goal as Goal
from rnnkit.bench.accuracy_goals import headline as headline
from rnnkit.bench.accuracy_goals import parse_recipe_notes as parse_recipe_notes
from rnnkit.bench.accuracy_recipes import QUICK_LIMIT as QUICK_LIMIT
from rnnkit.bench.accuracy_recipes import load_recipe as load_recipe
from rnnkit.bench.accuracy_recipes import quick_spec as quick_spec
from rnnkit.bench.accuracy_recipes import recipe_names as recipe_names
from rnnkit.bench.accuracy_seeds import _WORKER as _WORKER
from rnnkit.bench.accuracy_seeds import SeedResult as SeedResult
from rnnkit.bench.accuracy_seeds import Stopped as Stopped
from rnnkit.bench.accuracy_seeds import _stop as _stop
from rnnkit.bench.accuracy_seeds import _worker_seed as _worker_seed
from rnnkit.bench.accuracy_seeds import _worker_setup as _worker_setup
from rnnkit.bench.accuracy_seeds import device_name as device_name
from rnnkit.bench.accuracy_seeds import epoch_log as epoch_log
from rnnkit.bench.accuracy_seeds import run_seeds as run_seeds
from rnnkit.bench.accuracy_seeds import signal_name, stop_signals
from rnnkit.bench.accuracy_seeds import train_seed as train_seed
from rnnkit.bench.accuracy_selection import RecipeError as RecipeError
from rnnkit.bench.accuracy_selection import check_selection as check_selection
from rnnkit.bench.accuracy_table import _ROWS_TAG as _ROWS_TAG
from rnnkit.bench.accuracy_table import SECTION as SECTION
from rnnkit.bench.accuracy_table import Row as Row
from rnnkit.bench.accuracy_table import _fmt as _fmt
from rnnkit.bench.accuracy_table import _published as _published
from rnnkit.bench.accuracy_table import keep_baseline
from rnnkit.bench.accuracy_table import merge_rows as merge_rows
from rnnkit.bench.accuracy_table import read_rows as read_rows
from rnnkit.bench.accuracy_table import to_markdown as to_markdown
from rnnkit.bench.accuracy_table import write_results as write_results

HELP = "train each recipe with N seeds beside a classical baseline; writes docs/RESULTS.md"
DEFAULT_OUT = "docs/RESULTS.md"


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
    stopped = ""  # keep the seeds that finished; the row says how many were asked for, and which
    if len(results) < seeds:
        kept = [r.seed for r in results]
        which = "" if kept == list(range(len(kept))) else f" (seeds {', '.join(map(str, kept))})"
        stopped = f"stopped after {len(results)} of {seeds} seeds{which}; baseline not run. "
    base = None
    if baseline and not stopped:
        try:
            base = baseline_of(name, spec, dataset, log=log)
        except Stopped:  # the seeds are measured: their row is kept, without the baseline
            stopped = f"stopped during the baseline, after all {seeds} seeds; baseline not run. "
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
        notes=stopped
        + (f"an ensemble of {spec.ensemble} models per seed (their mean prediction; the time is for all "
           f"{spec.ensemble}). " if spec.ensemble > 1 else "")
        + parse_recipe_notes(path.read_text(encoding="utf-8")),
        extra=extra,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), versions=library_versions())


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
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the classical baselines; a row that --out already holds keeps its stored "
                             "baseline, shown as kept from the date of that row")
    parser.add_argument("--replace-measured", action="store_true",
                        help="let a --quick run replace measured (not quick) rows of --out; without it such a "
                             "run is refused before it trains")
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
    """The command; exits 0, or 128 + the signal's number after a stop (143 SIGTERM, 130 Ctrl-C)."""
    from rnnkit.cli.main import CLIError

    for flag, value in (("--seeds", args.seeds), ("--jobs", args.jobs), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    names = args.names or recipe_names()
    unknown = sorted(set(names) - set(recipe_names()))
    if unknown:
        raise CLIError(f"no recipe for {', '.join(unknown)}; recipes exist for: {', '.join(recipe_names())}")
    out = args.out if args.out is not None else ("" if args.quick else DEFAULT_OUT)
    if args.quick and out and not getattr(args, "replace_measured", False):
        data = {load_recipe(n)[1].data for n in names}
        measured = sorted(r["dataset"] for r in read_rows(out) if not r.get("quick") and r["dataset"] in data)
        if measured:
            raise CLIError(f"{out} holds measured rows of {', '.join(measured)}, which a --quick row would replace: "
                           "give another --out, or --replace-measured to replace them")
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
    with stop_signals() as caught:  # `kill PID` or Ctrl-C: keep the finished seeds, then stop
        try:
            for n in names:  # each data set's row is written as soon as it is measured
                row = asdict(bench_dataset(n, seeds=args.seeds, quick=args.quick, baseline=not args.no_baseline,
                                           log=sys.stderr, jobs=args.jobs))
                if out:
                    row = keep_baseline(row, read_rows(out))
                    write_results(out, [row])
                rows.append(row)
                if caught:
                    break
        except Stopped:
            print("[accuracy] stopped before any seed of the current data set finished", file=sys.stderr)
    print(json.dumps(rows, indent=1) if args.json
          else to_markdown(rows, list_missing=False).split(f"\n\n<!-- {_ROWS_TAG}")[0])
    if caught:
        kept = f"; the rows above are kept{f' in {out}' if out else ''}" if rows else ""
        print(f"rnnkit bench accuracy: stopped by {signal_name(caught[0])}{kept}", file=sys.stderr)
        return 128 + caught[0]
    return 0


__all__ = ["Row", "SeedResult", "baseline_of", "bench_dataset", "load_recipe", "merge_rows", "read_rows",
           "recipe_names", "refresh_baseline", "run_seeds", "to_markdown", "train_seed", "write_results"]
