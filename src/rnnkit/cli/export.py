"""``rnnkit export RUN``: write a trained one-pass model as a PyTorch program that runs without rnnkit.

    rnnkit export runs/jv                        # runs/jv/export/model.pt (TorchScript, torch.jit.trace)
    rnnkit export runs/jv --format torch.export  # runs/jv/export/model.pt2 (torch.export)

ONNX is not offered: onnx and onnxruntime are not installed here. The exported program takes
``(x, lengths)`` — ``x`` ``(B, T, F)`` float or ``(B, T)`` int64, ``lengths`` ``(B,)`` int64 — and returns
the logits (classification, tagging) or predictions (regression, forecasting). torch.export
refuses models whose forward checks its input values (``lengths.min()``, NaN checks) — it says so
in one line; TorchScript tracing records the path taken for the example's kind of input.
Models that decode step by step (seq2seq, generators) are not exported: their decoding loop
depends on the data. The export is checked against the model on a test example before the
command reports success.
"""

from __future__ import annotations

import argparse
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


def scoring_module(model: Any) -> Any:
    """Wrap ``model`` so that it takes plain tensors ``(x, lengths)`` instead of a Batch."""
    import torch
    from torch import nn

    from rnnkit.data.batch import Batch

    class Scoring(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            is_vector = x.dim() == 2 and x.is_floating_point() and getattr(self.inner.config, "input_shape", None)
            out = self.inner(Batch(x=x, lengths=None if is_vector else lengths))
            return out.logits if out.logits is not None else out.predictions

    return Scoring(model).eval()


def export(model: Any, x: Any, lengths: Any, path: Path, fmt: str) -> float:
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
            program = torch.export.export(module, (x, lengths))
            torch.export.save(program, str(path))
            got = torch.export.load(str(path)).module()(x, lengths)
    return float((got - expected).abs().max())


def run(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import logging
    import warnings

    from rnnkit.cli.runspec import load_data, open_run

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
    logging.disable(logging.CRITICAL)  # torch.export logs whole graphs when it gives up
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            diff = export(loaded.model, batch.x, lengths, path, args.format)
    except Exception as e:  # torch's export errors are long; the first line says what failed
        raise CLIError(f"{args.format} could not export {type(loaded.model).__name__}: "
                       f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    finally:
        logging.disable(logging.NOTSET)
    if diff > 1e-4:
        raise CLIError(f"the exported program differs from the model by {diff:.2e} on a test example; not kept")
    print(f"exported {type(loaded.model).__name__} ({args.format}) to {path}; inputs (x, lengths); "
          f"max difference on a test example {diff:.1e}")
    return 0
