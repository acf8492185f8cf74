"""Step-by-step inference with the state held between calls: ``y_t = stream(x_t)``.

``Recurrent.step(x_t, state)`` is stateless: each call checks the state it is given and returns a
new one, which suits training and beam search. A live stream (a sensor, a token generator, an audio
frame at a time) wants the opposite: one batch, one state, kept and updated where it lies. A
:class:`Stream` holds it in preallocated buffers, so a step is one kernel call:

* LSTM layers on the CPU at batch <= ``cpu_stream.MAX_BATCH`` (no layer norm, no zoneout) step in
  C++ (``ops/cpu_stream.py``), the state updated in place; ``precision="bfloat16"`` or ``"int8"``
  (opt-in, float32 layers) stores the weights in half or a quarter of the bytes per step;
* on CUDA, one ``layer.step`` over static buffers (the input, the state) is captured once in a CUDA
  graph and replayed at every call: one launch per step instead of dozens (captured again when a
  parameter is replaced; eager where capture fails);
* every other layer, and any call that needs gradients or training-mode noise, runs
  ``layer.step`` with the held state, so a stream always computes what ``step`` computes.

Example::

    stream = Recurrent("lstm", 8, 256).eval().stream(batch_size=1)
    with torch.no_grad():
        for x_t in frames:          # (1, 8) each
            y_t = stream(x_t)       # (1, 256), a fresh tensor
    h, c = stream.state             # copies, torch layout (L, B, H)
    stream.reset()                  # back to zeros
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor

from rnnkit.ops import cpu_stream
from rnnkit.ops.fast_step import FAST_DTYPES, call_reason, structure_reason

State = Tensor | tuple[Tensor, ...]


def cpp_reason(layer: Any, batch_size: int) -> str | None:
    """Why a stream over ``layer`` cannot step in C++, or None."""
    reason = structure_reason(layer)
    if reason is not None:
        return reason
    if layer._cell0().state_size != 2:
        return "the C++ stream runs LSTM layers"
    if layer.zoneout > 0:
        return "zoneout changes the step"
    if batch_size > cpu_stream.MAX_BATCH:
        return f"batch {batch_size} > {cpu_stream.MAX_BATCH}: torch's matrix products are faster there"
    p = next(layer.parameters())
    if p.device.type != "cpu":
        return "the C++ stream is for the CPU"
    if p.dtype not in FAST_DTYPES:
        return f"the C++ stream takes float32 and float64 layers, not {p.dtype}"
    return cpu_stream.unavailable_reason()


def graph_reason(layer: Any) -> str | None:
    """Why a stream over ``layer`` cannot replay a CUDA graph, or None."""
    p = next(layer.parameters())
    if p.device.type != "cuda" or not torch.cuda.is_available():
        return "CUDA graphs need the layer on a CUDA device"
    return None


def capture(fn: Any) -> Any:
    """``fn(warmup=False)`` (tensor work only) captured in a CUDA graph; returns the graph's replay.
    Two ``fn(warmup=True)`` calls run first on a side stream, as torch's capture rules ask."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn(warmup=True)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(warmup=False)
    return graph.replay


class GraphStep:
    """One ``layer.step`` over static buffers: the input ``x``, the stream's state ``parts`` (written
    in place) and the output ``y``. :meth:`body` is what the CUDA graph captures; it runs eagerly
    as well (the CPU tests check it against ``layer.step``)."""

    def __init__(self, layer: Any, x_shape: tuple[int, ...], parts: tuple[Tensor, ...]) -> None:
        self.layer, self.parts = layer, parts
        self.x = parts[0].new_zeros(x_shape)
        self.y = parts[0].new_zeros(x_shape[0], layer.hidden_size)
        self.key = _graph_key(layer)

    def body(self, warmup: bool = False) -> None:
        """One step from ``x`` and the state into ``y`` and the state. ``warmup``: from a scratch
        copy of the state, leaving it where it is."""
        parts = tuple(t.clone() for t in self.parts) if warmup else self.parts
        y, new = self.layer.step(self.x, parts[0] if len(parts) == 1 else parts)
        for buf, t in zip(parts, (new,) if isinstance(new, Tensor) else new):
            buf.copy_(t)
        self.y.copy_(y)


def _graph_key(layer: Any) -> list[tuple[int, Any]]:
    """What a captured graph depends on: the parameters' storage (values changed in place are read
    afresh at every replay) and dtypes."""
    return [(p.data_ptr(), p.dtype) for p in cpu_stream.cell_params(layer.cell_list)]


class Stream:
    """A :class:`~rnnkit.layers.Recurrent` layer's state, held for step-by-step inference.

    Args:
        layer: a unidirectional ``Recurrent``.
        batch_size: B, the rows stepped together (fixed for the stream's life).
        state: the initial state in torch's layout (``h`` or ``(h, c)``, each (L, B, H)), or None
            for zeros.
        precision: ``"full"`` (the layer's dtype); ``"bfloat16"``: LSTM weights stored as bfloat16
            and ``[x; h]`` rounded to bfloat16 before the products, summed in float32 (outputs move
            by about 1e-3); ``"int8"``: weights quantized per gate row to int8, ``x`` and ``h``
            quantized at each step to 8 bits each with its own scale, products summed in int32
            (outputs move by about 1e-2; see ``cpu_stream.quantize_rows``). Both: float32 layers, the
            C++ path and inference only; the state and the pointwise update stay float32.

    ``stream(x_t)`` / ``stream.step(x_t)``: ``x_t`` (B, I) -> ``y_t`` (B, H), a fresh tensor (or
    ``out=``, a (B, H) tensor to write into: no allocation per step); ``x_t`` of the layer's dtype,
    as ``layer.step`` takes it. The state is updated in place; :attr:`state` returns copies.
    :attr:`backend` says which path the last call took (before the first, the one a call under
    ``torch.no_grad()`` takes): ``"cpp"`` (CPU LSTM), ``"graph"`` (CUDA) or ``"step"``
    (``layer.step``: other layers, and any call that records gradients or draws training-mode
    noise), and :attr:`reason` why the stream has neither of the first two. A stream must not be
    stepped from two threads at once.
    """

    def __init__(self, layer: Any, batch_size: int = 1, state: State | None = None, *,
                 precision: str = "full") -> None:
        if layer.bidirectional:
            raise ValueError("a stream runs one direction only; a bidirectional layer needs the whole "
                             "sequence: call forward(x) instead")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.layer, self.batch_size, self.precision = layer, batch_size, cpu_stream.check_precision(precision)
        self.reason = cpp_reason(layer, batch_size)
        if precision != "full" and self.reason is None and next(layer.parameters()).dtype != torch.float32:
            self.reason = f"precision={precision!r} takes a float32 layer"
        if precision != "full" and self.reason is not None:
            raise ValueError(f"precision={precision!r} needs the C++ stream, which cannot run here: {self.reason}")
        self._kernel = None if self.reason is not None else \
            cpu_stream.StepLSTM(layer.cell_list, precision=precision)
        self._graph_ok = self._kernel is None and graph_reason(layer) is None
        if self._graph_ok:
            self.reason = None
        self._graph: tuple[GraphStep, Any] | None = None  # the static buffers and the graph's replay
        self._x_shape: tuple[int, int] = (batch_size, layer.input_size)
        self._parts: tuple[Tensor, ...] = ()
        self._owned = True  # the buffers are ours to update in place (not outputs of an autograd graph)
        self._call: tuple[Any, ...] | None = None  # the kernel call's fixed arguments (see _prepare)
        self._ran: str | None = None  # the path the last call took
        self.reset(state)

    @property
    def _params(self) -> list[Tensor]:
        return cpu_stream.cell_params(self.layer.cell_list)

    @property
    def backend(self) -> str:
        """The path the last call took; before the first call, the one a call under ``torch.no_grad()``
        takes (``"step"`` while the layer draws training-mode noise)."""
        if self._ran is not None:
            return self._ran
        layer = self.layer
        if layer.training and (layer.dropout > 0 or layer.recurrent_dropout > 0 or layer.weight_drop > 0
                               or layer.zoneout > 0):
            return "step"
        return "cpp" if self._kernel is not None else ("graph" if self._graph_ok else "step")

    def reset(self, state: State | None = None) -> None:
        """Start again from ``state`` (torch layout, copied) or zeros."""
        layer, B = self.layer, self.batch_size
        parts = layer._check_state(state, B, layer.num_layers)
        p = self._params[0]
        if parts is None:
            k = layer._cell0().state_size
            parts = tuple(torch.zeros(layer.num_layers, B, layer.hidden_size, dtype=p.dtype, device=p.device)
                          for _ in range(k))
        else:
            parts = tuple(t.detach().to(p.device).clone(memory_format=torch.contiguous_format) for t in parts)
        if self._graph is not None and self._owned and all(
                a.shape == b.shape and a.dtype == b.dtype for a, b in zip(self._parts, parts)):
            for buf, t in zip(self._parts, parts):  # the captured graph keeps its buffers
                buf.copy_(t)
            return
        self._parts, self._owned, self._call, self._graph = parts, True, None, None

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles prepare their own call and graph: these hold addresses of this stream's buffers
        return {**self.__dict__, "_call": None, "_graph": None}

    @property
    def state(self) -> State:
        """The current state, torch layout (``h``, or ``(h, c)`` for LSTM), as copies."""
        parts = tuple(t.clone() for t in self._parts)
        return parts[0] if len(parts) == 1 else parts

    def __repr__(self) -> str:
        return (f"Stream(batch_size={self.batch_size}, precision={self.precision!r}, backend={self.backend!r}"
                + ("" if self.reason is None else f", reason={self.reason!r}") + ")")

    def step(self, x_t: Tensor, out: Tensor | None = None) -> Tensor:
        """``x_t`` (B, I) -> ``y_t`` (B, H); the held state moves one step. ``out``: a (B, H) tensor
        to write ``y_t`` into (and return) instead of a fresh one."""
        return self(x_t, out)

    def __call__(self, x_t: Tensor, out: Tensor | None = None) -> Tensor:
        k = self._kernel
        if k is None:
            return self._replayed(x_t, out) if self._graph_ok else self._generic(x_t, out)
        params = cpu_stream.cell_params(k.cells)
        if type(x_t) is Tensor and x_t.is_cpu and x_t.shape == self._x_shape and x_t.dtype is self._parts[0].dtype \
                and self._inference(x_t, params):
            call = self._call
            if call is None or k._watch.moved(params):  # the kernel checks the sampled elements itself
                call = self._prepare()
            if call is not None:
                fn, args, y_shape, most_threads = call
                if out is None:
                    y = torch.empty(y_shape, dtype=x_t.dtype)
                elif type(out) is Tensor and out.is_cpu and out.shape == y_shape and out.dtype is x_t.dtype and \
                        out.is_contiguous():
                    y = out
                else:
                    return self._generic(x_t, out)
                if not x_t.is_contiguous():
                    x_t = x_t.contiguous()
                args[2], args[5] = x_t.data_ptr(), y.data_ptr()
                args[7] = min(torch.get_num_threads(), most_threads)  # cpu_stream.threads_for, the cap kept
                if fn(args):  # stale packed weights (a write through p.data): repack, step again
                    call = self._prepare()
                    if call is None:
                        return self._generic(x_t, out)
                    fn, args = call[0], call[1]
                    args[2], args[5], args[7] = x_t.data_ptr(), y.data_ptr(), min(torch.get_num_threads(), call[3])
                    fn(args)
                self._ran = "cpp"
                return y
        return self._generic(x_t, out)

    def _prepare(self) -> tuple[Any, ...] | None:
        """The in-place C++ step's function, its one argument (an int64 array of the packed weights',
        state's and scratch's addresses, x, y and threads filled per call), y's shape and the thread
        cap, after a (re)pack; None where the held state is not of the weights' dtype."""
        k = self._kernel
        assert k is not None
        pk = k.packed()
        self._own_state()
        h, c = self._parts
        if h.dtype is not k.dtype:
            self._call = None
            return None
        B = self.batch_size
        # the kernel's one argument, [meta, B, x, h, c, y, scratch, threads, probe table, digest]: x, y and
        # threads are set per call; the last two let the kernel see writes that leave the version counters alone
        args = (ctypes.c_int64 * 10)(pk.meta.data_ptr(), B, 0, h.data_ptr(), c.data_ptr(), 0,
                                     k.scratch(B).data_ptr(), 1, *k._watch.probe_args())
        self._call = (cpu_stream._function(f"rnnkit_lstm_stream_{k.suffix}"), args, (B, h.shape[2]),
                      cpu_stream.thread_cap(pk.nbytes))
        return self._call

    def _replayed(self, x_t: Tensor, out: Tensor | None) -> Tensor:
        """The CUDA path: copy ``x_t`` in, replay the captured step, copy ``y`` out (capturing first,
        or again after a parameter was replaced); the generic step where a graph cannot hold."""
        layer, parts = self.layer, self._parts
        params = cpu_stream.cell_params(layer.cell_list)
        if not (type(x_t) is Tensor and x_t.shape == self._x_shape and x_t.device == parts[0].device and
                x_t.dtype is parts[0].dtype and params[0].dtype is parts[0].dtype and self._inference(x_t, params)):
            return self._generic(x_t, out)
        parts = self._own_state()
        if self._graph is None or self._graph[0].key != _graph_key(layer):
            step = GraphStep(layer, self._x_shape, parts)
            try:
                self._graph = (step, capture(step.body))
            except RuntimeError:  # not capturable here: stay eager from now on
                self._graph_ok, self.reason = False, "CUDA graph capture failed; stepping eagerly"
                return self._generic(x_t, out)
        step, replay = self._graph
        step.x.copy_(x_t)
        replay()
        self._ran = "graph"
        return step.y.clone() if out is None else out.copy_(step.y)

    def _inference(self, x_t: Tensor, params: list[Tensor]) -> bool:
        """Whether this call records no autograd graph and draws no training-mode noise (zoneout
        included), so the held state can be stepped in place."""
        if torch.is_grad_enabled() and (x_t.requires_grad or any(p.requires_grad for p in params)):
            return False
        layer = self.layer
        return not layer.training or not (layer.dropout > 0 or layer.recurrent_dropout > 0 or layer.weight_drop > 0
                                          or layer.zoneout > 0)

    def _own_state(self) -> tuple[Tensor, ...]:
        """The held state as buffers of our own: after a step that recorded an autograd graph, a
        detached copy (a captured CUDA graph then no longer points at the buffers)."""
        if not self._owned:
            self._parts = tuple(t.detach().clone() for t in self._parts)
            self._owned, self._call, self._graph = True, None, None
        return self._parts

    def _generic(self, x_t: Tensor, out: Tensor | None = None) -> Tensor:
        """``layer.step`` with the held state (gradients, training-mode noise, other cells and devices)."""
        layer = self.layer
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or tuple(x_t.shape) != self._x_shape:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"x_t must be (batch_size, input_size) = {self._x_shape}, got {shape}")
        layer._check_step_dtype(x_t)  # before the precision message: a wrong dtype is the first thing to fix
        y_shape = (self.batch_size, layer.hidden_size)
        if out is not None and (not isinstance(out, Tensor) or tuple(out.shape) != y_shape):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"out must be a tensor of y_t's shape {y_shape}, got {got}")
        if self.precision != "full":  # the C++ path refused this call: say why, never step in float32
            params = self._params
            dtype = params[0].dtype
            reason = call_reason(layer, x_t, dtype, params) or \
                f"x_t or the state is {x_t.dtype} / {self._parts[0].dtype}, the layer {dtype}"
            raise ValueError(f"precision={self.precision!r} runs inference in C++ only: {reason} "
                             "(call layer.eval() and step under torch.no_grad())")
        state = self._parts[0] if len(self._parts) == 1 else self._parts
        y, new = layer.step(x_t, state)
        self._ran = "step"
        parts = (new,) if isinstance(new, Tensor) else tuple(new)
        # y may be a view of the new state, and the C++ path updates the state in place: own a copy
        # unless the state carries a graph (then the next C++ step starts from a detached copy)
        self._owned, self._call, self._graph = not any(t.requires_grad for t in parts), None, None
        self._parts = tuple(t.clone(memory_format=torch.contiguous_format) for t in parts) if self._owned \
            and (self._kernel is not None or self._graph_ok) else parts
        return y if out is None else out.copy_(y)
