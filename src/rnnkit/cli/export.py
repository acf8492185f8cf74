"""``rnnkit export RUN``: write a trained one-pass model as a PyTorch program that runs without rnnkit.

    rnnkit export runs/jv                        # runs/jv/export/model.pt (TorchScript, torch.jit.trace)
    rnnkit export runs/jv --format torch.export  # runs/jv/export/model.pt2 (torch.export)

ONNX is not offered: onnx and onnxruntime are not installed here. The exported program takes
``(x, lengths)`` — ``x`` ``(B, T, F)`` float or ``(B, T)`` int64, ``lengths`` ``(B,)`` int64 — and returns
the logits (classification, tagging) or predictions (regression, forecasting). TorchScript tracing
records the path taken for the example's kind of input. torch.export runs each recurrent layer on
an export-friendly backend (the cell's parallel scan where it has one, else the loop over time;
torch's fused op packs sequences by their lengths' values, which a traced program cannot): the
batch size and ``T`` are free, ``T`` at most the longest sequence of the data set when a layer
runs the loop (the program pads ``x`` to that length inside). The input-value checks of
``Recurrent`` (lengths in 1..T) and the Forecaster (no NaN) are skipped inside the program: keep
lengths in range and fill missing values before calling it.
Models that decode step by step (seq2seq, generators) are not exported: their decoding loop
depends on the data. The export is checked against the model on a test example before the
command reports success.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError

ONE_PASS_TASKS = ("classification", "regression", "tagging", "forecasting")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained run as a torch.export / TorchScript program",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `rnnkit train`")
    p.add_argument("--format", choices=["torchscript", "torch.export"], default="torchscript",
                   help="torchscript (.pt, default) or torch.export (.pt2)")
    p.add_argument("--out", metavar="FILE", help="where to write (default RUN/export/model.pt2 or .pt)")
    p.set_defaults(func=run)


def scoring_module(model: Any, *, pad_to: int | None = None) -> Any:
    """Wrap ``model`` so that it takes plain tensors ``(x, lengths)`` instead of a Batch.

    ``pad_to``: pad ``x`` with zeros to this many steps before the model (and cut per-step outputs
    back to ``x``'s steps), so that a program traced with a fixed number of steps takes any ``T``
    up to it; lengths mask the padding."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from rnnkit.data.batch import Batch

    class Scoring(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            is_vector = x.dim() == 2 and x.is_floating_point() and getattr(self.inner.config, "input_shape", None)
            steps = x.shape[1]
            if pad_to is not None and not is_vector:
                x = F.pad(x, (0, 0, 0, pad_to - steps) if x.dim() == 3 else (0, pad_to - steps))
            out = self.inner(Batch(x=x, lengths=None if is_vector else lengths))
            y = out.logits if out.logits is not None else out.predictions
            if pad_to is not None and not is_vector and y.dim() >= 2 and y.shape[1] == pad_to:
                y = y[:, :steps]  # per-step outputs (tagging) back to the caller's steps
            return y

    return Scoring(model).eval()


@contextlib.contextmanager
def export_backends(model: Any) -> Iterator[bool]:
    """Run every ``Recurrent`` of ``model`` on the scan backend where it can, else the loop (both
    trace with torch.export); yields whether all run the scan (then ``T`` may be free). The
    backends chosen before are restored on exit."""
    from rnnkit.layers.recurrent import Recurrent

    layers = [m for m in model.modules() if isinstance(m, Recurrent)]
    before = [layer._requested for layer in layers]
    all_scan = True
    try:
        for layer in layers:
            try:
                layer.backend = "scan"
            except ValueError:
                layer.backend = "loop"
                all_scan = False
        yield all_scan
    finally:
        for layer, name in zip(layers, before):
            layer._requested = name


def torch_export(model: Any, x: Any, lengths: Any, *, max_steps: int) -> Any:
    """``torch.export`` of ``scoring_module(model)`` with a free batch size and number of steps
    (at most ``max_steps`` where a layer runs the loop over time)."""
    import torch
    from torch.export import Dim

    batch = Dim("batch", min=1)
    if x.shape[0] == 1:  # a traced size of 1 is taken as a constant: trace on two copies
        x, lengths = torch.cat([x, x]), torch.cat([lengths, lengths])
    with export_backends(model) as all_scan:
        pad_to = None if all_scan else max(max_steps, int(x.shape[1]))
        module = scoring_module(model, pad_to=pad_to)
        steps = Dim("steps", min=1) if pad_to is None else Dim("steps", min=1, max=pad_to)
        per_step = not (x.dim() == 2 and x.is_floating_point())  # (B, F) vector inputs have no steps
        dynamic = {"x": {0: batch, 1: steps} if per_step else {0: batch}, "lengths": {0: batch}}
        return torch.export.export(module, (x, lengths), dynamic_shapes=dynamic)


def export(model: Any, x: Any, lengths: Any, path: Path, fmt: str, *, max_steps: int | None = None) -> float:
    """Export ``model`` for inputs like ``(x, lengths)`` to ``path``; returns the largest difference
    between the exported program's output and the model's on that input."""
    import torch

    module = scoring_module(model)
    with torch.no_grad():
        expected = module(x, lengths)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "torchscript":
            traced = torch.jit.trace(module, (x, lengths), check_trace=False)
            traced.save(str(path))
            got = torch.jit.load(str(path))(x, lengths)
        else:
            program = torch_export(model, x, lengths, max_steps=max_steps or int(x.shape[1]))
            torch.export.save(program, str(path))
            got = torch.export.load(str(path)).module()(x, lengths)
    return float((got - expected).abs().max())


def run(args: argparse.Namespace) -> int:
    import io
    import logging
    import warnings

    from rnnkit.cli.runspec import load_data, open_run

    if args.out and Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; pass a file name such as {Path(args.out) / 'model.pt'}")
    loaded, spec = open_run(args.run_dir)
    task = loaded.info.task
    if task not in ONE_PASS_TASKS:
        raise CLIError(f"export covers one-pass models ({', '.join(ONE_PASS_TASKS)}); this run is {task}, whose "
                       "decoding loop depends on the data: use rnnkit.load(RUN) in Python instead")
    dataset = load_data(spec)
    split = dataset.test if len(dataset.test) else dataset.valid
    batch = dataset.collate(split.examples[:2])
    lengths = batch.lengths if batch.lengths is not None else batch.x.new_full((batch.x.shape[0],), 1).long()
    suffix = ".pt" if args.format == "torchscript" else ".pt2"
    path = Path(args.out) if args.out else Path(args.run_dir) / "export" / f"model{suffix}"
    longest = _longest(dataset)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"cannot create the folder of {path}: {e.strerror or e} ({e.filename})") from e
    logging.disable(logging.CRITICAL)  # torch.export logs whole graphs when it gives up
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            diff = export(loaded.model, batch.x, lengths, path, args.format, max_steps=longest)
    except Exception as e:  # torch's export errors are long; the first line says what failed
        raise CLIError(f"{args.format} could not export {type(loaded.model).__name__}: "
                       f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    finally:
        logging.disable(logging.NOTSET)
    if diff > 1e-4:
        raise CLIError(f"the exported program differs from the model by {diff:.2e} on a test example; not kept")
    steps = f" (x of any batch size, up to {longest} steps)" if args.format == "torch.export" else ""
    print(f"exported {type(loaded.model).__name__} ({args.format}) to {path}; inputs (x, lengths){steps}; "
          f"max difference on a test example {diff:.1e}")
    return 0


def _longest(dataset: Any) -> int:
    """The most steps of any example of the data set (what an exported loop is padded to)."""
    return max((int(e.x.shape[0]) for part in (dataset.train, dataset.valid, dataset.test) for e in part
                if e.x is not None and e.x.dim() >= 1), default=1)
