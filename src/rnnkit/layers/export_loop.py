"""The ``export_loop`` backend: the loop over time as one operator, torch's ``scan``, for export.

A cell that neither torch's fused op nor a parallel scan computes (layer norm, a user's cell) runs
the generic loop, which ``torch.export`` unrolls: one copy of the step per time step, for a number
of steps fixed when the program is made (the export pads ``x`` to the longest sequence of the data).
An ONNX export of a layer-norm LSTM tagger over People's Daily's 463-character sentences did not
finish in 500 s. Here the loop is torch's ``scan`` higher-order operator
(``torch._higher_order_ops.scan``): ``torch.export`` records the step once, ``T`` stays free, and
``torch.onnx`` writes one ONNX ``Scan`` node per layer and direction.

A sequence's state stops at its last valid step (later steps keep it), so the final state is each
sequence's own, as on the other backends; outputs past a length are zeroed by ``run_stack``.

Like ``onnx``, the backend is never chosen by ``"auto"`` (the loop, at priority 100, runs first):
export requests it. It runs at inference only (eval mode, no gradients), where the step has no
noise (recurrent dropout, zoneout and DropConnect act in training only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.layers.backends import State, States, noisy_step, register_backend, run_stack

if TYPE_CHECKING:
    from rnnkit.cells.base import Cell
    from rnnkit.layers.recurrent import Recurrent


def _scan() -> Any:
    """torch's ``scan`` operator, or None where this torch has none."""
    try:
        from torch._higher_order_ops.scan import scan
    except ImportError:  # pragma: no cover (torch 2.13 has it)
        return None
    return scan


def scan_direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                   state: State | None) -> tuple[Tensor, States]:
    """One layer and direction as a ``scan`` over the steps: the input projection as one product,
    then ``step_projected`` as the scanned body, carrying the state."""
    scan = _scan()
    B, T = x.shape[:2]
    xp = cell.project_input(x)  # (B, T, G)
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=xp.dtype)
    single = isinstance(state, Tensor)
    init = (state,) if single else tuple(state)
    steps = torch.arange(T, device=x.device).view(T, 1).expand(T, B)  # (T, B): each step's index
    n = lengths.to(x.device) if lengths is not None else None

    def body(carry: tuple[Tensor, ...], inputs: tuple[Tensor, Tensor]) -> tuple[tuple[Tensor, ...], Tensor]:
        xp_t, t = inputs
        y, new = noisy_step(layer, cell, xp_t, carry[0] if single else carry, None, None)
        new_t = (new,) if isinstance(new, Tensor) else tuple(new)
        if n is not None:  # past its length a sequence keeps its last valid state
            keep = (t < n).unsqueeze(-1)
            new_t = tuple(torch.where(keep, a, b) for a, b in zip(new_t, carry))
        return new_t, y.clone()  # scan's outputs may not alias its carry

    final, ys = scan(body, init, (xp.transpose(0, 1), steps))
    return ys.transpose(0, 1), tuple(final)


class ExportLoopBackend:
    """The loop over time as torch's ``scan`` operator; export only (see the module docstring)."""

    name = "export_loop"
    summary = "the loop over time as torch's scan operator, for export: the number of steps stays free"

    def supports(self, layer: Recurrent) -> str | None:
        if _scan() is None:  # pragma: no cover
            return f"this torch ({torch.__version__}) has no scan operator"
        if layer.training or torch.is_grad_enabled():
            return "the export_loop backend is for export: eval mode under torch.no_grad() only"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        return run_stack(layer, x, lengths, state, scan_direction)


register_backend(ExportLoopBackend(), 5)
