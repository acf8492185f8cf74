r"""A streaming step with little per-step framework overhead: CPU inference, small batches.

At batch 1 one recurrent step is a few hundred thousand multiply-adds, so what an eager step costs is
mostly dispatch: module calls, argument checks, allocations, chunks, stacks. Here the weights are
prepared once and each LSTM layer is one matrix product plus six in-place pointwise calls, all into
preallocated buffers:

.. math::
    [i, f, o, g] = [W_{ih}\; W_{hh}]_{\pi} \,[x_t;\, h_{t-1}] + (b_{ih} + b_{hh})_{\pi}, \quad
    c_t = \sigma(f) c_{t-1} + \sigma(i) \tanh(g), \quad h_t = \sigma(o) \tanh(c_t)

where the rows are permuted (π) from torch's (i, f, g, o) to (i, f, o, g) so that the three sigmoids
are one call on a contiguous slice and one ``addmm`` reads ``[x; h]`` from a single buffer. GRU and
Elman RNN layers call ATen's fused cell (``torch.gru_cell``, ``torch.rnn_tanh_cell``) directly.

``StepRunner`` holds the prepared weights (rebuilt when a parameter changes) and the buffers.
``fast_step(layer, x_t, state)`` is what ``Recurrent.step`` calls: it returns None whenever the
fast path does not compute exactly what the layer's own step does (training-mode noise, gradients,
layer norm, zoneout, not on the CPU), and the caller falls back to the generic step.
The returned state tensors are fresh each call (safe to keep); the scratch buffers are not shared
across threads, so one layer must not be stepped from two threads at once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell

FAST_CELLS = (LSTMCell, GRUCell, SimpleRNNCell)
FAST_DTYPES = (torch.float32, torch.float64)


def lstm_fused_weights(cell: LSTMCell) -> tuple[Tensor, Tensor]:
    """``W = [W_ih W_hh]`` with rows in (i, f, o, g) order, (4H, I+H), and ``b = b_ih + b_hh`` (4H)."""
    H = cell.hidden_size
    perm = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
    perm = perm.to(cell.weight_ih.device)
    w = torch.cat([cell.weight_ih, cell.weight_hh], 1).detach()[perm].contiguous()
    b = torch.zeros(4 * H, dtype=w.dtype, device=w.device) if cell.bias_ih is None else \
        (cell.bias_ih + cell.bias_hh).detach()[perm].contiguous()  # type: ignore[operator]
    return w, b


def lstm_step_into(xh: Tensor, c: Tensor, w_t: Tensor, bias: Tensor, gates: Tensor, tmp: Tensor,
                   h_out: Tensor, c_out: Tensor) -> None:
    """One LSTM step, written into ``h_out`` and ``c_out``; ``xh`` (B, I+H) already holds ``[x; h]``.

    ``w_t`` is the transpose of :func:`lstm_fused_weights`' ``W`` (a view), ``gates`` (B, 4H) and
    ``tmp`` (B, H) are scratch. Eight ATen calls, no allocation.
    """
    H = c.shape[1]
    torch.addmm(bias, xh, w_t, out=gates)  # (B, 4H) in (i, f, o, g) order
    gates[:, :3 * H].sigmoid_()
    gates[:, 3 * H:].tanh_()
    torch.mul(gates[:, H:2 * H], c, out=c_out)
    c_out.addcmul_(gates[:, :H], gates[:, 3 * H:])
    torch.tanh(c_out, out=tmp)
    torch.mul(gates[:, 2 * H:3 * H], tmp, out=h_out)


def step_reason(layer: Any, x_t: Tensor) -> str | None:
    """Why the fast step cannot run this call of ``layer.step`` (None when it can)."""
    cells = layer.cell_list
    if {type(c) for c in cells} - set(FAST_CELLS) or len({type(c) for c in cells}) != 1:
        return "the fast step runs rnn, lstm and gru cells"
    if any(c.layer_norm for c in cells):
        return "layer_norm is not in the fast step"
    if x_t.device.type != "cpu" or layer.device.type != "cpu":
        return "the fast step is for the CPU"
    if layer.dtype not in FAST_DTYPES or x_t.dtype != layer.dtype:
        return f"the fast step takes float32 and float64, not {layer.dtype}"
    if torch.is_grad_enabled() and (x_t.requires_grad or any(p.requires_grad for p in layer.parameters())):
        return "gradients are needed (the fast step records no autograd graph)"
    if layer.zoneout > 0:
        return "zoneout changes the step"
    if layer.training and (layer.dropout > 0 or layer.recurrent_dropout > 0 or layer.weight_drop > 0):
        return "training-mode dropout changes the step"
    return None


class StepRunner:
    """Prepared weights and scratch buffers for stepping one unidirectional ``Recurrent`` layer.

    Example::

        runner = StepRunner(layer)
        y, state = runner(x_t, None)            # state: (h,) or (h, c), each (L, B, H)
        y, state = runner(x_next, state)
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.kind = {LSTMCell: "lstm", GRUCell: "gru", SimpleRNNCell: "rnn"}[type(layer.cell_list[0])]
        self._key: tuple[Any, ...] = ()
        self._weights: list[tuple[Tensor, Tensor]] = []
        self._buffers: dict[int, list[tuple[Tensor, Tensor, Tensor]]] = {}

    def _params_key(self) -> tuple[Any, ...]:
        return tuple((p.data_ptr(), p._version) for p in self.layer.parameters())

    def _prepare(self) -> None:
        key = self._params_key()
        if key == self._key:
            return
        self._key, self._buffers = key, {}
        if self.kind == "lstm":
            self._weights = [lstm_fused_weights(c) for c in self.layer.cell_list]

    def _scratch(self, B: int, like: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per layer: ``xh`` (B, I+H), ``gates`` (B, 4H), ``tmp`` (B, H)."""
        if B not in self._buffers:
            H = self.layer.hidden_size
            self._buffers[B] = [(like.new_zeros(B, c.input_size + H), like.new_empty(B, 4 * H), like.new_empty(B, H))
                                for c in self.layer.cell_list]
        return self._buffers[B]

    @torch.no_grad()
    def __call__(self, x_t: Tensor, state: tuple[Tensor, ...] | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``x_t`` (B, I), ``state`` a tuple of (L, B, H) tensors or None -> ``(y_t (B, H), new state)``."""
        self._prepare()
        layer, B = self.layer, x_t.shape[0]
        L, H = layer.num_layers, layer.hidden_size
        k = 2 if self.kind == "lstm" else 1
        out = x_t.new_empty(k, L, B, H)  # the new state, fresh each call
        if state is None:
            state = (x_t.new_zeros(L, B, H),) * k
        if self.kind == "lstm":
            inp = x_t
            for l, (xh, gates, tmp) in enumerate(self._scratch(B, x_t)):
                w, b = self._weights[l]
                I = xh.shape[1] - H
                xh[:, :I].copy_(inp)
                xh[:, I:].copy_(state[0][l])
                lstm_step_into(xh, state[1][l], w.t(), b, gates, tmp, out[0, l], out[1, l])
                inp = out[0, l]
            return out[0, L - 1], (out[0], out[1])
        inp = x_t
        for l, cell in enumerate(layer.cell_list):
            if self.kind == "gru":
                h = torch.gru_cell(inp, state[0][l], cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            else:
                fn = torch.rnn_tanh_cell if cell.nonlinearity == "tanh" else torch.rnn_relu_cell
                h = fn(inp, state[0][l], cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            out[0, l].copy_(h)
            inp = h
        return out[0, L - 1], (out[0],)


def fast_step(layer: Any, x_t: Tensor, state: tuple[Tensor, ...] | None
              ) -> tuple[Tensor, tuple[Tensor, ...]] | None:
    """``layer.step`` through a cached :class:`StepRunner`, or None where it does not apply
    (:func:`step_reason`); the runner lives on the layer (``layer._step_runner``)."""
    if step_reason(layer, x_t) is not None:
        return None
    runner = layer.__dict__.get("_step_runner")
    if runner is None or runner.layer is not layer:
        runner = StepRunner(layer)
        layer.__dict__["_step_runner"] = runner
    return runner(x_t, state)
