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
switched off and the monitor is ``train_loss`` (so ``schedule: plateau`` steps on the training loss),
because anything that reads the fold that scores it while training would flatter the estimate.
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

# The steps live beside this module, one idea each (the docstring above is the command's --help):
# the plan of folds and origins (cv_plan), one fold trained and scored (cv_fold), the folds pooled and
# two runs compared (cv_pooled), and the table and plot (cv_report). What this module offered before
# the split is offered here still, as the same objects.

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnkit.bench.accuracy_seeds import Stopped, signal_name, stop_signals
from rnnkit.bench.cv_fold import _WORKER as _WORKER
from rnnkit.bench.cv_fold import FoldResult as FoldResult
from rnnkit.bench.cv_fold import _backtest_fold as _backtest_fold
from rnnkit.bench.cv_fold import _fold_result as _fold_result
from rnnkit.bench.cv_fold import _run_fold as _run_fold
from rnnkit.bench.cv_fold import _worker_fold as _worker_fold
from rnnkit.bench.cv_fold import _worker_setup as _worker_setup
from rnnkit.bench.cv_fold import _wrong as _wrong
from rnnkit.bench.cv_plan import _class_labels as _class_labels
from rnnkit.bench.cv_plan import _origin_label as _origin_label
from rnnkit.bench.cv_plan import _training_series as _training_series
from rnnkit.bench.cv_plan import backtest_origins as backtest_origins
from rnnkit.bench.cv_plan import check_train_keys, many_series, registered_many_series
from rnnkit.bench.cv_plan import cv_spec as cv_spec
from rnnkit.bench.cv_plan import fold_indices as fold_indices
from rnnkit.bench.cv_plan import optimizer_steps as optimizer_steps
from rnnkit.bench.cv_pooled import CVResult as CVResult
from rnnkit.bench.cv_pooled import compare as compare
from rnnkit.bench.cv_pooled import pooled_over
from rnnkit.bench.cv_pooled import pooled_value as pooled_value
from rnnkit.bench.cv_pooled import sign_test as sign_test
from rnnkit.bench.cv_report import compare_text as compare_text
from rnnkit.bench.cv_report import plot_backtest as plot_backtest
from rnnkit.bench.cv_report import to_text as to_text

HELP = ("k-fold cross-validation of a recipe on its training data, a rolling-origin backtest for single-series "
        "forecasting (test is never scored)")


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
    pooled = pooled_over(metric, results)
    length = min((len(r.curve) for r in results), default=0)
    curve = [statistics.fmean(r.curve[e] for r in results) for e in range(length)]
    settings = {"folds": folds, "repeats": repeats, "seed": seed, "split_seed": split_seed, "ensemble": spec.ensemble,
                "model_options": spec.model_options, "train": spec.train, "data_options": spec.data_options,
                **settings}
    return CVResult(ds.info.name, metric, higher, results, statistics.fmean(values),
                    statistics.stdev(values) if len(values) > 1 else None, pooled, curve, settings,
                    device_name(min(jobs, len(tasks))), time.strftime("%Y-%m-%d"), labels is not None,
                    ds.info.task == "forecasting")


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


def _option_error(error: Exception, model: str, changed: dict[str, Any]) -> Exception:
    """A model's refusal of an unknown option (its message lists every option it was given) as a
    one-line error naming the option it refused; any other error as it is."""
    import re

    from rnnkit.cli.main import CLIError

    bad = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if bad is None:
        return error
    name = bad.group(1)
    where = f"--set {name}" if name in changed else f"the recipe's model option {name}"
    return CLIError(f"{where}: {model} takes no option {name!r}")


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench.accuracy import load_recipe, recipe_names
    from rnnkit.bench.workers import WorkerError
    from rnnkit.cli.main import CLIError
    from rnnkit.cli.runspec import load_data
    from rnnkit.cli.train import _key_values

    if args.name not in recipe_names():
        raise CLIError(f"no recipe for {args.name}; recipes exist for: {', '.join(recipe_names())}")
    for flag, value in (("--threads", args.threads), ("--ensemble", args.ensemble)):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    _, recipe, _ = load_recipe(args.name)
    changes = {"model_options": _key_values(args.set, "--set"), "train": _key_values(args.train, "--train"),
               "data_options": _key_values(args.data_option, "--data-option")}
    try:
        check_train_keys(changes["train"])
    except ValueError as e:
        raise CLIError(str(e)) from e
    if args.paired and not any(changes.values()):
        raise CLIError("--paired compares a change with the recipe: give it one with --set, --data-option or --train")
    spec = cv_spec(recipe, **changes, ensemble=args.ensemble)
    options = {"folds": args.folds, "seed": args.seed, "split_seed": args.split_seed, "log": sys.stderr,
               "jobs": args.jobs, "repeats": args.repeats, "origin_step": args.origin_step}
    if registered_many_series(spec.data):  # known from the registry: refused before a load of seconds
        raise CLIError(many_series(spec.data))
    data = load_data(spec)
    if args.plot and data.info.task != "forecasting":
        raise CLIError("--plot draws a forecasting backtest; this recipe's folds are cut from classification items")
    with stop_signals() as caught:  # `kill PID` or Ctrl-C: the folds logged so far are all there is
        try:
            same_data = None if changes["data_options"] else data  # the recipe's own data: loaded once
            base = (cross_validate(cv_spec(recipe, ensemble=args.ensemble), dataset=same_data, **options)
                    if args.paired else None)
            result = cross_validate(spec, dataset=data, **options)
            if args.plot:
                print(f"[cv] wrote {plot_backtest(result, data, args.plot)}", file=sys.stderr)
        except ValueError as e:
            raise CLIError(str(e)) from e
        except (CLIError, WorkerError) as e:  # the first fold builds the model: name the option it refused
            named = _option_error(e, spec.model, changes["model_options"])
            if named is e:
                raise
            raise named from e
        except Stopped:
            print(f"rnnkit bench cv: stopped by {signal_name(caught[0])}; the folds that finished are logged "
                  "above, no result is printed or written", file=sys.stderr)
            return 128 + caught[0]
    record = {**asdict(result), "best_epoch": result.best_epoch}
    for fold in record["folds"]:
        fold.pop("tally", None)  # the predictions behind the pooled value, not a record's
    text = to_text(result)
    if base is not None:
        paired = compare(base, result)
        record["paired"] = {**paired, "base": asdict(base)}
        for fold in record["paired"]["base"]["folds"]:
            fold.pop("tally", None)
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
