"""The checks ``rnnkit train`` makes on its run folder and model before the first epoch: which process
owns the folder, a run already there (refused, or cleared with ``--overwrite``), a folder that
cannot be written, and a model that cannot take the data set.

    clear_previous_run(run_dir, overwrite=False)   # CLIError if the folder holds a run
    make_run_dir(run_dir)                          # created, and writable
    check_fit(model, dataset, spec, monitor)       # a few examples scored, in one line if they fail
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec import SPEC_FILE, RunSpec


def rank_zero() -> bool:
    """Whether this process owns the run folder: always alone, rank 0 under torchrun."""
    return os.environ.get("RANK", "0") == "0"


def clear_previous_run(run_dir: Path, *, overwrite: bool) -> None:
    """A folder that already holds a run (a model, a last checkpoint or the history of epochs trained: also
    when its last checkpoint is gone, and nothing can resume it) is an error unless ``overwrite``;
    then that run's files and folders (:data:`RUN_ENTRIES`) are removed, so that none of its
    vocabularies, checkpoints or plots outlives it beside the new run. Other files in the folder are
    left alone. A run stopped before its first last checkpoint has nothing to resume: its folder is
    reused (the new run writes its files over that start's; a best.safetensors it left is removed)."""
    from rnnkit.train import RunDir

    run = RunDir(run_dir)
    started = run.holds_run() or run.config_yaml.exists() or (run_dir / SPEC_FILE).exists()
    if overwrite and started:  # (a folder with no run in it keeps everything, plots/ of one's own included)
        run.clear()
    elif not overwrite and run.holds_run() and not run.last_checkpoint.is_file():  # its epochs, past resuming
        from rnnkit.cli.train_resume import cli_terms
        from rnnkit.train.resume import start_over

        held = [p.name for p in (run.weights, run.best_checkpoint, run.history_csv) if p.is_file()]
        raise CLIError(f"{run_dir} holds an earlier run ({', '.join(held)}) but no checkpoint to resume it: "
                       f"{start_over(run, cli_terms())}")
    elif not overwrite and run.holds_run():
        raise CLIError(f"{run_dir} already holds a run: pass --resume to continue it, --overwrite to replace it, or "
                       "--out to train into another folder")
    elif not overwrite and _foreign_config(run.config_yaml):
        raise CLIError(f"{run.config_yaml} is not an rnnkit run's config, and a run would write over it: pass --out "
                       "to train into another folder, or --overwrite to replace it")
    removed = run.remove_leftovers()  # best.safetensors of a run killed before its first last checkpoint
    if removed:
        print(f"note: {run_dir} held {', '.join(p.name for p in removed)} of a run stopped before its first last "
              "checkpoint (nothing to resume): removed; this run replaces it", file=sys.stderr)


def _foreign_config(path: Path) -> bool:
    """Whether ``path`` is a config.yaml that rnnkit did not write (a run would write over it)."""
    if not path.is_file():
        return False
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return True
    return not (isinstance(config, dict) and "rnnkit" in config and "model" in config)


def make_run_dir(run_dir: Path) -> None:
    """Create the run folder and check that files can be written in it, or say in one line why not."""
    from rnnkit.train import RunDir, RunDirError

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the run folder {run_dir}: {e.strerror or e} ({e.filename})") from e
    try:
        RunDir(run_dir).check_writable()
    except RunDirError as e:
        raise CLIError(str(e)) from e


def check_fit(model: Any, dataset: Any, spec: RunSpec, monitor: str | None) -> None:
    """Score a few examples before training: a model that does not fit the data set (a tagger on
    one label per sequence, ``vectors`` with a recurrent model) fails here in one line, not after
    an epoch; so does a ``monitor`` that no epoch would compute."""
    from rnnkit.train.evaluation import evaluate_split

    split = dataset.valid if len(dataset.valid) else dataset.train
    try:
        metrics = evaluate_split(model, split.examples[:4], dataset.info, collate_fn=dataset.collate,
                                 extras=dataset.extras)
    except (ValueError, RuntimeError, IndexError) as e:
        raise CLIError(f"model {spec.model} ({type(model).__name__}) cannot take data set {dataset.info.name} "
                       f"({dataset.info.shape}, task {dataset.info.task}): "
                       f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    if monitor is not None:
        known = ["train_loss"] + ([f"valid_{k}" for k in metrics] if len(dataset.valid) else [])
        if monitor not in known:
            raise CLIError(f"monitor {monitor!r} is not computed for this run; choose one of {', '.join(known)}")
