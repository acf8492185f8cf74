"""Backends that run rnn / lstm / gru layers with a hand-written backward (``ops/fused_rnn.py``):

* ``triton-persistent`` (priority 290) — one Triton launch for the whole sequence, ``W_hh`` held
  on chip (``ops/triton_persistent.py``); CUDA, hidden_size <= 64.
* ``triton-fused`` (280) — one fused Triton kernel per step, the recurrent product on cuBLAS
  (``ops/triton_rnn.py``); CUDA, hidden_size <= 2048.
* ``cpu-fused`` (250) — the same driver with the pointwise step in a compiled C++ kernel
  (``ops/cpu_kernels.py`` via ``ops/cpu_rnn.CppStepEngine``); CPU, float32 / float64, needs g++.

All of them compute layer norm, recurrent dropout, zoneout and weight drop, which torch's fused ops
cannot; they sit below ``torch`` (300) so ``"auto"`` picks them only where ``torch`` declines, and
above ``scan`` (200) and ``loop`` (100). They take only the exact cell classes (a subclass may
change the step). Triton is imported only when a CUDA layer asks for it, so importing rnnkit never
needs it.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.cells.base import Cell, State
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.layers.backends import States, loop_direction, register_backend, run_stack, step_noise
from rnnkit.ops.fused_rnn import FusedSequence

if TYPE_CHECKING:
    from rnnkit.layers.recurrent import Recurrent

KIND_OF: dict[type, str] = {LSTMCell: "lstm", GRUCell: "gru", SimpleRNNCell: "rnn"}


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def cell_reason(layer: Recurrent) -> str | None:
    """Why the fused kernels cannot run these cells, or None. Exact types only: a subclass may change the step."""
    kinds = {type(c) for c in layer.cells}
    if len(kinds) != 1 or next(iter(kinds)) not in KIND_OF:
        return f"the fused kernels cover only rnn, lstm and gru cells, not {type(layer.cells[0]).__name__}"
    return None


def noise(layer: Recurrent, cell: Cell, x: Tensor) -> dict[str, Any]:
    """Draw this forward's masks (training only; all are the identity at evaluation): recurrent
    dropout (B, H), the DropConnect'ed ``weight_hh``, zoneout keep-masks (T, B, H) for h (and c)."""
    B, T = x.shape[:2]
    h_mask, w_hh = step_noise(layer, cell, B, x)
    zone: tuple[Tensor, Tensor | None] | None = None
    p = layer.zoneout
    if p > 0 and layer.training:
        acc = torch.promote_types(x.dtype, torch.float32)
        draw = lambda: torch.empty(T, B, cell.hidden_size, device=x.device, dtype=acc).bernoulli_(p)  # noqa: E731
        zone = (draw(), draw() if cell.state_size == 2 else None)
    return {"mask": h_mask, "weight_hh": w_hh, "zoneout": zone}


def run_fused(cell: Cell, x: Tensor, lengths: Tensor | None, state: State | None, engine: Any,
              noise_: dict[str, Any], function: Any = FusedSequence) -> tuple[Tensor, States]:
    """One direction of one layer through ``function`` (``FusedSequence`` or the persistent kernel)."""
    kind = KIND_OF[type(cell)]
    B, T = x.shape[:2]
    # the kernels read raw memory in the weights' dtype: under autocast the projection comes out in
    # bfloat16, so it (and a state given in another dtype) is cast back first
    dtype: torch.dtype = cell.weight_hh.dtype  # type: ignore[assignment]
    xp = cell.project_input(x.transpose(0, 1)).to(dtype).contiguous()  # (T, B, G): copies x, not the wider xp
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=dtype)
    h0, c0 = (state, None) if isinstance(state, Tensor) else (state[0], state[1] if len(state) > 1 else None)
    h0, c0 = h0.to(dtype), None if c0 is None else c0.to(dtype)
    w = noise_["weight_hh"] if noise_["weight_hh"] is not None else cell.weight_hh
    mask = noise_["mask"]
    cfg = {"kind": kind, "engine": engine, "mask": None if mask is None else mask.to(torch.promote_types(
        xp.dtype, torch.float32)), "zoneout": noise_["zoneout"], "eps": 1e-5,
        "nonlinearity": getattr(cell, "nonlinearity", "tanh")}
    ln = (cell.ln_hh.weight, cell.ln_hh.bias) if cell.ln_hh is not None else (None, None)  # type: ignore[union-attr]
    ln_c = getattr(cell, "ln_c", None)
    lnc = (ln_c.weight, ln_c.bias) if ln_c is not None else (None, None)
    b_hh = cell.bias_hh if kind == "gru" else None
    h, c = function.apply(cfg, xp, h0.contiguous(), None if c0 is None else c0.contiguous(), w, b_hh, *ln, *lnc)
    out = h.transpose(0, 1)  # (B, T, H)
    seqs = (h,) if kind != "lstm" else (h, c)
    if lengths is None:
        return out, tuple(s[-1] for s in seqs)
    last = (lengths.to(x.device) - 1).view(1, B, 1).expand(1, B, cell.hidden_size)
    return out, tuple(s.gather(0, last).squeeze(0) for s in seqs)


class FusedBackend:
    """Runs every layer and direction through ``FusedSequence`` with one step engine."""

    def __init__(self, name: str, device_type: str, *, persistent: bool = False) -> None:
        self.name, self.device_type, self.persistent = name, device_type, persistent

    def engine(self) -> Any:
        if self.device_type == "cpu":
            from rnnkit.ops.cpu_rnn import CppStepEngine
            return CppStepEngine()
        if self.persistent:
            from rnnkit.ops.triton_persistent import PersistentEngine
            return PersistentEngine()
        from rnnkit.ops.triton_rnn import TritonStepEngine
        return TritonStepEngine()

    def supports(self, layer: Recurrent) -> str | None:
        reason = cell_reason(layer)
        if reason is not None:
            return reason
        device, dtype = layer.device, layer.dtype
        if self.device_type == "cpu":
            if device.type != "cpu":
                return f"it runs on the CPU, and the layer is on {device.type}"
            if dtype not in (torch.float32, torch.float64):
                return f"its kernel takes float32 and float64, not {dtype}"
            from rnnkit.ops.cpu_kernels import unavailable_reason
            return unavailable_reason()
        if device.type != "cuda":
            return "no CUDA device (the layer is on the CPU)" if device.type == "cpu" else \
                f"Triton kernels run on CUDA devices, not {device.type}"
        if not triton_available():
            return "triton is not installed (pip install triton)"
        if dtype not in (torch.float32, torch.bfloat16):
            return f"its kernels take float32 and bfloat16, not {dtype}"
        if self.persistent:
            from rnnkit.ops.triton_persistent import persistent_reason
            return persistent_reason(KIND_OF[type(layer.cells[0])], layer.hidden_size)
        from rnnkit.ops.triton_rnn import MAX_HIDDEN
        if layer.hidden_size > MAX_HIDDEN:
            return f"hidden_size {layer.hidden_size} exceeds its limit of {MAX_HIDDEN} (one row of gates per program)"
        return None

    def run(self, layer: Recurrent, x: Tensor, lengths: Tensor | None,
            state: States | None) -> tuple[Tensor, States]:
        engine = self.engine()
        # the kernels step every sequence through its padding; a relu state that grows there can reach
        # inf, and inf * 0 (the outputs' mask, the weights' gradient) is NaN. Such batches take the
        # loop, which holds each state past its length (loop_direction)
        ragged = lengths is not None and getattr(layer.cell_list[0], "nonlinearity", None) == "relu" \
            and int(lengths.min()) < x.shape[1]

        def direction(layer: Recurrent, cell: Cell, x: Tensor, lengths: Tensor | None,
                      state: State | None) -> tuple[Tensor, States]:
            if ragged:
                return loop_direction(layer, cell, x, lengths, state)
            return run_fused(cell, x, lengths, state, engine, noise(layer, cell, x))

        return run_stack(layer, x, lengths, state, direction)


register_backend(FusedBackend("triton-persistent", "cuda", persistent=True), 290)
register_backend(FusedBackend("triton-fused", "cuda"), 280)
register_backend(FusedBackend("cpu-fused", "cpu"), 250)
