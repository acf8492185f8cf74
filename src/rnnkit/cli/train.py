"""``rnnkit train``: train one model on one data set from a YAML config, a recipe, or flags.

    rnnkit train --data japanese_vowels --model classifier --cell gru --hidden 128 --epochs 30 --out runs/jv
    rnnkit train --config my_run.yaml --epochs 5      # flags override the file
    rnnkit train --recipe japanese_vowels             # recipes/japanese_vowels.yaml
    rnnkit train --data air_passengers                # no --model: the data's shape picks it (forecaster)

The run folder gets the Trainer's files (config.yaml, model.safetensors, history.csv, metrics.json,
vocabularies/scalers), the spec as run (run.yaml), plots/*.png and report.html.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rnnkit.cli.main import CLIError
from rnnkit.cli.runspec import (
    MODEL_ALIASES,
    SPEC_FILE,
    RunSpec,
    applied_limit_rule,
    build_model,
    load_data,
    load_yaml,
    read_spec,
    recipe_path,
    spec_from_dict,
    train_keys,
)
from rnnkit.train.settings import PRECISIONS

if TYPE_CHECKING:  # (no torch at import: `rnnkit --help` reads this module)
    from rnnkit.train.resume import ResumeTerms

# flag dest -> model option name
MODEL_FLAGS = {"cell": "cell", "hidden": "hidden_size", "layers": "num_layers", "dropout": "dropout",
               "bidirectional": "bidirectional"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a data set (from flags, a YAML config or a recipe)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", metavar="FILE", help="a YAML run spec (data, model, model_options, train, out)")
    src.add_argument("--recipe", metavar="NAME", help="recipes/NAME.yaml, same schema as --config")
    p.add_argument("--data", metavar="NAME", help="a bundled data set (`rnnkit datasets`) or FORMAT:path")
    p.add_argument("--model", metavar="NAME", help=f"one of {', '.join(MODEL_ALIASES)} or a model class name "
                   "(default: the one the data set's shape calls for)")
    p.add_argument("--cell", choices=["rnn", "lstm", "gru", "mingru", "minlstm"], help="recurrent cell")
    p.add_argument("--hidden", type=int, metavar="N", help="hidden size (feedforward: one hidden layer of N units)")
    p.add_argument("--layers", type=int, metavar="N", help="number of recurrent layers")
    p.add_argument("--dropout", type=float, metavar="P", help="dropout probability")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="a bidirectional encoder, or not (default: what the data suggest, see `rnnkit info`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other model option (value read as YAML), e.g. --set pooling=attention")
    p.add_argument("--train-option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other Trainer setting (value read as YAML), e.g. --train-option checkpoint_every=200")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option for the data set loader (value read as YAML)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="keep N examples of each split (quick runs): a random sample with a fixed seed, the same "
                        "in every run, stratified by class for classification, kept in the split's order")
    p.add_argument("--vectors", action="store_true", default=None,
                   help="one-to-one: flatten each fixed-length sequence into one vector (for feedforward)")
    p.add_argument("--ensemble", type=int, metavar="K",
                   help="train K models side by side and average their predictions (default 1)")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    p.add_argument("--early-stopping", type=int, metavar="N", help="stop after N epochs without improvement")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="bf16: mixed precision (autocast); auto: bf16 where the GPU or CPU multiplies bfloat16 "
                        "in hardware (AVX512-BF16, AMX), else fp32")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<data>-<model>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run that --out already holds (else that is an error: nothing is lost)")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.add_argument("--no-report", action="store_true", help="skip plots and report.html")
    p.set_defaults(func=run)


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip().replace("-", "_")] = load_yaml(value)
        except yaml.YAMLError as e:
            if value.strip().startswith(("[", "{", '"', "'")):  # a list, a mapping or a quoted string, broken: say so
                raise CLIError(f"{flag} {pair!r}: the value is not valid YAML ({str(e).splitlines()[0]}); "
                               f"a list is [a, b], a mapping {{a: 1}}, a quoted text '...'") from e
            # a plain value YAML cannot read (%d/%m/%Y starts with a reserved character): the text itself
            out[key.strip().replace("-", "_")] = value
    return out


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The YAML spec (if any) with the flags laid over it."""
    if args.config:
        spec = read_spec(args.config)
    elif args.recipe:
        spec = read_spec(recipe_path(args.recipe))
    else:
        spec = spec_from_dict({}, "flags")
    spec.data = args.data or spec.data
    spec.model = args.model or spec.model
    for dest, option in MODEL_FLAGS.items():
        if getattr(args, dest) is not None:
            spec.model_options[option] = getattr(args, dest)
    spec.model_options.update(_key_values(args.set, "--set"))
    spec.data_options.update(_key_values(args.data_option, "--data-option"))
    options = _key_values(args.train_option, "--train-option")
    bad = sorted(set(options) - set(train_keys()))
    if bad:
        raise CLIError(f"--train-option {bad[0]}: no such Trainer setting (the run folder, resuming, the progress bar "
                       f"and the report have their own flags); the settings: {', '.join(train_keys())}")
    spec.train.update(options)
    for key in ("epochs", "batch_size", "lr", "early_stopping", "seed", "precision"):
        if getattr(args, key) is not None:
            spec.train[key] = getattr(args, key)
    if args.limit is not None:
        if args.limit < 1:
            raise CLIError(f"--limit must be >= 1 (examples kept per split), got {args.limit}")
        spec.limit = args.limit
    spec.vectors = bool(args.vectors) or spec.vectors
    if args.ensemble is not None:
        if args.ensemble < 1:
            raise CLIError(f"--ensemble must be >= 1, got {args.ensemble}")
        spec.ensemble = args.ensemble
    if not spec.data:
        raise CLIError("no data set given: pass --data NAME (see `rnnkit datasets`), --config FILE or --recipe NAME")
    spec.out = args.out or spec.out  # else runs/<data>-<model>, once the model is known (choose_model)
    return spec


def model_for(info: Any) -> str:
    """The ``--model`` that a data set's problem shape calls for (see DESIGN.md's table of shapes)."""
    if info.shape == "many-to-one":
        return "regressor" if info.task == "regression" else "classifier"
    if info.shape == "one-to-many":
        return "generator" if info.cond_shape else "lm"
    by_shape = {"one-to-one": "feedforward", "synced": "tagger", "many-to-many": "seq2seq",
                "forecasting": "forecaster"}
    if info.shape not in by_shape:
        raise CLIError(f"no model given, and the data set's shape {info.shape!r} names none: pass --model NAME "
                       f"({', '.join(MODEL_ALIASES)})")
    return by_shape[info.shape]


def choose_model(spec: RunSpec) -> Any:
    """Without ``--model``, load the data and pick the model its shape calls for, saying so on
    stderr; then the run folder defaults to ``runs/<data>-<model>``. Returns the loaded data set
    (None when the spec names its model)."""
    dataset = None
    if not spec.model:
        dataset = load_data(spec)
        info = dataset.info
        spec.model = model_for(info)
        what = f"{info.shape} {info.task}" if info.shape == "many-to-one" else info.shape
        print(f"model: {spec.model} (the data set is {what}; pass --model to choose another)", file=sys.stderr)
    spec.out = spec.out or f"runs/{Path(spec.data).stem.replace(':', '-')}-{spec.model.lower()}"
    return dataset


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


def rank_zero() -> bool:
    """Whether this process owns the run folder: always alone, rank 0 under torchrun."""
    return os.environ.get("RANK", "0") == "0"


def clear_previous_run(run_dir: Path, *, overwrite: bool) -> None:
    """A folder that already holds a run (a model or a checkpoint) is an error unless ``overwrite``;
    then that run's files and folders (:data:`RUN_ENTRIES`) are removed, so that none of its
    vocabularies, checkpoints or plots outlives it beside the new run. Other files in the folder are
    left alone. A run stopped before its first last checkpoint has nothing to resume: its folder is
    reused (the new run writes its files over that start's; a best.safetensors it left is removed)."""
    from rnnkit.train import RunDir

    run = RunDir(run_dir)
    started = run.holds_run() or run.config_yaml.exists() or (run_dir / SPEC_FILE).exists()
    if overwrite and started:  # (a folder with no run in it keeps everything, plots/ of one's own included)
        run.clear()
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
    seconds = time.perf_counter() - start
    path = None
    if report and main_process:
        from rnnkit.report.run_plots import make_run_report

        facts = {"training time": f"{seconds:.1f} s", "run folder": str(run_dir)}
        if spec.limit:
            kept = f"its first {spec.limit} examples" if spec.limit_rule == "first" else \
                f"a seeded random sample of at most {spec.limit} examples (by class share for classification, " \
                "in the split's order)"
            facts["cut by --limit"] = (f"each split keeps {kept}: the scores are not comparable with the "
                                       "published figures, which use the whole test split")
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
    if resume and not RunDir(run_dir).last_checkpoint.is_file():
        raise CLIError(f"--resume: {run_dir} has no checkpoint to continue from "
                       f"({RunDir(run_dir).last_checkpoint}); run without --resume to start afresh")
    return trainer


def cli_terms() -> ResumeTerms:
    """How a resume that trains nothing names what to change here: the flags, and the ``train:``
    settings of a config or recipe (the Trainer's own words are its keyword arguments)."""
    from rnnkit.train.resume import ResumeTerms

    return ResumeTerms(epochs="--epochs {}", early_stopping="--early-stopping {}",
                       new_run="--overwrite, or another --out",
                       train_longer="more patience (--early-stopping N, or early_stopping under train: in the config "
                                    "or recipe) or without early stopping (--train-option early_stopping=null)",
                       more_epochs="raise --epochs, or epochs under train: in the config or recipe, to extend the run")


def check_resume(model: Any, run_dir: Path, spec: RunSpec, trainer: Any, dataset: Any) -> None:
    """Load the last checkpoint's weights into ``model`` (fit() does it again, with the optimizer), and
    refuse, before anything is written, a resume whose model, data or training settings differ from the
    run's (the model's config in config.yaml; the data, its options and --limit in run.yaml; the data's
    classes, vocabularies and split sizes in info.json or the checkpoint; the trainer settings that shape
    the optimisation in the checkpoint): one message names each difference. More epochs or --max-steps
    extend the run; progress and report flags change nothing in it. A run whose data can be checked
    neither way (no readable run.yaml, info.json or data record in its checkpoint) is refused."""
    from rnnkit.train import CheckpointError, RunDir, load_checkpoint
    from rnnkit.train.resume import recorded_data, resume_changes

    run = RunDir(run_dir)
    try:
        checkpoint = load_checkpoint(run.last_checkpoint)
    except CheckpointError as e:  # truncated, altered, not a checkpoint: no options would make it fit
        raise CLIError(f"--resume: {str(e).splitlines()[0]}") from e
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


def evaluate_run(model: Any, dataset: Any, run_dir: Path) -> dict[str, float]:
    """Test-split metrics of ``model`` (valid if there is no test split), stored under ``"test"``
    (or ``"valid"``) in the run's metrics.json, which keeps its other entries."""
    import json
    import math

    from rnnkit.train.checkpoint import atomic_write_text
    from rnnkit.train.evaluation import evaluate_split
    from rnnkit.train.run_dir import scores_mixture

    split_name = "test" if len(dataset.test) else "valid"
    split = getattr(dataset, split_name)
    metrics = evaluate_split(model, split.examples, dataset.info, collate_fn=dataset.collate,
                             extras=dataset.extras)
    path = run_dir / "metrics.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    saved[split_name] = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
    if scores_mixture(model) and saved.get("ensemble_loss") != "mixture":
        saved["ensemble_loss"] = _older_ensemble_losses(saved, split_name, run_dir)
    atomic_write_text(path, json.dumps(saved, indent=1))
    return metrics


def _older_ensemble_losses(saved: dict[str, Any], split_name: str, run_dir: Path) -> str | dict[str, str]:
    """metrics.json's ``ensemble_loss`` after scoring ``split_name`` of an ensemble run trained before
    rnnkit scored an ensemble's loss on its mixture (no ``"ensemble_loss": "mixture"`` there): the
    split just scored holds the mixture's loss; entries from training hold the members' mean (said
    on stderr, since the two are not comparable)."""
    earlier = saved.get("ensemble_loss")
    kinds = dict(earlier) if isinstance(earlier, dict) else {
        name: "members' mean" for name in ("valid", "test") if isinstance(saved.get(name), dict) and saved[name]}
    kinds[split_name] = "mixture"
    older = sorted(name for name, kind in kinds.items() if kind != "mixture")
    if not older:
        return "mixture"
    print(f"note: {run_dir} is an ensemble run trained before rnnkit scored an ensemble's loss (and perplexity) on "
          f"its mixture: metrics.json's {' and '.join(older)} loss is its members' mean, the {split_name} loss "
          "just scored is the mixture's (never higher); metrics.json says which is which (ensemble_loss)",
          file=sys.stderr)
    return kinds


def best_published(info: Any, metric: str) -> str:
    """The best published figure for ``metric`` as ``"0.993 FCN"`` (all of them are in the report), or ``"-"``."""
    refs = [p for p in getattr(info, "published", []) if p.metric == metric]
    if not refs:
        return "-"
    from rnnkit.train.history import lower_is_better

    lower = (not getattr(info, "higher_is_better", True) if metric == getattr(info, "metric", "")
             else lower_is_better(metric))  # per, wer, mae ... by name
    best = min(refs, key=lambda p: p.value) if lower else max(refs, key=lambda p: p.value)
    return f"{best.value:.4g} {best.model}"


def print_metrics(metrics: dict[str, float], info: Any, title: str) -> None:
    """A rich table: each metric next to the published figures for it."""
    from rich.console import Console
    from rich.table import Table

    if not metrics:
        sizes = getattr(info, "sizes", None) or {}
        print(f"{title}: nothing to score: the data set has no test or valid examples (sizes {sizes}); give it a "
              "test file (--data-option test=FILE) or a test_fraction")
        return
    table = Table(title=title)
    for col in ("metric", "rnnkit", "published / baseline"):
        table.add_column(col, justify="right" if col == "rnnkit" else "left")
    for name, value in metrics.items():
        ref = best_published(info, name)
        star = " *" if name == getattr(info, "metric", "") else ""
        table.add_row(name + star, f"{value:.4g}" if isinstance(value, float) else str(value), ref)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    dataset = choose_model(spec)
    try:
        if args.resume and args.overwrite:
            raise CLIError("--resume continues the run in --out and --overwrite replaces it: pass one")
        result = train_run(spec, progress=not args.no_progress, resume=args.resume, report=not args.no_report,
                           dataset=dataset, overwrite=args.overwrite)
    except KeyboardInterrupt:
        from rnnkit.train import RunDir

        last = RunDir(spec.out).last_checkpoint
        where = (f"the last checkpoint is {last}; run the same command with --resume to continue" if last.is_file()
                 else "no checkpoint was written yet; run the same command again to start afresh")
        print(f"rnnkit train: interrupted; {where}", file=sys.stderr)
        return 130
    if not rank_zero():
        return 0  # under torchrun, rank 0 prints the result
    scored = "test" if len(result.dataset.test) else "valid"
    print_metrics(result.metrics, result.dataset.info, f"{result.dataset.info.name}: {scored} metrics")
    print(f"run folder: {result.run_dir}  ({result.seconds:.1f} s)")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0
