"""``triton-scan``: minGRU / minLSTM layers through the fused Triton scan (``ops/triton_scan.py``).

One kernel launch per layer and direction computes the gates from the projected input and runs
the chunked linear-space scan (Martin & Cundy 2018; Feng et al. 2024 for the cells), forward and
backward, with the initial state and ``lengths`` handled in the kernel. The reverse direction of a
bidirectional layer goes through ``run_stack`` (each sequence reversed within its own length).

Registered at priority 240: above ``scan`` (200, the cells' float64 log-space scan), so ``"auto"``
picks it for minGRU / minLSTM on CUDA; ``torch`` (300) and the fused LSTM kernels decline these
cells. Triton is imported only when a CUDA layer asks for it, so importing rnnkit never needs it.

Example::

    rnn = Recurrent("mingru", 64, 512, num_layers=2).cuda()
    print(rnn.backend)   # 'triton-scan'
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnkit.cells.base import Cell, State
from rnnkit.cells.min_gru import MinGRUCell
from rnnkit.cells.min_lstm import MinLSTMCell
from rnnkit.layers.backends import States, register_backend, run_stack

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import Recurrent

SCAN_CELLS: dict[type, str] = {MinGRUCell: "mingru", MinLSTMCell: "minlstm"}
SCAN_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def scan_direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                   state: State | None) -> tuple[Tensor, States]:
    """One direction of one layer: ``project_input`` (one matrix product), then the fused scan."""
    from rnnkit.ops.triton_scan import triton_gated_scan

    h0 = None if state is None else (state if isinstance(state, Tensor) else state[0])
    out, h_last = triton_gated_scan(cell.project_input(x), SCAN_CELLS[type(cell)], h0, lengths)
    return out, (h_last,)


class TritonScanBackend:
    """minGRU / minLSTM through ``ops/triton_scan.py`` on CUDA (float32, bfloat16, float16)."""

    name = "triton-scan"
    summary = "fused Triton chunked scan with the gates in the kernel"

    def supports(self, layer: Recurrent) -> str | None:
        kinds = {type(c) for c in layer.cell_list}
        if len(kinds) != 1 or next(iter(kinds)) not in SCAN_CELLS:  # exact types: a subclass may change gates
            return f"the fused scan computes only mingru and minlstm cells, not {type(layer.cell_list[0]).__name__}"
        if layer.zoneout > 0 and layer.training:  # in evaluation zoneout is the identity
            return "zoneout (in training) makes the step non-linear in h, so it cannot be scanned"
        device = layer.device
        if device.type != "cuda":
            return "no CUDA device (the layer is on the CPU)" if device.type == "cpu" else \
                f"Triton kernels run on CUDA devices, not {device.type}"
        if not triton_available():
            return "triton is not installed (pip install triton)"
        if layer.dtype not in SCAN_DTYPES:
            return f"its kernel takes float32, bfloat16 and float16, not {layer.dtype}"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        return run_stack(layer, x, lengths, state, scan_direction)


register_backend(TritonScanBackend(), 240)
