"""``rnnkit train --resume``: what a resume must match of the run it continues, checked before
anything is written, and how its messages name the flags and files to change.

    check_resume(model, run_dir, spec, trainer, dataset)   # CLIError naming each difference
    data_changes(spec, run_dir)                            # ["limit 20 (now 40)", ...] against run.yaml
    trainer.resume_terms = cli_terms()                     # the flags a resume that trains nothing names
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec import SPEC_FILE, RunSpec, applied_limit_rule

if TYPE_CHECKING:  # (no torch at import: `rnnkit --help` reads this module)
    from rnnkit.train.resume import ResumeTerms

def cli_terms() -> ResumeTerms:
    """How a resume that trains nothing names what to change here: the flags, and the ``train:``
    settings of a config or recipe (the Trainer's own words are its keyword arguments)."""
    from rnnkit.train.resume import ResumeTerms

    return ResumeTerms(epochs="--epochs {}", early_stopping="--early-stopping {}",
                       new_run="--overwrite, or another --out",
                       train_longer="more patience (--early-stopping N, or early_stopping under train: in the config "
                                    "or recipe) or without early stopping (--train-option early_stopping=null)",
                       more_epochs="raise --epochs, or epochs under train: in the config or recipe, to extend the run",
                       overwrite="--overwrite", elsewhere="another --out")


def check_resume(model: Any, run_dir: Path, spec: RunSpec, trainer: Any, dataset: Any) -> None:
    """Load the last checkpoint's weights into ``model`` (fit() does it again, with the optimizer), and
    refuse, before anything is written, a resume whose model, data or training settings differ from the
    run's (the model's config in config.yaml; the data, its options and --limit in run.yaml; the data's
    classes, vocabularies and split sizes in info.json or the checkpoint; the trainer settings that shape
    the optimisation in the checkpoint): one message names each difference. More epochs or --max-steps
    extend the run; progress and report flags change nothing in it. A run whose data can be checked
    neither way (no readable run.yaml, info.json or data record in its checkpoint) is refused."""
    from rnnkit.train import CheckpointError, RunDir, load_checkpoint
    from rnnkit.train.resume import NO_STAND_IN, recorded_data, resume_changes, start_over

    run = RunDir(run_dir)
    try:
        checkpoint = load_checkpoint(run.last_checkpoint)
        checkpoint.optimizer_state_dict()  # weights-only (best.safetensors copied over it): no resume either
    except CheckpointError as e:  # truncated, altered, not a checkpoint: no options would make it fit
        raise CLIError(f"--resume: {str(e).splitlines()[0]}; {NO_STAND_IN}: {start_over(run, cli_terms())}") from e
    _check_epochs(run, checkpoint, trainer.config.epochs)
    if saved_spec(run_dir) is None and recorded_data(run, checkpoint) is None:
        raise CLIError(f"--resume: {run_dir / SPEC_FILE} and {run.info_json} are missing or unreadable, so the data "
                       f"this run was trained on cannot be checked; put them back, or start a new run (another "
                       "--out, or --overwrite to replace this one)")
    # run.yaml's first: an ensemble of another size says so before the model's members that follow from it
    changed = data_changes(spec, run_dir) + resume_changes(trainer.config, checkpoint, run, model, dataset)
    try:
        checkpoint.restore(model)
    except CheckpointError as e:
        detail = str(e).splitlines()[0].split("does not fit this model: ", 1)[-1]
        named = f"the run in {run_dir} was trained with {', '.join(changed)}: " if changed else ""
        raise CLIError(f"--resume: {named}{run.last_checkpoint} does not fit the model built from these options "
                       f"({detail}); resume with the options it was trained with{settings_files(run_dir)}") from e
    if changed:
        raise CLIError(f"--resume: the run in {run_dir} was trained with other settings: {', '.join(changed)}; "
                       f"resume with the settings it was trained with{settings_files(run_dir)}, or start a new run "
                       "(another --out, or --overwrite to replace this one)")


def _check_epochs(run: Any, checkpoint: Any, epochs: int) -> None:
    """Refuse --epochs below the epochs the run holds: a resume cannot take epochs back, and going on would
    record the fewer epochs in config.yaml and run.yaml beside a history.csv and metrics.json that hold
    more. (As many as it holds: nothing trains, and the Trainer says so in a note.)"""
    held = int(checkpoint.meta.get("epoch") or 0)
    if epochs < held:
        raise CLIError(f"--resume: the run in {run.path} already holds {held} epochs, more than --epochs {epochs}: "
                       f"a resume cannot shorten it; resume with --epochs {held} to finish it as it is (or more to "
                       "extend it), or start a new run (another --out, or --overwrite to replace this one)")


def settings_files(run_dir: Path) -> str:
    """Where a message points for the settings a run was trained with: `` (run.yaml)``, the whole spec;
    without it, `` (config.yaml and info.json)`` (the trainer and model settings; the data), those of them
    that are there; ``""`` when none is (the checkpoint alone holds them)."""
    from rnnkit.train import RunDir

    run = RunDir(run_dir)
    files = [run_dir / SPEC_FILE] if (run_dir / SPEC_FILE).is_file() else \
        [path for path in (run.config_yaml, run.info_json) if path.is_file()]
    return f" ({' and '.join(str(path) for path in files)})" if files else ""


def saved_spec(run_dir: Path) -> dict[str, Any] | None:
    """The run's run.yaml as a mapping; None if it is missing or unreadable."""
    try:
        kept = yaml.safe_load((run_dir / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return kept if isinstance(kept, dict) else None


def saved_limit_rule(run_dir: Path) -> str | None:
    """The limit_rule of the run's run.yaml: as saved, or "first" for a run with a limit trained before
    the rule was saved (then limit kept the first N examples); None without a readable limit."""
    kept = saved_spec(run_dir)
    if kept is None:
        return None
    return applied_limit_rule(kept.get("limit"), kept.get("limit_rule"))


def data_changes(spec: RunSpec, run_dir: Path) -> list[str]:
    """The data, data options, --limit, vectors and ensemble of ``spec`` against the run's run.yaml,
    each as ``"name old (now new)"`` (no readable run.yaml: none; check_resume then compares the
    data with info.json or the checkpoint's record, and refuses if neither is there)."""
    kept = saved_spec(run_dir)
    if kept is None:
        return []
    now = spec.as_saved()
    changed = [f"{key} {kept.get(key)!r} (now {now[key]!r})" for key in ("data", "limit", "vectors", "ensemble")
               if key in kept and kept[key] != now[key]]
    rule = applied_limit_rule(kept.get("limit"), kept.get("limit_rule"))
    if kept.get("limit") and kept.get("limit") == now["limit"] and rule != now["limit_rule"]:
        changed.append(f"limit_rule {rule!r} (now {now['limit_rule']!r})")
    options, kept_options = now["data_options"] or {}, kept.get("data_options") or {}
    changed += [f"data option {k} {kept_options.get(k)!r} (now {options.get(k)!r})"
                for k in [*kept_options, *(k for k in options if k not in kept_options)]
                if kept_options.get(k) != options.get(k)]
    return changed
