"""Additive (Bahdanau) attention scores on the CPU in one compiled pass, forward and backward.

``e[b, l, s] = sum_a v[a] * tanh(q[b, l, a] + k[b, s, a])``: written with torch ops it builds the
``(B, L, S, A)`` sum and its tanh (torch's CPU tanh runs at about 2.3 ns per element on the AMD
EPYC VM where this was written, ten times its sigmoid). Here each ``(b, l, s)`` is one pass over
``a`` that keeps nothing of size ``A`` per pair; the backward pass computes the tanh again instead
of reading it back. Measured there (1 torch thread, B=128, L=S=15, A=192, cmudict_g2p's sizes):
17.6 ms forward and 22.0 ms forward + backward with torch ops, 1.7 ms and 5.7 ms here; a training
batch of the cmudict_g2p recipe 0.122 -> 0.089 CPU s (unsorted batches), and two epochs of it through
the Trainer (length-bucketed batches, valid decoding included) 118.8 -> 104.6 CPU s.

:func:`additive_scores` takes this path for CPU tensors when the library builds
(``ops/cpu_kernels.load_source``; ``RNNKIT_NO_CPP=1`` or no compiler: torch ops), and torch ops
otherwise (CUDA, tracing). float64 runs in float64. bfloat16, float16 and mixed inputs (under CPU
autocast, ``precision="bf16"``, the projected query and keys are bfloat16 and ``v`` float32) run in
float32, the precision autocast keeps for reductions, and come back in the query's dtype: torch ops
would build the ``(B, L, S, A)`` tanh in bfloat16, slower than this pass in float32 and rounded
at every element. Double backward is not supported on the compiled path.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import torch
from torch import Tensor

from rnnkit.ops import cpu_kernels, cpu_stream

SOURCE = r"""
#include <cstdint>

// q (B, L, A), k (B, S, A), v (A) -> e (B, L, S)
template <typename T>
void additive_fwd(int64_t B, int64_t L, int64_t S, int64_t A, const T* __restrict q, const T* __restrict k,
                  const T* __restrict v, T* __restrict e) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const T* qr = q + (b * L + l) * A;
      T* er = e + (b * L + l) * S;
      for (int64_t s = 0; s < S; ++s) {
        const T* kr = k + (b * S + s) * A;
        T acc = 0;
        for (int64_t a = 0; a < A; ++a) acc += v[a] * rk_tanh(qr[a] + kr[a]);
        er[s] = acc;
      }
    }
}

// ge (B, L, S) -> gq (B, L, A), gk (B, S, A), gv (A), all zeroed by the caller. Pairs whose score
// gradient is 0 (masked source steps) are skipped.
template <typename T>
void additive_bwd(int64_t B, int64_t L, int64_t S, int64_t A, const T* __restrict q, const T* __restrict k,
                  const T* __restrict v, const T* __restrict ge, T* __restrict gq, T* __restrict gk,
                  T* __restrict gv) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const T* qr = q + (b * L + l) * A;
      T* gqr = gq + (b * L + l) * A;
      const T* ger = ge + (b * L + l) * S;
      for (int64_t s = 0; s < S; ++s) {
        const T g = ger[s];
        if (g == T(0)) continue;
        const T* kr = k + (b * S + s) * A;
        T* gkr = gk + (b * S + s) * A;
        for (int64_t a = 0; a < A; ++a) {
          const T u = rk_tanh(qr[a] + kr[a]);
          const T d = g * v[a] * (T(1) - u * u);
          gv[a] += g * u;
          gqr[a] += d;
          gkr[a] += d;
        }
      }
    }
}

#define RNNKIT_ATT_EXPORT(T, SUFFIX)                                                                        \
  extern "C" void rnnkit_additive_fwd_##SUFFIX(int64_t B, int64_t L, int64_t S, int64_t A, const T* q,     \
                                                const T* k, const T* v, T* e) {                             \
    additive_fwd<T>(B, L, S, A, q, k, v, e);                                                                \
  }                                                                                                         \
  extern "C" void rnnkit_additive_bwd_##SUFFIX(int64_t B, int64_t L, int64_t S, int64_t A, const T* q,     \
                                                const T* k, const T* v, const T* ge, T* gq, T* gk, T* gv) { \
    additive_bwd<T>(B, L, S, A, q, k, v, ge, gq, gk, gv);                                                   \
  }

RNNKIT_ATT_EXPORT(float, f32)
RNNKIT_ATT_EXPORT(double, f64)
"""

SUFFIX = cpu_stream.DTYPES  # the kernels' name suffix per dtype, as the stream kernels'
_P, _I64 = ctypes.c_void_p, ctypes.c_int64


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled kernels (built now if not cached), or None where they cannot be built."""
    lib = cpu_kernels.load_source("cpu_attention", cpu_kernels.ACTIVATIONS + SOURCE,  # AVX-512 where the
                                  [*cpu_kernels.FLAGS, *cpu_stream._isa_flags()])  # CPU has it (libmvec's exp too)
    if lib is None:
        return None
    for s in SUFFIX.values():
        getattr(lib, f"rnnkit_additive_fwd_{s}").argtypes = [_I64] * 4 + [_P] * 4
        getattr(lib, f"rnnkit_additive_bwd_{s}").argtypes = [_I64] * 4 + [_P] * 7
    return lib


def torch_scores(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """The reference: ``q (B, L, A)``, ``k (B, S, A)``, ``v (A,)`` -> ``(B, L, S)`` with torch ops."""
    return torch.tanh(q.unsqueeze(2) + k.unsqueeze(1)) @ v


class _AdditiveScores(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        (B, L, A), S = q.shape, k.shape[1]
        e = q.new_empty(B, L, S)
        lib = load_library()
        getattr(lib, f"rnnkit_additive_fwd_{SUFFIX[q.dtype]}")(
            B, L, S, A, q.data_ptr(), k.data_ptr(), v.data_ptr(), e.data_ptr())
        ctx.save_for_backward(q, k, v)
        return e

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, ge: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = ctx.saved_tensors
        ge = ge.contiguous()
        (B, L, A), S = q.shape, k.shape[1]
        gq, gk, gv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        lib = load_library()
        getattr(lib, f"rnnkit_additive_bwd_{SUFFIX[q.dtype]}")(
            B, L, S, A, q.data_ptr(), k.data_ptr(), v.data_ptr(), ge.data_ptr(), gq.data_ptr(), gk.data_ptr(),
            gv.data_ptr())
        return gq, gk, gv


HALF = (torch.float16, torch.bfloat16)  # computed in float32 on the compiled pass


def compiled_dtype(q: Tensor, k: Tensor, v: Tensor) -> torch.dtype | None:
    """The dtype the compiled pass computes these tensors in (float64 if all are; else float32 for
    any mix of float32, bfloat16 and float16), or None for other dtypes."""
    dtypes = {q.dtype, k.dtype, v.dtype}
    if dtypes == {torch.float64}:
        return torch.float64
    return torch.float32 if dtypes <= {torch.float32, *HALF} else None


def compiled_reason(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why the compiled pass cannot run these tensors, or None."""
    if not (q.is_cpu and k.is_cpu and v.is_cpu):
        return "not on the CPU"
    if compiled_dtype(q, k, v) is None:
        return f"dtypes {q.dtype}, {k.dtype}, {v.dtype} (float64 alone, or float32, bfloat16, float16)"
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return "a tracer is recording"
    if load_library() is None:
        return "no C++ compiler (or RNNKIT_NO_CPP)"
    return None


def additive_scores(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``e[b, l, s] = v . tanh(q[b, l] + k[b, s])``: ``q (B, L, A)``, ``k (B, S, A)``, ``v (A,)`` ->
    ``(B, L, S)``, in one compiled pass on the CPU (see the module docstring), else torch ops."""
    if compiled_reason(q, k, v) is not None:
        return torch_scores(q, k, v)
    dtype = compiled_dtype(q, k, v)
    if q.dtype == k.dtype == v.dtype == dtype:
        return _AdditiveScores.apply(q, k, v)
    # the casts are recorded by autograd, so each gradient comes back in its input's dtype
    return _AdditiveScores.apply(q.to(dtype), k.to(dtype), v.to(dtype)).to(q.dtype)
