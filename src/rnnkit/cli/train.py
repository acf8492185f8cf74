"""``rnnkit train``: train one model on one data set from a YAML config, a recipe, or flags.

    rnnkit train --data japanese_vowels --model classifier --cell gru --hidden 128 --epochs 30 --out runs/jv
    rnnkit train --config my_run.yaml --epochs 5      # flags override the file
    rnnkit train --recipe japanese_vowels             # recipes/japanese_vowels.yaml
    rnnkit train --data air_passengers                # no --model: the data's shape picks it (forecaster)

The run folder gets the Trainer's files (config.yaml, model.safetensors, history.csv, metrics.json,
vocabularies/scalers), the spec as run (run.yaml), plots/*.png and report.html.
"""

# The command's steps live beside this module, one idea each (the module docstring above is the
# command's --help, so they are listed here): the flags made a spec (train_flags), the run
# (train_fit), the checks on its folder and model (train_checks), a resume's checks (train_resume)
# and the run's scores (train_metrics).

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rnnkit.cli.main import CLIError

# what this module offered before its split, offered here still: callers, tests and monkeypatches use
# these names (`run` looks up `train_run` here, so patching rnnkit.cli.train.train_run reaches it)
from rnnkit.cli.runspec import (  # noqa: F401
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
from rnnkit.cli.train_checks import (  # noqa: F401
    _foreign_config,
    check_fit,
    clear_previous_run,
    make_run_dir,
    rank_zero,
)
from rnnkit.cli.train_fit import TrainResult, make_trainer, save_spec_at_start, train_run  # noqa: F401
from rnnkit.cli.train_flags import MODEL_FLAGS, _key_values, choose_model, model_for, spec_from_args  # noqa: F401
from rnnkit.cli.train_metrics import (  # noqa: F401
    _older_ensemble_losses,
    best_published,
    evaluate_run,
    print_metrics,
)
from rnnkit.cli.train_resume import (  # noqa: F401
    check_resume,
    cli_terms,
    data_changes,
    saved_limit_rule,
    saved_spec,
    settings_files,
)
from rnnkit.train.settings import PRECISIONS


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


class Terminated(KeyboardInterrupt):
    """SIGTERM while training (``kill``, a job scheduler's stop): stops the run as Ctrl-C does."""


@contextmanager
def stops_and_notes() -> Iterator[None]:
    """While ``rnnkit train`` trains: SIGTERM raises :class:`Terminated`, so that it stops where Ctrl-C
    would, with the same line on how to resume (the checkpoints are written atomically either way), and
    the Trainer's :class:`NothingTrains` warnings show as ``note:`` lines, not as a Python warning with
    its source line. Both are put back afterwards (Python's own handler: a signal from the main thread
    only, so elsewhere SIGTERM keeps its handler)."""
    import signal
    import threading
    import warnings

    from rnnkit.train.resume import NothingTrains

    shown = warnings.formatwarning

    def note(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             line: str | None = None) -> str:
        if issubclass(category, NothingTrains):
            return f"note: {message}\n"
        return shown(message, category, filename, lineno, line)

    def terminated(signum: int, frame: object) -> None:
        raise Terminated

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminated) if main_thread else None
    warnings.formatwarning = note
    try:
        yield
    finally:
        warnings.formatwarning = shown
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    dataset = choose_model(spec)
    try:
        if args.resume and args.overwrite:
            raise CLIError("--resume continues the run in --out and --overwrite replaces it: pass one")
        with stops_and_notes():
            result = train_run(spec, progress=not args.no_progress, resume=args.resume, report=not args.no_report,
                               dataset=dataset, overwrite=args.overwrite)
    except KeyboardInterrupt as stop:
        from rnnkit.train import RunDir

        last = RunDir(spec.out).last_checkpoint
        where = (f"the last checkpoint is {last}; run the same command with --resume to continue" if last.is_file()
                 else "no checkpoint was written yet; run the same command again to start afresh")
        print(f"rnnkit train: interrupted; {where}", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130  # 128 + the signal's number, as a shell reports it
    if not rank_zero():
        return 0  # under torchrun, rank 0 prints the result
    scored = "test" if len(result.dataset.test) else "valid"
    print_metrics(result.metrics, result.dataset.info, f"{result.dataset.info.name}: {scored} metrics")
    print(f"run folder: {result.run_dir}  ({result.seconds:.1f} s)")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0
