"""Which backend each ``Recurrent`` layer of a model runs on while it is exported: one that
``torch.export`` traces (:func:`export_backends`: ONNX's own recurrent operators for ONNX, else the
cell's parallel scan, else the loop over time as torch's scan operator or unrolled) or one that
``torch.jit.trace`` records (:func:`torchscript_backends`). Both restore the backends chosen before
on exit.

    with export_backends(model) as free:  # free: no layer unrolls its loop, T may be free
        program = torch.export.export(module, args, dynamic_shapes=shapes)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _recurrent_layers(model: Any) -> Iterator[list[Any]]:
    """The ``Recurrent`` layers of ``model``, whose requested backends are restored on exit."""
    from rnnkit.layers.recurrent import Recurrent

    layers = [m for m in model.modules() if isinstance(m, Recurrent)]
    before = [layer._requested for layer in layers]
    try:
        yield layers
    finally:
        for layer, name in zip(layers, before):
            layer._requested = name


@contextlib.contextmanager
def export_backends(model: Any, *, onnx: bool = False, loop_op: bool = True) -> Iterator[bool]:
    """Run every ``Recurrent`` of ``model`` on a backend that traces with torch.export: ``onnx``
    (for ONNX, where torch's fused op computes the layer), else the cell's scan, else the loop over
    time as torch's scan operator (``export_loop``; ``loop_op=False``: the loop itself, which the
    trace unrolls). Yields whether no layer runs the unrolled loop (then ``T`` may be free). The
    backends chosen before are restored on exit."""
    order = _traced_backends(onnx) + (("export_loop",) if loop_op else ())
    free = True
    with _recurrent_layers(model) as layers:
        for layer in layers:
            for name in order:
                try:
                    layer.backend = name
                    break
                except ValueError:
                    continue
            else:
                layer.backend = "loop"
                free = False
        if any(layer.backend == "export_loop" for layer in layers):
            import torch

            # the scan operator traces its step with dynamo, whose cache keeps the steps of earlier exports in
            # this process; their guards (T != 14, ...) would pin this export's free T: start from none
            torch.compiler.reset()
        yield free


def loop_layers(model: Any, *, onnx: bool = False) -> bool:
    """Whether :func:`export_backends` runs a ``Recurrent`` of ``model`` on its loop over time (as
    torch's scan operator, or unrolled): one that neither the ``onnx`` backend (for ONNX) nor a
    parallel scan computes. Call it where the export runs (eval mode, under ``torch.no_grad()``)."""
    from rnnkit.layers.backends import get_backend
    from rnnkit.layers.recurrent import Recurrent

    return any(all(get_backend(name).supports(m) is not None for name in _traced_backends(onnx))
               for m in model.modules() if isinstance(m, Recurrent))


def _traced_backends(onnx: bool) -> tuple[str, ...]:
    """The backends export tries first, before a layer's loop over time: ONNX's own recurrent operators
    (for ONNX), then the cell's parallel scan."""
    return ("onnx", "scan") if onnx else ("scan",)


@contextlib.contextmanager
def torchscript_backends(model: Any) -> Iterator[bool]:
    """Run every ``Recurrent`` of ``model`` on a backend that ``torch.jit.trace`` records: its own where
    that is torch's op or the scan, else the loop (a fused C++ kernel is a Python call the trace cannot
    hold). Yields whether a layer runs the loop, whose steps the trace unrolls (the program then pads x
    to the most steps it takes). The backends chosen before are restored on exit."""
    loops = False
    with _recurrent_layers(model) as layers:
        for layer in layers:
            if layer.backend not in ("torch", "scan"):
                layer.backend = "loop"
                loops = True
        yield loops
