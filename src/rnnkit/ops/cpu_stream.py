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

Split by idea: what is compiled and how its kernels are declared (``ops/cpu_stream_build.py``), the
packed layouts (``ops/cpu_stream_packing.py``) and the watch on the parameters behind them
(``ops/cpu_stream_watch.py``); here, the one cached library and the runners. Every name stays
importable from here, and the names tests patch (``load_library``, ``_isa_flags``,
``BYTES_PER_THREAD``) are looked up here.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import torch
from torch import Tensor

from rnnkit.ops import cpu_kernels
from rnnkit.ops.cpu_stream_build import _I64 as _I64
from rnnkit.ops.cpu_stream_build import _INT as _INT
from rnnkit.ops.cpu_stream_build import _P as _P
from rnnkit.ops.cpu_stream_build import DTYPES as DTYPES
from rnnkit.ops.cpu_stream_build import FLAGS as FLAGS
from rnnkit.ops.cpu_stream_build import LINK as LINK
from rnnkit.ops.cpu_stream_build import _isa_flags as _isa_flags
from rnnkit.ops.cpu_stream_build import declare_signatures
from rnnkit.ops.cpu_stream_build import source as source
from rnnkit.ops.cpu_stream_packing import _cell_bias as _cell_bias
from rnnkit.ops.cpu_stream_packing import _Packed as _Packed
from rnnkit.ops.cpu_stream_packing import gate_order as gate_order
from rnnkit.ops.cpu_stream_packing import int8_layers as int8_layers
from rnnkit.ops.cpu_stream_packing import pack_gates as pack_gates
from rnnkit.ops.cpu_stream_packing import pack_head_int8 as pack_head_int8
from rnnkit.ops.cpu_stream_packing import pack_int8 as pack_int8
from rnnkit.ops.cpu_stream_packing import pack_pairs_bf16 as pack_pairs_bf16
from rnnkit.ops.cpu_stream_packing import pack_rows as pack_rows
from rnnkit.ops.cpu_stream_packing import padded as padded
from rnnkit.ops.cpu_stream_packing import quantize_activations as quantize_activations
from rnnkit.ops.cpu_stream_packing import quantize_rows as quantize_rows
from rnnkit.ops.cpu_stream_packing import units as units
from rnnkit.ops.cpu_stream_watch import PROBES as PROBES
from rnnkit.ops.cpu_stream_watch import ParamsWatch as ParamsWatch
from rnnkit.ops.cpu_stream_watch import _key_of as _key_of
from rnnkit.ops.cpu_stream_watch import _no_probe as _no_probe
from rnnkit.ops.cpu_stream_watch import cell_params as cell_params
from rnnkit.ops.cpu_stream_watch import probe_table as probe_table

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


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled stream kernels (built now if not cached), or None where they cannot be built."""
    # source() and _isa_flags() are looked up in this module's namespace, where tests patch them
    lib = cpu_kernels.load_source("cpu_stream", source(), [*FLAGS, *_isa_flags()], LINK)
    return None if lib is None else declare_signatures(lib)


@functools.cache
def _function(name: str) -> Any:
    """A kernel of the library by name (looked up once: ctypes' lookup costs a few µs per call)."""
    return getattr(load_library(), name)


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


def unavailable_reason() -> str | None:
    """Why the stream kernels cannot be used here, or None."""
    base = cpu_kernels.unavailable_reason()
    if base is not None:
        return base
    return "its C++ stream kernel failed to build or load" if load_library() is None else None


PRECISIONS = ("full", "bfloat16", "int8")


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
