"""One training run from its spec to its folder: the Trainer for the spec's settings, every check that
can be made before the first epoch, the fit, the test metrics and the report.

    result = train_run(spec, progress=False)     # TrainResult(run_dir, model, dataset, history, ...)
    result.metrics                               # {"accuracy": 0.97, ...}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec import MODEL_ALIASES, RunSpec, build_model, load_data
from rnnkit.cli.train_checks import check_fit, clear_previous_run, make_run_dir, rank_zero
from rnnkit.cli.train_metrics import evaluate_run, limit_cuts, limit_facts
from rnnkit.cli.train_resume import check_resume, cli_terms, saved_limit_rule


@dataclass
class TrainResult:
    """What a finished run left: its folder, the trained model, the data, history and test metrics."""

    run_dir: Path
    model: Any
    dataset: Any
    history: Any
    metrics: dict[str, float]
    seconds: float
    report: Path | None


def train_run(spec: RunSpec, *, progress: bool = True, resume: bool = False, report: bool = True,
              dataset: Any = None, overwrite: bool = False) -> TrainResult:
    """Load the data (unless ``dataset`` is given), build the model, train it into ``spec.out``,
    evaluate on test, draw the report.

    Everything that can be checked before training is (the settings, the run folder, a checkpoint to
    resume, one batch through the model), so a bad input stops the run before the first epoch."""
    from rnnkit.train import CheckpointError, RunDir, TrainingDiverged, seed_everything

    start = time.perf_counter()
    if not spec.model:
        raise CLIError(f"no model given: pass --model NAME ({', '.join(MODEL_ALIASES)})")
    run_dir = Path(spec.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise CLIError(f"--out {run_dir} is a file; the run folder must be a folder")
    if resume and spec.limit and spec.limit_rule is None:  # a resume keeps the examples the run kept
        spec.limit_rule = saved_limit_rule(run_dir)
    trainer = make_trainer(spec, run_dir, resume=resume, progress=progress)
    dataset = dataset if dataset is not None else load_data(spec)
    seed_everything(trainer.config.seed)  # the initial weights follow --seed too
    model = build_model(spec, dataset)
    check_fit(model, dataset, spec, trainer.config.monitor)
    main_process = rank_zero()  # under torchrun, rank 0 alone clears, writes and reports the run folder
    if resume:
        check_resume(model, run_dir, spec, trainer, dataset)
    if main_process:
        make_run_dir(run_dir)  # and writable: a read-only folder fails here, not at the first checkpoint
    if resume and main_process:  # run.yaml: the spec the run goes on with (more epochs), once fit takes it
        trainer.callbacks.append(save_spec_at_start(spec, run_dir))
    elif main_process:
        clear_previous_run(run_dir, overwrite=overwrite)
        spec.save(run_dir)
    try:
        history = trainer.fit(model, dataset, data_options=spec.data_options)
    except (TrainingDiverged, CheckpointError) as e:
        raise CLIError(str(e).splitlines()[0]) from e
    except ValueError as e:  # data the model cannot take, met in a batch after the first few (check_fit)
        last = RunDir(run_dir).last_checkpoint
        kept = f"; the last checkpoint is {last}" if last.is_file() else ""
        raise CLIError(f"training stopped: {str(e).splitlines()[0]}{kept}") from e
    except OSError as e:  # a checkpoint or run file that cannot be written (a full disk, a read-only folder)
        last = RunDir(run_dir).last_checkpoint
        kept = f"; the last checkpoint is {last}" if last.is_file() else ""
        raise CLIError(f"training stopped: cannot write {e.filename or run_dir}: {e.strerror or e}{kept}") from e
    metrics = dict(history.test) or evaluate_run(model, dataset, run_dir)
    cuts = limit_cuts(dataset.info)  # what --limit cut: the note under the printed table, the report's facts
    seconds = time.perf_counter() - start
    path = None
    if report and main_process:
        from rnnkit.report.run_plots import make_run_report

        facts = {"training time": f"{seconds:.1f} s", "run folder": str(run_dir)}
        facts.update(limit_facts(spec, cuts))
        path = make_run_report(model, dataset, run_dir, metrics=metrics, facts=facts)
    return TrainResult(run_dir, model, dataset, history, metrics, seconds, path)


def save_spec_at_start(spec: RunSpec, run_dir: Path) -> Any:
    """A callback that writes run.yaml when training starts: a resume rewrites it only once the Trainer
    has accepted it (and brings back a deleted one)."""
    from rnnkit.train import Callback

    class SaveSpec(Callback):
        def on_fit_start(self, trainer: Any, state: Any) -> None:
            spec.save(run_dir)

    return SaveSpec()


def make_trainer(spec: RunSpec, run_dir: Path, *, resume: bool, progress: bool) -> Any:
    """The Trainer for ``spec.train`` (its settings checked), and for ``resume`` a checkpoint to continue."""
    from rnnkit.train import RunDir, Trainer

    try:
        trainer = Trainer(**spec.train, report=False, run_dir=str(run_dir), resume=resume,
                          progress=progress)  # train_run draws the report, with its facts
    except (TypeError, ValueError) as e:
        raise CLIError(f"bad training settings {spec.train}: {e}") from e
    trainer.resume_terms = cli_terms()  # a resume that trains nothing names these flags, not Trainer keywords
    run = RunDir(run_dir)
    if resume and not run.last_checkpoint.is_file():
        from rnnkit.train.resume import NO_STAND_IN, start_over

        # epochs trained (history.csv) that nothing can resume: a plain run is refused too (clear_previous_run)
        way = f"{NO_STAND_IN}: {start_over(run, cli_terms())}" if run.holds_run() else \
            "run without --resume to start afresh"
        raise CLIError(f"--resume: {run_dir} has no checkpoint to continue from ({run.last_checkpoint}); {way}")
    return trainer
