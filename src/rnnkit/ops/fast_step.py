r"""A streaming step with little per-step framework overhead: CPU inference, small batches.

At batch 1 one recurrent step is a few hundred thousand multiply-adds, so what an eager step costs is
mostly dispatch: module calls, argument checks, allocations, chunks, stacks. Here the weights are
prepared once and each LSTM layer is one matrix product plus six in-place pointwise calls, all into
preallocated buffers:

.. math::
    [i, f, o, g] = [W_{ih}\; W_{hh}]_{\pi} \,[x_t;\, h_{t-1}] + (b_{ih} + b_{hh})_{\pi}, \quad
    c_t = \sigma(f) c_{t-1} + \sigma(i) \tanh(g), \quad h_t = \sigma(o) \tanh(c_t)

where the rows are permuted (π) from torch's (i, f, g, o) to (i, f, o, g) so that the three sigmoids
are one call on a contiguous slice and one ``addmm`` reads ``[x; h]`` from a single buffer. Measured
on the 2-core CPU, this beats ``torch.lstm_cell`` (two products and a dozen allocating pointwise ops
in C++) and ``torch.lstm`` (whose per-call setup dwarfs one step); see docs/BENCHMARKS.md. GRU and
Elman RNN layers call ATen's fused cell (``torch.gru_cell``, ``torch.rnn_tanh_cell``) directly.

For LSTM layers at batches up to ``cpu_stream.MAX_BATCH`` the whole step runs in C++
(``ops/cpu_stream.py``: packed weights, fused gates, shared between threads) where a compiler
built it; the ATen path above takes larger batches and machines without one.

``StepRunner`` holds the prepared weights (rebuilt when a parameter changes) and the buffers.
``fast_step(layer, x_t, state)`` is what ``Recurrent.step`` calls: it returns None whenever the
fast path does not compute exactly what the layer's own step does (training-mode noise, gradients,
layer norm, zoneout, not on the CPU), and the caller falls back to the generic step.
The returned state tensors are fresh each call (safe to keep); the scratch buffers are not shared
across threads, so one layer must not be stepped from two threads at once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.ops import cpu_stream

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


class LSTMBuffers(NamedTuple):
    """Scratch of one LSTM layer at one batch size, with every view built once (slicing in Python
    costs about as much as a pointwise op on a few hundred numbers)."""

    xh: Tensor  # (B, I+H): [x; h]
    x: Tensor  # xh[:, :I]
    h: Tensor  # xh[:, I:]
    gates: Tensor  # (B, 4H) in (i, f, o, g) order
    sig: Tensor  # gates[:, :3H]
    tanh: Tensor  # gates[:, 3H:]
    i: Tensor
    f: Tensor
    o: Tensor
    tmp: Tensor  # (B, H)


def lstm_buffers(B: int, input_size: int, hidden_size: int, like: Tensor) -> LSTMBuffers:
    I, H = input_size, hidden_size
    xh, gates = like.new_zeros(B, I + H), like.new_empty(B, 4 * H)
    return LSTMBuffers(xh, xh[:, :I], xh[:, I:], gates, gates[:, :3 * H], gates[:, 3 * H:], gates[:, :H],
                       gates[:, H:2 * H], gates[:, 2 * H:3 * H], like.new_empty(B, H))


def lstm_step_into(buf: LSTMBuffers, c: Tensor, w_t: Tensor, bias: Tensor, h_out: Tensor, c_out: Tensor) -> None:
    """One LSTM step into ``h_out`` and ``c_out``; ``buf.xh`` already holds ``[x; h]``.

    ``w_t`` is the transpose of :func:`lstm_fused_weights`' ``W`` ((I+H, 4H), best row-major). Seven
    ATen calls, no allocation, no slicing.
    """
    torch.addmm(bias, buf.xh, w_t, out=buf.gates)  # (B, 4H) in (i, f, o, g) order
    buf.sig.sigmoid_()
    buf.tanh.tanh_()
    torch.mul(buf.f, c, out=c_out)
    c_out.addcmul_(buf.i, buf.tanh)
    torch.tanh(c_out, out=buf.tmp)
    torch.mul(buf.o, buf.tmp, out=h_out)


def structure_reason(layer: Any) -> str | None:
    """Why the fast step can never run ``layer`` (its cells), or None."""
    kinds = {type(c) for c in layer.cell_list}
    if len(kinds) != 1 or next(iter(kinds)) not in FAST_CELLS:  # exact types: a subclass may change the step
        return "the fast step runs rnn, lstm and gru cells"
    if any(c.layer_norm for c in layer.cell_list):
        return "layer_norm is not in the fast step"
    return None


def call_reason(layer: Any, x_t: Tensor, dtype: torch.dtype, params: list[Tensor] | None = None) -> str | None:
    """Why the fast step cannot run this call (device, dtype, gradients, training-mode noise), or None.
    ``params``: the layer's parameters, if the caller holds them (walking the module costs more
    than the step)."""
    if params is None:
        params = list(layer.parameters())
    if not x_t.is_cpu:  # (is_cpu: a flag; .device builds an object, a microsecond per step)
        return "the fast step is for the CPU"
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return "a tracer is recording the step (its buffers and in-place ops stay out of exported graphs)"
    if x_t.dtype != dtype or dtype not in FAST_DTYPES:
        return f"the fast step takes float32 and float64 inputs like the layer's, not {x_t.dtype}"
    if torch.is_grad_enabled() and (x_t.requires_grad or any(p.requires_grad for p in params)):
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
        reason = structure_reason(layer)
        if reason is not None:
            raise ValueError(f"StepRunner cannot run this layer: {reason}")
        self.layer = layer
        self.cells = layer.cell_list  # the modules stay; their parameters are read at each call
        self.kind = {LSTMCell: "lstm", GRUCell: "gru", SimpleRNNCell: "rnn"}[type(layer.cell_list[0])]
        # The cells' parameters are read from their dicts at each call (cpu_stream.cell_params: cheaper
        # than walking the module tree, and it sees parameters replaced by load_state_dict(assign=True));
        # a parameter changed in place, reloaded or moved is seen (cpu_stream.ParamsWatch: storage,
        # version counter and a few sampled elements, which see writes through .data too).
        self._watch = cpu_stream.ParamsWatch()
        self._weights: list[tuple[Tensor, Tensor]] = []  # (W^T, b) per layer (LSTM)
        self._buffers: dict[int, list[LSTMBuffers]] = {}
        # batches up to cpu_stream.MAX_BATCH: the C++ step (ops/cpu_stream.py), where it builds
        # (not for a half-precision layer, which the kernels refuse: the ATen step below runs it)
        self.stream = cpu_stream.StepLSTM(layer.cell_list) if self.kind == "lstm" and \
            self.params[0].dtype in FAST_DTYPES and cpu_stream.load_library() is not None else None

    @property
    def params(self) -> list[Tensor]:
        return cpu_stream.cell_params(self.cells)

    def _prepare(self) -> None:
        params = self.params
        if not self._watch.changed(params):
            return
        self._buffers = {}
        if self.kind == "lstm":
            # W^T stored row-major (I+H, 4H): a 1-row addmm streams it ~1.5x faster than W.t() here
            self._weights = [(w.t().contiguous(), b) for w, b in map(lstm_fused_weights, self.layer.cell_list)]
        self._watch.mark(params)

    def _scratch(self, B: int, like: Tensor) -> list[LSTMBuffers]:
        if B not in self._buffers:
            H = self.layer.hidden_size
            self._buffers[B] = [lstm_buffers(B, c.input_size, H, like) for c in self.layer.cell_list]
        return self._buffers[B]

    @torch.no_grad()
    def __call__(self, x_t: Tensor, state: tuple[Tensor, ...] | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``x_t`` (B, I), ``state`` a tuple of (L, B, H) tensors or None -> ``(y_t (B, H), new state)``."""
        return self.run(x_t, state)

    def run(self, x_t: Tensor, state: tuple[Tensor, ...] | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``__call__`` without its ``no_grad`` context (the caller made sure no graph is needed)."""
        layer, B = self.layer, x_t.shape[0]
        if self.stream is not None and B <= cpu_stream.MAX_BATCH:
            h_all, c_all = self.stream(x_t, None if state is None else state[0], None if state is None else state[1])
            return h_all[-1], (h_all, c_all)
        self._prepare()
        L, H = layer.num_layers, layer.hidden_size
        if self.kind == "lstm":
            out = x_t.new_empty(2, L, B, H)  # the new (h, c), fresh each call
            h_all, c_all = out.unbind(0)
            h_new, c_new = h_all.unbind(0), c_all.unbind(0)
            h_old = state[0].unbind(0) if state is not None else None
            c_old = state[1].unbind(0) if state is not None else x_t.new_zeros(L, B, H).unbind(0)
            bufs = self._scratch(B, x_t)
            bufs[0].x.copy_(x_t)
            for l, buf in enumerate(bufs):
                if h_old is None:
                    buf.h.zero_()
                else:
                    buf.h.copy_(h_old[l])
                w_t, b = self._weights[l]
                lstm_step_into(buf, c_old[l], w_t, b, h_new[l], c_new[l])
                if l + 1 < L:
                    bufs[l + 1].x.copy_(h_new[l])
            return h_new[L - 1], (h_all, c_all)
        hs = state[0].unbind(0) if state is not None else x_t.new_zeros(L, B, H).unbind(0)
        inp, outs = x_t, []
        for l, cell in enumerate(layer.cell_list):
            if self.kind == "gru":
                inp = torch.gru_cell(inp, hs[l], cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            else:
                fn = torch.rnn_tanh_cell if cell.nonlinearity == "tanh" else torch.rnn_relu_cell
                inp = fn(inp, hs[l], cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            outs.append(inp)
        return inp, (torch.stack(outs, 0),)


def fast_step(layer: Any, x_t: Tensor, state: tuple[Tensor, ...] | None
              ) -> tuple[Tensor, tuple[Tensor, ...]] | None:
    """``layer.step`` through a :class:`StepRunner` cached on the layer, or None where the fast step
    does not compute exactly what the layer's own step does (:func:`structure_reason`,
    :func:`call_reason`); the caller then runs its generic step."""
    runner = layer.__dict__.get("_step_runner")
    if runner is None and structure_reason(layer) is not None:
        return None
    # the call is checked before a runner is built: a bfloat16 or float16 layer is declined here
    # (the generic step runs it), never handed to the C++ kernels, which take float32 and float64 only
    params = runner.params if runner is not None else cpu_stream.cell_params(layer.cell_list)
    if call_reason(layer, x_t, params[0].dtype, params) is not None:
        return None
    if runner is None:
        runner = StepRunner(layer)
        layer.__dict__["_step_runner"] = runner
    return runner.run(x_t, state)
