r"""LSTM streaming on the CPU at small batches: one step, or a whole greedy decode, in C++.

At batch 1 an LSTM step is a matrix-vector product: each weight is read once and used once, so
the step costs what it takes to stream the weights from cache (2 MB for I = H = 256 in float32),
plus whatever the framework adds per call. An eager step through ATen adds a dozen dispatches and
allocations; a Python loop over tokens adds the embedding, the head and the arg-max on top. Here:

* the weights are packed once (:func:`pack_gates`) into blocks of ``U`` units (32 in float32, 16 in
  float64) whose rows ``i, f, g, o`` sit side by side for every input, so one block is one
  sequential stream with its 8 SIMD sums in registers, and ends with the LSTM update of its units;
* the blocks are shared by the calling thread and up to ``torch.get_num_threads() - 1`` workers
  of a small pool (one thread per 512 KB of weights read per step: :func:`threads_for`); each
  thread prefers the same blocks at every step, so with 2 threads each core keeps half the
  weights in its own L2 cache. Blocks are claimed atomically: a busy or sleeping worker
  only leaves more blocks to the others, and workers sleep after 0.2 ms without work;
* for greedy decoding (:class:`GreedyLSTM`) the first layer's input part is folded into a table
  ``(V, 4H)`` (every token's embedding through ``W_ih`` plus the biases), and the head, the
  log-softmax of the chosen token and the arg-max run in the same C++ loop, so Python is entered
  once per decode, not once per token.

The library is compiled from ``cpu_stream_src.cpp`` at first use and cached like
``ops/cpu_kernels.py``'s (``RNNKIT_NO_CPP=1`` or no compiler: :func:`load_library` returns None and
callers take their torch path). Sums run in another order than ATen's, so results agree with the
eager step to float rounding (about 1e-6 in float32), not bit for bit.
"""

from __future__ import annotations

import ctypes
import functools
from importlib import resources
from typing import Any

import torch
from torch import Tensor

from rnnkit.ops import cpu_kernels

FLAGS = ["-O3", "-ffast-math", "-fPIC", "-std=gnu++17", "-pthread"]
LINK = ["-shared", "-pthread", "-lmvec", "-lm"]
DTYPES = {torch.float32: "f32", torch.float64: "f64"}
MAX_BATCH = 8  # above it torch's matrix-matrix products read each weight once for the whole batch
MAX_TABLE_BYTES = 64 << 20  # greedy's folded (V, 4H) table; larger vocabularies decode eagerly
BYTES_PER_THREAD = 512 << 10  # weights read per step for each thread used: below it the hand-off costs more


def thread_cap(weight_bytes: int) -> int:
    """The most threads worth using on a step that reads ``weight_bytes``: one per
    :data:`BYTES_PER_THREAD` (a small layer runs faster on one core than split in two)."""
    return max(1, weight_bytes // BYTES_PER_THREAD)


def threads_for(weight_bytes: int) -> int:
    """Threads for a step that reads ``weight_bytes``: torch's count, capped by :func:`thread_cap`."""
    return min(torch.get_num_threads(), thread_cap(weight_bytes))


def _isa_flags() -> list[str]:
    """SIMD flags for this CPU: AVX-512 where it has it (one block row = one 64-byte vector)."""
    base, flags = cpu_kernels._isa_flags(), cpu_kernels.cpu_flags()
    if " avx512f" not in flags or not base:
        return base
    bf16 = ["-mavx512bf16"] if " avx512_bf16" in flags else []  # vdpbf16ps for precision="bfloat16"
    vnni = ["-mavx512vnni"] if " avx512_vnni" in flags else []  # vpdpbusd for precision="int8"
    return [*base, "-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw", *bf16, *vnni]


def source() -> str:
    """``cpu_stream_src.cpp`` after the activations it shares with ``ops/cpu_kernels.py``."""
    return cpu_kernels.ACTIVATIONS + resources.files("rnnkit.ops").joinpath("cpu_stream_src.cpp").read_text()


_P, _I64, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled stream kernels (built now if not cached), or None where they cannot be built."""
    lib = cpu_kernels.load_source("cpu_stream", source(), [*FLAGS, *_isa_flags()], LINK)
    if lib is None:
        return None
    for s in [*DTYPES.values(), "bf16", "i8"]:  # bf16, i8: float32 activations over bfloat16 / int8 weights
        fn = getattr(lib, f"rnnkit_lstm_step_{s}")
        fn.argtypes, fn.restype = [_P, _I64, _P, _P, _P, _P, _P, _P, _INT], None
        fn = getattr(lib, f"rnnkit_lstm_stream_{s}")  # one argument: a ctypes int64 array (see Stream)
        fn.restype = _INT
    for s in [*DTYPES.values(), "bf16", "i8"]:
        fn = getattr(lib, f"rnnkit_lstm_greedy_{s}")
        fn.argtypes, fn.restype = [_P, _I64, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _I64] + [_P] * 8 + [_INT], _I64
    for s in DTYPES.values():
        getattr(lib, f"rnnkit_stream_units_{s}").restype = _INT
    lib.rnnkit_probe.argtypes, lib.rnnkit_probe.restype = [_P], ctypes.c_uint64
    lib.rnnkit_stream_has_avx512bf16.restype = _INT
    lib.rnnkit_stream_has_avx512vnni.restype = _INT
    return lib


@functools.cache
def _function(name: str) -> Any:
    """A kernel of the library by name (looked up once: ctypes' lookup costs a few µs per call)."""
    return getattr(load_library(), name)


def units(dtype: torch.dtype) -> int:
    """``U``, the units of one packed block: two 64-byte vectors per gate."""
    return 2 * 64 // torch.empty((), dtype=dtype).element_size()


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def gate_order(v: Tensor, H: int, Hp: int, U: int) -> Tensor:
    """``(..., 4H)`` in torch's (i, f, g, o) order -> ``(..., Hp // U * 4U)``: block by block, each
    block the i, f, g, o values of its ``U`` units (units past ``H`` are zero)."""
    lead = v.shape[:-1]
    v = v.reshape(*lead, 4, H)
    if Hp > H:
        v = torch.cat([v, v.new_zeros(*lead, 4, Hp - H)], -1)
    v = v.reshape(*lead, 4, Hp // U, U).transpose(-3, -2)  # (..., nb, 4, U)
    return v.reshape(*lead, Hp // U * 4 * U).contiguous()


def pack_gates(w: Tensor, H: int, Hp: int, U: int) -> Tensor:
    """An LSTM weight ``(4H, K)`` (torch's row order) -> ``(nb, K, 4U)``: for block ``j`` and input
    ``k``, the weights from ``k`` to the i, f, g, o rows of units ``jU .. jU+U-1``."""
    K = w.shape[1]
    p = gate_order(w.t(), H, Hp, U)  # (K, nb * 4U)
    return p.reshape(K, Hp // U, 4 * U).transpose(0, 1).contiguous()


def pack_pairs_bf16(packed: Tensor) -> Tensor:
    """:func:`pack_gates`' ``(nb, K, 4U)`` float32 -> ``(nb, Kp/2, 4U, 2)`` bfloat16 (``Kp``: K rounded up
    to even, the extra input's weights zero): for each pair of inputs, every gate row's two weights
    side by side, the layout of AVX512-BF16's pairwise dot product. Returned as int16 (the bits)."""
    nb, K, G = packed.shape
    if K % 2:
        packed = torch.cat([packed, packed.new_zeros(nb, 1, G)], 1)
    pairs = packed.reshape(nb, -1, 2, G).transpose(2, 3).contiguous()
    return pairs.to(torch.bfloat16).view(torch.int16)


def quantize_rows(packed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`pack_gates`' ``(nb, K, 4U)`` float32 -> int8 quads ``(nb, Kq, 4U, 4)`` (``Kq``: K / 4
    rounded up, the extra inputs' weights zero), each gate row's scale ``(nb, 4U)`` float32 and 128 times
    its quantized sum ``(nb, 4U)`` int32. Symmetric per row: ``q = round(w / s)``, ``s = max|w| / 127``
    (1 for a row of zeros); so ``|w - s q| <= s / 2``."""
    nb, K, G = packed.shape
    m = packed.abs().amax(1)
    scale = torch.where(m > 0, m / 127, torch.ones_like(m))
    q = torch.round(packed / scale[:, None, :]).clamp_(-127, 127)
    Kp = padded(K, 4)
    if Kp > K:
        q = torch.cat([q, q.new_zeros(nb, Kp - K, G)], 1)
    quads = q.reshape(nb, Kp // 4, 4, G).transpose(2, 3).contiguous().to(torch.int8)
    return quads, scale, (q.sum(1) * 128).to(torch.int32)


def quantize_activations(v: Tensor) -> tuple[Tensor, Tensor]:
    """What ``precision="int8"`` does to each row of a step's inputs ``x`` or ``h`` (``(B, n)``
    float32), in torch: codes ``round(v / t)`` in [-127, 127] (the kernel adds 128 to store them as
    bytes) and the row's scale ``t = max|v| * (1/127)`` (1 for a row of zeros), ``(B, 1)``; float32
    arithmetic as in the kernel, so ``codes * t`` is exactly what the kernel multiplies by."""
    m = v.abs().amax(1, keepdim=True)
    t = torch.where(m > 0, m * (torch.tensor(1.0) / torch.tensor(127.0)), torch.ones_like(m))
    return torch.round(v * (1 / t)).clamp(-127, 127), t


def pack_int8(wx: Tensor | None, wh: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """One layer for ``precision="int8"``: the packed ``(nb, Kx, 4U)`` input and ``(nb, H, 4U)``
    recurrent weights (:func:`pack_gates`), each quantized on its own (:func:`quantize_rows`), and the
    bias in block order -> the int8 weights ``(nb, Qx + Qh, 4U, 4)`` and one float32 buffer: the bias
    ``(nb * 4U)``, then per block ``[x scales, h scales, x corrections, h corrections]`` ``(nb, 4, 4U)``
    (the corrections' int32 bits), the layout ``lstm_step_i8`` reads. ``wx=None``: no input part
    (greedy's first layer, whose inputs come from a table)."""
    qh, sh, ch = quantize_rows(wh)
    qx, sx, cx = quantize_rows(wx) if wx is not None else (qh[:, :0], torch.ones_like(sh), torch.zeros_like(ch))
    aux = torch.stack([sx, sh, cx.view(torch.float32), ch.view(torch.float32)], 1)
    return torch.cat([qx, qh], 1), torch.cat([bias.reshape(-1), aux.reshape(-1)])


def int8_layers(ws: list[Tensor], bs: list[Tensor], H: int) -> tuple[list[Tensor], list[Tensor]]:
    """:func:`pack_int8` over a stack: each packed ``(nb, K, 4U)`` weight's last ``H`` inputs are its
    recurrent part, the ones before (if any) its input part."""
    packed = [pack_int8(w[:, :-H] if w.shape[1] > H else None, w[:, -H:], b) for w, b in zip(ws, bs)]
    return [w for w, _ in packed], [b for _, b in packed]


def pack_head_int8(w: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`pack_rows`' head ``(Vp / 4U, H, 4U)`` and bias ``(Vp)`` -> int8 quads ``(Vp / 4U, Qh, 4U, 4)``
    and ``[bias; per block (scales, corrections)]`` (float32; the corrections' int32 bits)."""
    q, scale, corr = quantize_rows(w)
    return q, torch.cat([bias, torch.stack([scale, corr.view(torch.float32)], 1).reshape(-1)])


def has_avx512_vnni() -> bool:
    """Whether ``precision="int8"`` runs on AVX512-VNNI instructions here (elsewhere it computes the same
    integer products with plain vector code: the same results, without VNNI's speed)."""
    lib = load_library()
    return lib is not None and bool(lib.rnnkit_stream_has_avx512vnni())


def has_avx512_bf16() -> bool:
    """Whether ``precision="bfloat16"`` runs on AVX512-BF16 instructions here (elsewhere it computes the
    same bf16 products with float32 instructions, correct but not faster than float32)."""
    lib = load_library()
    return lib is not None and bool(lib.rnnkit_stream_has_avx512bf16())


def pack_rows(w: Tensor, b: Tensor | None, width: int) -> tuple[Tensor, Tensor, int]:
    """A linear layer ``(V, K)`` -> ``(Vp // width, K, width)`` blocks of output rows (zero past V),
    its bias padded to ``Vp``, and ``Vp``."""
    V, K = w.shape
    Vp = padded(V, width)
    wp = torch.cat([w, w.new_zeros(Vp - V, K)]) if Vp > V else w
    bp = w.new_zeros(Vp)
    if b is not None:
        bp[:V] = b
    return wp.reshape(Vp // width, width, K).transpose(1, 2).contiguous(), bp, Vp


def _cell_bias(cell: Any) -> Tensor:
    w = cell.weight_hh
    return w.new_zeros(w.shape[0]) if cell.bias_ih is None else (cell.bias_ih + cell.bias_hh)


class _Packed:
    """Packed weights of an LSTM stack and the int64 table that describes it to the C++ side:
    ``[L, H, Hp, I0, then per layer K, weight address, bias address]``. Holds the tensors the table
    points into."""

    def __init__(self, weights: list[Tensor], biases: list[Tensor], H: int, Hp: int, I0: int,
                 inputs: list[int] | None = None) -> None:
        self.weights, self.biases, self.H, self.Hp, self.I0 = weights, biases, H, Hp, I0
        ks = [w.shape[1] for w in weights] if inputs is None else inputs  # K: each layer's inputs
        rows = [len(weights), H, Hp, I0]
        for w, b, k in zip(weights, biases, ks):
            rows += [k, w.data_ptr(), b.data_ptr()]
        self.meta = torch.tensor(rows, dtype=torch.int64)
        self.kmax = max(ks)
        self.nbytes = sum(w.numel() * w.element_size() for w in weights)


def _kernel_dtype(cells: list[Any], precision: str = "full", what: str = "cells") -> torch.dtype:
    """The cells' dtype, checked against the kernels and ``precision`` (bfloat16 takes float32)."""
    dtype = cells[0].weight_hh.dtype
    if dtype not in DTYPES:
        raise ValueError(f"the stream kernels take float32 or float64 weights, not {dtype}")
    if precision != "full" and dtype != torch.float32:
        raise ValueError(f"precision={precision!r} takes {what}, not {dtype}")
    return dtype


def kernel_suffix(precision: str, dtype: torch.dtype) -> str:
    """The kernels' name suffix: ``f32``/``f64`` (the weights' dtype), ``bf16`` or ``i8``."""
    return {"bfloat16": "bf16", "int8": "i8"}.get(precision) or DTYPES[dtype]


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


PROBES = 4  # elements sampled per parameter by ParamsWatch


class ParamsWatch:
    """Whether parameters changed since packed weights were made of them: in storage, in version
    counter, or in one of a few sampled elements (:data:`PROBES` each, spread over the tensor, read
    in C++ in a fraction of a microsecond). The samples see the changes that leave the counter
    alone: writes through ``p.data`` (``p.data.copy_(w)``, ``p.data.mul_(d)``) and torch's fused
    optimizers. A partial write through ``.data`` that misses every sampled element is not seen:
    call :func:`rnnkit.train.optim.mark_updated` after one.

    The watch holds the storages it samples, so the addresses it reads stay valid until the next
    :meth:`mark`, whatever happens to the module meanwhile (``p.data = other`` included).

    Example::

        watch = ParamsWatch()
        if watch.changed(params):    # True at first
            ...                      # pack the weights
            watch.mark(params)
    """

    def __init__(self) -> None:
        self._key: list[tuple[int, int]] | None = None
        self._held: list[Any] = []  # the sampled tensors' storages
        self._table: Tensor | None = None
        self._probe: Any = _no_probe  # (address of the table) -> digest
        self._address = 0
        self._digest = 0

    def __getstate__(self) -> dict[str, Any]:
        return ParamsWatch().__dict__  # a copy watches its own tensors: it starts unmarked

    def changed(self, params: list[Tensor]) -> bool:
        """Whether ``params`` differ from those of the last :meth:`mark` (always, before one)."""
        if _key_of(params) != self._key:
            return True
        return self._probe(self._address) != self._digest  # inline: a call of ctypes costs ~0.2 µs

    def moved(self, params: list[Tensor]) -> bool:
        """:meth:`changed` without the sampled elements, for a caller whose kernel reads them
        itself (:meth:`probe_args`; the in-place stream step)."""
        return _key_of(params) != self._key

    def probe_args(self) -> tuple[int, int]:
        """The sampled elements' table address (0: none) and their digest at :meth:`mark`, as int64s."""
        return self._address, self._digest - (1 << 64) if self._digest >= 1 << 63 else self._digest

    def mark(self, params: list[Tensor]) -> None:
        """Remember ``params`` as they are now (call after packing them)."""
        self._key = _key_of(params)
        # the storages, not the tensors: `p.data = other` frees a tensor's old storage, not a held one
        self._held, self._table = [p.untyped_storage() for p in params], probe_table(params)
        self._probe = _no_probe if self._table is None else _function("rnnkit_probe")
        self._address = 0 if self._table is None else self._table.data_ptr()
        self._digest = self._probe(self._address)


def _no_probe(address: int) -> int:
    return 0


def _key_of(params: list[Tensor]) -> list[tuple[int, int]]:
    """Each parameter's storage address and version counter."""
    try:
        return [(p.data_ptr(), p._version) for p in params]
    except RuntimeError:  # inference tensors (made under torch.inference_mode) have no counter: the samples
        return [(p.data_ptr(), -1 if p.is_inference() else p._version) for p in params]  # watch them alone


def probe_table(params: list[Tensor], per_param: int = PROBES) -> Tensor | None:
    """``[n, then per sampled element its address and size in bytes]`` (int64) for
    ``rnnkit_probe``: ``per_param`` elements of each parameter, first to last; None without the
    C++ library (the watch then relies on storage and version counters alone)."""
    if load_library() is None:
        return None
    rows: list[int] = []
    for p in params:
        n = p.numel()
        if n == 0:
            continue
        size = min(p.element_size(), 8)
        for flat in sorted({(n - 1) * j // max(per_param - 1, 1) for j in range(per_param)}):
            offset, rest = 0, flat
            for dim, stride in zip(reversed(p.shape), reversed(p.stride())):  # strided tensors too
                rest, i = divmod(rest, dim)
                offset += i * stride
            rows += [p.data_ptr() + offset * p.element_size(), size]
    return torch.tensor([len(rows) // 2, *rows], dtype=torch.int64)


def cell_params(cells: list[Any]) -> list[Tensor]:
    """The parameters the cells hold now. Read afresh at each call, not kept: ``load_state_dict(...,
    assign=True)`` and module conversions may put new Parameter objects in place of the old ones."""
    return [p for c in cells for p in (c._parameters.values() if not c._modules else c.parameters())
            if p is not None]


PRECISIONS = ("full", "bfloat16", "int8")


class StepLSTM:
    """One step of a stack of LSTM cells (rnnkit ``LSTMCell`` or anything with ``weight_ih``,
    ``weight_hh``, ``bias_ih``, ``bias_hh`` in torch's layout), at batch <= :data:`MAX_BATCH`.

    ``precision="full"`` computes in the weights' dtype. ``precision="bfloat16"`` (float32 cells
    only, opt-in) stores the weights as bfloat16 and rounds the inputs ``[x; h]`` to bfloat16 before
    the products, which are summed in float32; the pointwise update and the state stay float32. It
    reads half the bytes per step, and on CPUs with AVX512-BF16 it runs about 1.5-2x faster than
    float32 (:func:`has_avx512_bf16`); results differ from float32 by about 1e-2 relative.
    ``precision="int8"`` (float32 cells, opt-in) quantizes each layer's input and recurrent weights
    per gate row (:func:`quantize_rows`) and, at each step, ``x`` and ``h`` each to unsigned 8 bits
    with one scale per row (``round(v / t) + 128``, ``t = max|v| / 127``); the products are summed in
    int32 (AVX512-VNNI where the CPU has it, :func:`has_avx512_vnni`) and scaled back to float32
    before the pointwise update. It reads a quarter of float32's bytes per step; outputs move by
    about 1e-2.

    The packed weights are rebuilt when a parameter changes (in place, reloaded or moved): when its
    storage, its version counter or one of a few sampled elements does (:class:`ParamsWatch`; the
    samples see writes through ``p.data`` and torch's fused optimizers, which leave the counter
    alone). After a partial write through ``.data`` call :func:`rnnkit.train.optim.mark_updated`
    on the parameters.

    Example::

        step = StepLSTM(layer.cell_list)
        h1, c1 = step(x_t, h0, c0)   # x_t (B, I); h0, c0, h1, c1 (L, B, H)
    """

    def __init__(self, cells: list[Any], *, precision: str = "full") -> None:
        if load_library() is None:
            raise RuntimeError("the C++ stream kernels are not available (no compiler, or RNNKIT_NO_CPP)")
        self.cells = list(cells)
        self.precision = check_precision(precision)
        self.dtype = self._check_dtype()
        self._watch = ParamsWatch()
        self._packed: _Packed | None = None
        self._scratch: dict[int, Tensor] = {}

    @property
    def params(self) -> list[Tensor]:
        return cell_params(self.cells)

    def _check_dtype(self) -> torch.dtype:
        return _kernel_dtype(self.cells, self.precision, "float32 cells")

    @property
    def suffix(self) -> str:
        """The kernels' name suffix: f32, f64, bf16 or i8."""
        return kernel_suffix(self.precision, self.dtype)

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles repack: the table of addresses would point into the original's tensors
        return {**self.__dict__, "_watch": ParamsWatch(), "_packed": None, "_scratch": {}}

    def packed(self) -> _Packed:
        params = self.params
        if self._packed is None or self._watch.changed(params):
            self.dtype = self._check_dtype()  # .double() and .float() repack too
            H = self.cells[0].hidden_size
            U = units(self.dtype)
            Hp = padded(H, U)
            with torch.no_grad():
                ws = [pack_gates(torch.cat([c.weight_ih, c.weight_hh], 1).detach(), H, Hp, U) for c in self.cells]
                ks = [w.shape[1] for w in ws]
                bs = [gate_order(_cell_bias(c).detach(), H, Hp, U) for c in self.cells]
                if self.precision == "bfloat16":
                    ws = [pack_pairs_bf16(w) for w in ws]
                elif self.precision == "int8":
                    ws, bs = int8_layers(ws, bs, H)
            self._packed = _Packed(ws, bs, H, Hp, self.cells[0].input_size, ks)
            self._watch.mark(params)
            self._scratch = {}
        return self._packed

    def scratch(self, B: int) -> Tensor:
        """Working memory of the kernels at batch ``B`` (kept per batch size, rebuilt on repack)."""
        buf = self._scratch.get(B)
        if buf is None:
            pk = self.packed()
            buf = self._scratch[B] = torch.empty(B * (2 * pk.kmax + 2 * pk.Hp + 2), dtype=self.dtype)
        return buf

    def __call__(self, x: Tensor, h0: Tensor | None, c0: Tensor | None) -> tuple[Tensor, Tensor]:
        """``x`` (B, I), ``h0``/``c0`` (L, B, H) or None (zeros) -> new ``h``, ``c`` (L, B, H), fresh
        tensors. Inputs must be CPU tensors of the weights' dtype (the caller checks)."""
        pk = self.packed()
        B, L, H = x.shape[0], len(self.cells), pk.H
        if h0 is None or c0 is None:
            zeros = x.new_zeros(L, B, H)
            h0, c0 = (zeros if h0 is None else h0), (zeros if c0 is None else c0)
        x, h0, c0 = x.contiguous(), h0.contiguous(), c0.contiguous()
        scratch = self.scratch(B)
        h1, c1 = x.new_empty(2, L, B, H).unbind(0)
        _function(f"rnnkit_lstm_step_{self.suffix}")(
            pk.meta.data_ptr(), B, x.data_ptr(), h0.data_ptr(), c0.data_ptr(), h1.data_ptr(), c1.data_ptr(),
            scratch.data_ptr(), threads_for(pk.nbytes))
        return h1, c1


class GreedyLSTM:
    """Greedy decoding of a token LSTM (token vectors -> LSTM stack -> linear head) in one C++ call.

    Args:
        embedding: the ``nn.Embedding`` (or any module whose ``weight`` ``(V, E)`` holds each token's
            input vector) feeding the first layer.
        cells: the LSTM cells, first layer input ``E + C`` (C: a per-sequence context, or 0).
        head: the ``nn.Linear`` from the last hidden state to the ``V`` logits.
        params: every parameter the above read (their changes trigger a repack).
        precision: ``"full"``, ``"bfloat16"`` or ``"int8"`` (float32 models): the LSTM layers'
            weights and the head are stored as bfloat16 (or int8) and their inputs rounded (or
            quantized) as :class:`StepLSTM` does; the token table, the biases, the state and the
            log-softmax stay float32. A near-tie between two tokens may then break the other way
            than in float32.

    Example::

        dec = GreedyLSTM(emb, rnn.cell_list, head, list(model.parameters()))
        tokens, lengths, scores, steps = dec.run(first, h, c, eos=3, max_length=50)
    """

    def __init__(self, embedding: Any, cells: list[Any], head: Any, params: list[Tensor], *,
                 precision: str = "full") -> None:
        if load_library() is None:
            raise RuntimeError("the C++ stream kernels are not available (no compiler, or RNNKIT_NO_CPP)")
        self.embedding, self.cells, self.head, self.params = embedding, list(cells), head, params
        self.precision = check_precision(precision)
        self.dtype = self._check_dtype()
        self._watch = ParamsWatch()
        self._state: tuple[_Packed, Tensor, Tensor, Tensor, int, int] | None = None
        self._variants: dict[str, GreedyLSTM] = {precision: self}

    def _check_dtype(self) -> torch.dtype:
        return _kernel_dtype(self.cells, self.precision, "a float32 model")

    def variant(self, precision: str) -> GreedyLSTM:
        """The decoder of the same model at ``precision`` (built once, packed on first use)."""
        dec = self._variants.get(precision)
        if dec is None:
            dec = self._variants[precision] = GreedyLSTM(self.embedding, self.cells, self.head, self.params,
                                                         precision=precision)
        dec.params = self.params
        return dec

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_watch": ParamsWatch(), "_state": None, "_variants": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._variants = {self.precision: self}

    def table_bytes(self, vocab_size: int) -> int:
        H = self.cells[0].hidden_size
        return vocab_size * 4 * padded(H, units(self.dtype)) * torch.empty((), dtype=self.dtype).element_size()

    def _prepare(self) -> tuple[_Packed, Tensor, Tensor, Tensor, int, int]:
        if self._state is not None and not self._watch.changed(self.params):
            return self._state
        with torch.no_grad():
            self.dtype = self._check_dtype()
            H = self.cells[0].hidden_size
            U = units(self.dtype)
            Hp = padded(H, U)
            first = self.cells[0]
            vecs = self.embedding.weight.detach().to(self.dtype)  # (V, E)
            E = vecs.shape[1]
            table = gate_order(vecs @ first.weight_ih[:, :E].detach().t() + _cell_bias(first).detach(), H, Hp, U)
            ws = [pack_gates(first.weight_hh.detach(), H, Hp, U)]
            ws += [pack_gates(torch.cat([c.weight_ih, c.weight_hh], 1).detach(), H, Hp, U) for c in self.cells[1:]]
            bs = [gate_order(_cell_bias(c).detach(), H, Hp, U) for c in self.cells]
            hw, hb, Vp = pack_rows(self.head.weight.detach().to(self.dtype),
                                   None if self.head.bias is None else self.head.bias.detach().to(self.dtype), 4 * U)
            ks = [w.shape[1] for w in ws]
            if self.precision == "bfloat16":
                ws, hw = [pack_pairs_bf16(w) for w in ws], pack_pairs_bf16(hw)
            elif self.precision == "int8":  # the first layer's weights are all recurrent (its inputs: the table)
                (ws, bs), (hw, hb) = int8_layers(ws, bs, H), pack_head_int8(hw, hb)
            self._state = (_Packed(ws, bs, H, Hp, 0, ks), table, hw, hb, Vp, E)
        self._watch.mark(self.params)
        return self._state

    def context_bias(self, context: Tensor) -> Tensor:
        """``(B, C)`` context -> its part of the first layer's gates, ``(B, nb * 4U)`` in block order."""
        pk, _, _, _, _, E = self._prepare()
        w = self.cells[0].weight_ih[:, E:].detach()
        return gate_order(context.to(self.dtype) @ w.t(), pk.H, pk.Hp, units(self.dtype))

    def run(self, first: Tensor, h: Tensor | None, c: Tensor | None, *, eos: int, pad: int, max_length: int,
            context: Tensor | None = None, skip: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, int]:
        """Decode from tokens ``first`` (B,) and state ``h``, ``c`` (L, B, H) (None: zeros);
        ``context`` (B, C) is fed beside every token; rows where ``skip`` (B,) is true count as
        ended already.

        Returns ``tokens (B, max_length)`` (``pad`` after a row's eos; only the first ``steps``
        columns are written), ``lengths (B,)`` (``max_length`` where eos never came), ``scores
        (B,)`` float64 (summed log-probs of the chosen tokens), and ``steps``, the tokens decoded
        before every row had ended.
        """
        pk, table, hw, hb, Vp, _ = self._prepare()
        B, L, H, Hp = first.shape[0], len(self.cells), pk.H, pk.Hp
        V = self.head.weight.shape[0]
        hs = torch.zeros(L, B, Hp, dtype=self.dtype)
        cs = torch.zeros(L, B, Hp, dtype=self.dtype)
        if h is not None:
            hs[..., :H] = h
        if c is not None:
            cs[..., :H] = c
        rowbias = None if context is None else self.context_bias(context).contiguous()
        first = first.to(torch.int64).contiguous()
        if first.numel() and (int(first.min()) < 0 or int(first.max()) >= table.shape[0]):
            raise ValueError(f"token id out of range [0, {table.shape[0]}): {first.tolist()}")
        out = torch.full((B, max_length), pad, dtype=torch.int64)
        lengths = torch.full((B,), max_length, dtype=torch.int64)
        scores = torch.zeros(B, dtype=torch.float64)
        finished = torch.zeros(B, dtype=torch.uint8) if skip is None else skip.to(torch.uint8).contiguous()
        G = table.shape[1]
        scratch = torch.empty(B * (pk.kmax + 8 + Hp + Vp + G), dtype=self.dtype)
        suffix = kernel_suffix(self.precision, self.dtype)
        steps = _function(f"rnnkit_lstm_greedy_{suffix}")(
            pk.meta.data_ptr(), B, table.data_ptr(), 0 if rowbias is None else rowbias.data_ptr(), hw.data_ptr(),
            hb.data_ptr(), V, Vp, eos, pad, max_length, hs.data_ptr(), cs.data_ptr(), first.data_ptr(),
            out.data_ptr(), lengths.data_ptr(), scores.data_ptr(), finished.data_ptr(), scratch.data_ptr(),
            threads_for(pk.nbytes + hw.numel() * hw.element_size()))
        return out, lengths, scores, int(steps)


def unavailable_reason() -> str | None:
    """Why the stream kernels cannot be used here, or None."""
    base = cpu_kernels.unavailable_reason()
    if base is not None:
        return base
    return "its C++ stream kernel failed to build or load" if load_library() is None else None
