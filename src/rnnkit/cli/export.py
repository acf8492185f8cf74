"""``rnnkit export RUN``: write a trained one-pass model as a program that runs without rnnkit.

    rnnkit export runs/jv                        # runs/jv/export/model.pt (TorchScript, torch.jit.trace)
    rnnkit export runs/jv --format torch.export  # runs/jv/export/model.pt2 (torch.export)
    rnnkit export runs/jv --format onnx          # runs/jv/export/model.onnx (onnxruntime, ...)

The exported program takes ``(x, lengths)`` — ``x`` ``(B, T, F)`` float or ``(B, T)`` int64 token
ids, ``lengths`` ``(B,)`` int64; a forecaster with known-future covariates also ``future``
``(B, H, C)`` — and returns the logits (classification, tagging) or predictions
(regression, forecasting). TorchScript tracing records the path taken for the example's kind of
input. torch.export runs each recurrent layer on an export-friendly backend (the cell's parallel
scan where it has one, else the loop over time as torch's scan operator, ``export_loop``; torch's
fused op packs sequences by their lengths' values, which a traced program cannot): the batch size
and ``T`` are free. A cell whose step the scan operator cannot hold has its loop unrolled instead,
and ``T`` is then at most the longest sequence of the data set (the program pads ``x`` to that
length inside). ONNX (``pip install 'rnnkit[export]'``) turns each RNN / GRU / LSTM stack into ONNX's own
recurrent nodes with ``sequence_lens``, one per layer, so ``T`` is free and onnxruntime runs them
fused; its dimensions are named ``batch`` and ``steps``, its output ``logits`` or ``predictions``,
and its metadata_props hold the task, the class or tag names (``labels``, JSON), the token
vocabularies (``input_vocab``, ``output_vocab``: JSON lists, the id is the position; with
``input_vocab_endings`` "true", an unknown word is read as its ``<unk:X>`` token, X its last
character, where the list holds one) and, for a user's own text, the tokenizer as the run folder
saved it (``tokenizer``); ``lowercase`` "true" where the run lowercased its tokens (CoNLL's option),
and ``prompt_bos`` "true" where a language model's prompt starts with ``<bos>`` (id 2), as
``rnnkit predict`` starts it. Other cells (layer norm, minGRU, minLSTM) become one ONNX ``Scan`` per
layer and direction, or their parallel scan's nodes. The command says which numbers of steps the
program takes (a lag-12 difference needs 13 or more): a TorchScript or torch.export program refuses a
shorter history, or a length below that; ONNX cannot, so its metadata_props hold ``min_steps`` and
``rnnkit.cli.export_onnx.run_session`` refuses one. The other input-value checks of ``Recurrent``
(lengths in 1..T), of token ids and of the Forecaster (no NaN) are skipped inside the program: keep
lengths in range and fill missing values before calling it.
A seq2seq or generation run exports to ONNX as two files: ``model.init.onnx`` (the source, the
condition or the prompt -> the decoder's state) and ``model.step.onnx`` (one step: (tokens, state)
-> log_probs, next state), which a decoding loop of a few lines calls
(``rnnkit.cli.export_decoding.onnx_greedy``, and ``onnx_beam`` for beam search, both in numpy);
bos, eos, the longest output and the vocabularies are in their metadata. An ensemble's step runs
every member's and mixes their next-token probabilities, as the model does. The export is checked
against the model before the command reports success: one-pass programs on the two longest test
examples and on 16 others (another batch size, other lengths), loaded from the file as a user
loads it; step-decoded ones by greedy decoding of 16 test examples, all in onnxruntime for ONNX;
files that differ are removed. ``--out`` never replaces a file of the run (outside ``RUN/export/``),
nor, without ``--overwrite``, any existing file; a TorchScript program whose loop is unrolled to
the data's longest sequence refuses a longer ``x`` by name. Where the run's data cannot be loaded (a
folder moved to another machine), the trace and the check use random inputs of the run's shapes
instead, and the command says so.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# the parts of an export, each in its own module; re-exported here, where callers have always found them
from rnnkit.cli.export_backends import _recurrent_layers as _recurrent_layers
from rnnkit.cli.export_backends import _traced_backends as _traced_backends
from rnnkit.cli.export_backends import export_backends, loop_layers, torchscript_backends
from rnnkit.cli.export_checks import (
    DRIFT_FACTOR,
    check_outputs,
    program_inputs,
    program_output,
    random_inputs,
    refused_steps,
    relative_difference,
    rounding_drift,
    step_range,
    steps_in_words,
    takes_one_step,
)
from rnnkit.cli.export_history import forecast_steps, sizes_oblivious_of_one
from rnnkit.cli.export_history import history_check as history_check
from rnnkit.cli.export_scoring import Scaling, at_most_steps, scoring_module
from rnnkit.cli.main import CLIError

ONE_PASS_TASKS = ("classification", "regression", "tagging", "forecasting")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained run as a TorchScript, torch.export or ONNX program",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `rnnkit train`")
    p.add_argument("--format", choices=["torchscript", "torch.export", "onnx"], default=None,
                   help="torchscript (.pt, default), torch.export (.pt2) or onnx (.onnx); without it, --out's "
                        "suffix chooses")
    p.add_argument("--out", metavar="FILE", help="where to write (default RUN/export/model.pt, .pt2 or .onnx; "
                                                 "without a suffix, the format's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file (a run's own files, outside RUN/export/, never)")
    p.set_defaults(func=run)


def torch_export(model: Any, x: Any, lengths: Any, *, max_steps: int, onnx: bool = False,
                 future: Any = None, scaling: Scaling | None = None, loop_op: bool = True) -> Any:
    """``torch.export`` of ``scoring_module(model)`` with a free batch size and number of steps
    (at most ``max_steps`` where a layer runs the unrolled loop over time, ``loop_op=False``);
    ``onnx``: recurrent layers on the ``onnx`` backend where they can (call it under
    ``torch.no_grad()``). ``future``: a forecaster's known-future covariates, a third input."""
    import torch
    from torch.export import Dim

    batch = Dim("batch", min=1)
    args = [x, lengths] + ([] if future is None else [future])
    if x.shape[0] == 1:  # a traced size of 1 is taken as a constant: trace on two copies
        args = [torch.cat([a, a]) for a in args]
    with export_backends(model, onnx=onnx, loop_op=loop_op) as free:
        pad_to = None if free else max(max_steps, int(x.shape[1]))
        module = scoring_module(model, pad_to=pad_to, scaling=scaling)

        def traced(steps: Any) -> Any:  # steps: x's dimension 1, or None for (B, F) vector inputs
            shapes = {"x": {0: batch} if steps is None else {0: batch, 1: steps}, "lengths": {0: batch},
                      **({} if future is None else {"future": {0: batch}})}
            return torch.export.export(module, tuple(args), dynamic_shapes=shapes)

        if x.dim() == 2 and x.is_floating_point():  # (B, F) vector inputs have no steps
            return traced(None)
        window, shortest = forecast_steps(model)  # a window: the program cuts x to it first
        # from the fewest steps the model takes (1; a differenced forecaster's sum(difference) + 1: a range
        # from 1 contradicts its guards, and a trace from 1 only fails, 2-5 s lost), to the padded length
        # where the unrolled loop pads x. Without a window a differenced forecaster's network reads T -
        # sum(difference) steps, and torch's guards against a size of 1 would refuse T = shortest: its
        # sizes are traced oblivious of 1, which keeps the fewest steps the program takes
        steps = Dim("steps", min=shortest) if pad_to is None or window is not None \
            else Dim("steps", min=shortest, max=max(pad_to, shortest))
        with sizes_oblivious_of_one() if shortest > 1 else contextlib.nullcontext():
            try:
                return traced(steps)
            except Exception:  # the model's own guards need more steps: they set the range
                return traced(Dim.AUTO)


def export(model: Any, x: Any, lengths: Any | None, path: Path, fmt: str, *, max_steps: int | None = None,
           output_name: str = "output", metadata: dict[str, str] | None = None,
           future: Any = None, scaling: Scaling | None = None, check: tuple | None = None) -> tuple[float, str]:
    """Export ``model`` for inputs like ``(x, lengths[, future])`` (``lengths`` None: ones) to
    ``path`` (``fmt``: torchscript, torch.export or onnx, whose output is named ``output_name`` and
    which carries ``metadata``).
    Returns the largest difference between the exported program's output and the model's on that
    input (and on ``check``, other inputs of that form, through the file loaded afresh), relative to
    the output's largest magnitude where that exceeds 1, and the numbers of steps the program
    takes, in words ("" for TorchScript)."""
    import torch

    if lengths is None:  # (B, F) vectors and other one-step inputs: the program still takes lengths
        lengths = torch.ones(x.shape[0], dtype=torch.long)
    module = scoring_module(model, scaling=scaling)
    args = (x, lengths) if future is None else (x, lengths, future)
    def on_check() -> float:
        return 0.0 if check is None else relative_difference(program_output(path, fmt, check), module(*check))

    with torch.no_grad():
        expected = module(*args)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "torchscript":
            with torchscript_backends(model) as loops:
                given = int(x.shape[1]) if x.dim() >= 2 else 1
                pad_to = max(max_steps or given, given) if loops and not (x.dim() == 2 and x.is_floating_point()) \
                    else None
                traced = torch.jit.trace(scoring_module(model, pad_to=pad_to, scaling=scaling), args,
                                         check_trace=False)
            window, shortest = forecast_steps(model)
            # a forecaster cuts any longer history to its window before the padding; its differencing
            # needs `shortest` steps, which the program checks
            most = None if pad_to is None or window is not None else pad_to
            if most is not None:  # more steps than the unrolled loop: refused by name
                traced = at_most_steps(traced, most, future=future is not None)
            traced.save(str(path))
            steps = steps_in_words((shortest, most)) if pad_to is not None or shortest > 1 else ""
            return max(relative_difference(torch.jit.load(str(path))(*args), expected), on_check()), steps

        def write(loop_op: bool) -> tuple[Any, str]:
            program = torch_export(model, x, lengths, max_steps=max_steps or int(x.shape[1]), onnx=fmt == "onnx",
                                   future=future, scaling=scaling, loop_op=loop_op)
            span = step_range(program)
            if span is not None and span[0] == 2 and takes_one_step(program, module, args):
                span = (1, span[1])
            refused = refused_steps(program, module, args, span)
            if refused:
                raise RuntimeError(f"the exported program refuses inputs of {refused} steps, which the model "
                                   f"takes (its range says {steps_in_words(span)})")
            steps = steps_in_words(span)
            if fmt == "onnx":
                from rnnkit.cli.export_onnx import export_onnx, run_session

                names = ["x", "lengths", "future"][:len(args)]
                shortest = forecast_steps(model)[1]  # ONNX cannot refuse a shorter history: its metadata says so
                rule = {"min_steps": str(shortest)} if shortest > 1 else {}
                session = export_onnx(program, args, path, input_names=names, output_names=[output_name],
                                      metadata={**(metadata or {}), "steps": steps, **rule},
                                      dims={"x": {0: "batch", 1: "steps"}})
                feeds = {n: a.numpy() for n, a in zip(names, args)}
                return torch.from_numpy(run_session(session, feeds)), steps
            torch.export.save(program, str(path))
            return torch.export.load(str(path)).module()(*args), steps

        try:
            got, steps = write(loop_op=True)
        except Exception:  # a cell whose step torch's scan operator cannot hold: its loop is unrolled
            if not loop_layers(model, onnx=fmt == "onnx"):  # instead, for at most max_steps (as reported)
                raise
            got, steps = write(loop_op=False)
        return max(relative_difference(got, expected), on_check()), steps


SUFFIXES = {".pt": "torchscript", ".pt2": "torch.export", ".onnx": "onnx"}


def export_format(given: str | None, out: str | None) -> str:
    """The format to write: ``--format``, else the one ``--out``'s suffix names (``.pt``, ``.pt2``,
    ``.onnx``), else TorchScript. A suffix that names another format than ``--format`` is an error: an
    ``.onnx`` file holding TorchScript loads nowhere."""
    named = SUFFIXES.get(Path(out).suffix.lower()) if out else None
    if given is not None and named is not None and named != given:
        raise CLIError(f"--out {out} has the suffix of {named} but --format is {given}; use a {_suffix(given)} "
                       f"file or --format {named}")
    return given or named or "torchscript"


def _suffix(fmt: str) -> str:
    return next(k for k, v in SUFFIXES.items() if v == fmt)


def run(args: argparse.Namespace) -> int:
    import json

    from rnnkit import __version__
    from rnnkit.cli.predict import feature_names
    from rnnkit.cli.runspec import load_data, open_run

    if args.out and Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; pass a file name such as {Path(args.out) / 'model.pt'}")
    args.format = export_format(args.format, args.out)
    loaded, spec = open_run(args.run_dir)
    task = loaded.info.task
    if task in ("seq2seq", "generation") and args.format != "onnx":
        raise CLIError(f"a {task} run exports to ONNX only (--format onnx): an init program and one decoding "
                       "step, which a decoding loop of a few lines calls")
    if args.format == "onnx":
        from rnnkit.cli.export_onnx import missing_packages

        missing = missing_packages()
        if missing:
            raise CLIError(f"ONNX export needs {', '.join(missing)}: pip install 'rnnkit[export]'")
    unloaded = ""
    try:
        dataset = load_data(spec)
    except CLIError as e:  # the run's data is not on this machine: trace and check on random inputs
        dataset, unloaded = None, str(e).splitlines()[0].rstrip(".")
    suffix = {"torchscript": ".pt", "torch.export": ".pt2", "onnx": ".onnx"}[args.format]
    path = Path(args.out) if args.out else Path(args.run_dir) / "export" / f"model{suffix}"
    if not path.suffix:  # --out gen: gen.onnx (a decoding export's gen.init.onnx, not gen.init)
        path = path.with_suffix(suffix)
    if task in ("seq2seq", "generation"):
        from rnnkit.cli.export_decoding import part_paths

        check_outputs(list(part_paths(path)), args.run_dir, overwrite=args.overwrite, chosen=bool(args.out))
    else:
        check_outputs([path], args.run_dir, overwrite=args.overwrite, chosen=bool(args.out))
    output = "logits" if task in ("classification", "tagging") else "predictions"
    labels = loaded.info.classes  # class or tag names, in the order of the output's last dimension
    metadata = {"rnnkit": __version__, "task": task, "model": type(loaded.model).__name__, "output": output,
                **({"labels": json.dumps(list(labels), ensure_ascii=False)} if labels else {})}
    for key, vocab in (("input_vocab", loaded.info.input_vocab), ("output_vocab", loaded.info.output_vocab)):
        if vocab is not None:  # token ids in and out, by position: the run's own, which the model learnt
            metadata[key] = json.dumps(vocab.itos, ensure_ascii=False)
            if vocab.has_endings:  # an unknown word reads as its <unk:X> token where the list holds one
                metadata[f"{key}_endings"] = "true"
    run_extra = loaded.info.extra or {}
    for flag, what in (("lowercase", "lowercase"), ("prompt_bos", "prompt_bos")):
        if run_extra.get(flag):  # the input's own rules: lowercase its tokens; start a prompt with bos (id 2)
            metadata[what] = "true"
    tokenizer = Path(args.run_dir) / "extras" / "tokenizer" / "tokenizer.json"
    if tokenizer.is_file():  # a user's text: how it was split (kind, pattern, lowercase) and its vocabulary
        metadata["tokenizer"] = tokenizer.read_text(encoding="utf-8")
    members = getattr(loaded.model, "members", None)
    if members is not None and getattr(members[0], "crf", None) is not None:
        raise CLIError(f"this run is an ensemble of {len(members)} CRF taggers, which tags by the mean of its members' "
                       "marginals (forward-backward over the steps, a loop that depends on the data): not exported; "
                       "train with --ensemble 1 to export")
    crf = getattr(loaded.model, "crf", None)
    crf_note = ""
    if crf is not None:  # the program stops at the emissions: Viterbi's loop over the steps is not traced
        names = ("crf_transitions", "crf_start", "crf_end")
        metadata.update({k: json.dumps(t.tolist()) for k, t in zip(names, crf.viterbi_potentials())})
        where = "its metadata crf_transitions [previous][next], crf_start and crf_end (JSON, -Infinity: forbidden)" \
            if args.format == "onnx" else "rnnkit.load(RUN).crf.viterbi_potentials()"
        crf_note = f"; a CRF tagger: the logits are emission scores, to decode by Viterbi with {where}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the folder of {path}: {e.strerror or e} ({e.filename})") from e
    if dataset is None:
        batch, check = random_inputs(loaded.model, loaded.info)
        longest = int(batch.x.shape[1]) if batch.x is not None and batch.x.dim() >= 2 else 1
        print(f"note: {unloaded}; tracing and checking on random inputs of the run's shapes", file=sys.stderr)
    else:
        split = dataset.test if len(dataset.test) else dataset.valid
        # trace on the two longest examples: a trace on one short one may fix the numbers of steps it takes
        batch = dataset.collate(sorted(split.examples, key=example_steps)[-2:])
        check = dataset.collate(split.examples[:16])
        longest = longest_steps(dataset)
    if task in ("seq2seq", "generation"):
        from rnnkit.cli.export_decoding import run_decoding

        return run_decoding(loaded.model, batch, check, path, metadata)
    scaling = Scaling.of_run(loaded.info, loaded.extras)
    if scaling is not None:
        metadata["input_scaling"] = json.dumps({"offset": scaling.in_offset, "scale": scaling.in_scale,
                                                "applied": "inside the program: pass the data's own units"})
    # the test examples are scaled; the program takes the data's own units: trace and check on those.
    # The check: the traced examples, then up to 16 others (another batch size, other lengths: what a
    # trace might have fixed), each through the file as a user loads it
    traced = program_inputs(batch, scaling if dataset is not None else None)
    others = program_inputs(check, scaling if dataset is not None else None)
    x = traced[0]
    extra = loaded.info.extra or {}
    features = feature_names(loaded.info)
    for key, value in (("features", features),
                       ("covariates", extra.get("covariates")), ("window", loaded.info.window),
                       ("horizon", loaded.info.horizon)):
        if value:
            metadata[key] = json.dumps(value)
    with attempt(args.format, loaded.model, [path]):
        diff, steps = export(loaded.model, x, batch.lengths, path, args.format, max_steps=longest,
                             output_name=output, metadata=metadata, future=batch.future, scaling=scaling,
                             check=others)
    drift_note = ""
    if diff > 1e-4:  # more than rounding, unless the model's own float32 rounding is larger on these steps
        drift = max(rounding_drift(loaded.model, traced, scaling), rounding_drift(loaded.model, others, scaling))
        if diff > DRIFT_FACTOR * drift:
            path.unlink(missing_ok=True)
            raise CLIError(f"the exported program differs from the model by {diff:.2e} on test examples, more "
                           f"than {DRIFT_FACTOR}x the model's own float32 rounding there ({drift:.1e} from "
                           "float64); not kept")
        drift_note = f" (within {DRIFT_FACTOR}x the model's own float32 rounding there, {drift:.1e} from float64)"
    takes = f" (x of any batch size, {steps})" if steps else ""
    inputs = "x, lengths" if batch.future is None else "x, lengths, future"
    if scaling is not None:
        takes += "; x in the data's own units (the run's scaler is inside the program)"
    if task == "forecasting" and loaded.info.window:
        cov = f", and future: the covariates {extra.get('covariates')}" if batch.future is not None else ""
        takes += f"; x: a history of {features or 'the series'}, of which it reads the last {loaded.info.window} " \
                 f"steps{cov}"
    shortest = forecast_steps(loaded.model)[1]
    if shortest > 1:  # a differenced forecaster: a shorter history (or length) would give NaN
        checked = "the program refuses fewer" if args.format != "onnx" else "min_steps in its metadata (ONNX " \
            "cannot refuse fewer: run it with rnnkit.cli.export_onnx.run_session, or check first)"
        takes += f"; every history (and length) needs at least {shortest} steps, sum(difference) + 1: {checked}"
    on = f"the 2 longest and {int(others[0].shape[0])} other test examples" if dataset else "random inputs"
    print(f"exported {type(loaded.model).__name__} ({args.format}) to {path}; inputs ({inputs}){takes}; "
          f"output {output}; max difference on {on} {diff:.1e}"
          f"{drift_note}{crf_note}")
    return 0


@contextlib.contextmanager
def attempt(fmt: str, model: Any, paths: list[Path]) -> Iterator[None]:
    """Run an export quietly (torch.export logs whole graphs when it gives up); on failure remove
    ``paths`` and raise a one-line CLIError with the first line of what failed."""
    import io
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    except Exception as e:  # torch's export errors are long; the first line says what failed
        for p in paths:
            p.unlink(missing_ok=True)
        raise CLIError(f"{fmt} could not export {type(model).__name__}: "
                       f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    finally:
        logging.disable(logging.NOTSET)


def example_steps(example: Any) -> int:
    return int(example.x.shape[0]) if example.x is not None and example.x.dim() >= 1 else 0


def longest_steps(dataset: Any) -> int:
    """The most steps of any example of the data set (what an exported loop is padded to)."""
    return max([example_steps(e) for part in (dataset.train, dataset.valid, dataset.test) for e in part] + [1])
