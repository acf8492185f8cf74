"""A fused CPU kernel for the pointwise part of an RNN step, compiled from C++ at first use.

The source below has a plain C ABI over raw pointers and includes no torch header, so ``g++ -O3``
builds it in about a second; the library is cached in ``~/.cache/rnnkit`` (or
``$RNNKIT_CACHE``) under a hash of the source and flags, so later runs load it at once. Without a
C++ compiler (or with ``RNNKIT_NO_CPP=1``) ``load_library()`` returns None and ``cpu-fused``
declines, saying so in ``explain()``. Called through ctypes, which releases the GIL.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

# The sigmoid and tanh of both compiled sources (this module's and ops/cpu_stream_src.cpp, which
# gets it prepended at build).
ACTIVATIONS = r"""
#include <cmath>

// From exp of a non-positive argument: at most 1, so nothing overflows, and a NaN passes through.
// 1/(1 + exp(-x)) overflowed to 1/inf, which the vector reciprocal's Newton step under -ffast-math
// turns into NaN (float32 sums past about -44 for tanh, -88 for the sigmoid).
namespace {
template <typename T> inline T rk_sigmoid(T x) {
  const T e = std::exp(-std::abs(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}
template <typename T> inline T rk_tanh(T x) {
  const T e = std::exp(T(-2) * std::abs(x));
  return std::copysign((T(1) - e) / (T(1) + e), x);
}
}  // namespace
"""

SOURCE = ACTIVATIONS + r"""
// Fused pointwise part of one LSTM / GRU / Elman-RNN step on the CPU, forward and backward.
// The equations are those of rnnkit/ops/fused_rnn.py (layer norm: Ba et al. 2016, section 3.1;
// zoneout: Krueger et al. 2017, section 2); one pass per batch row.
// Plain C ABI over raw pointers (no torch headers), so it compiles in about a second.
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Flags { int kind, relu, zone; };  // kind 0 LSTM, 1 GRU, 2 RNN; zone: zoneout masks given

inline int gates_of(int kind) { return kind == 0 ? 4 : (kind == 1 ? 3 : 1); }
inline int acts_of(int kind) { return kind == 0 ? 5 : (kind == 1 ? 4 : 1); }

// x_hat = (x - mean) / sqrt(var + eps) over n values; returns 1/sigma and writes the mean.
template <typename T> T ln_stats(const T* x, int64_t n, double eps, T* mean_out) {
  T mean = 0, var = 0;
  for (int64_t j = 0; j < n; ++j) mean += x[j];
  mean /= T(n);
  for (int64_t j = 0; j < n; ++j) { T d = x[j] - mean; var += d * d; }
  *mean_out = mean;
  return T(1) / std::sqrt(var / T(n) + T(eps));
}

// dL/dx from e = dL/dx_hat: rs * (e - mean(e) - x_hat * mean(e * x_hat)), in place on e.
template <typename T> void ln_back(T* e, const T* xhat, int64_t n, T rs) {
  T m1 = 0, m2 = 0;
  for (int64_t j = 0; j < n; ++j) { m1 += e[j]; m2 += e[j] * xhat[j]; }
  m1 /= T(n); m2 /= T(n);
  for (int64_t j = 0; j < n; ++j) e[j] = rs * (e[j] - m1 - xhat[j] * m2);
}


template <typename T>
void step_fwd(Flags f, int64_t B, int64_t H, double eps, const T* xp, const T* a, const T* hp,
              const T* cp, const T* mask, const T* zh, const T* zc, const T* lnw, const T* lnb, const T* lncw,
              const T* lncb, const T* bhh, T* h_out, T* c_out, T* hin_out, T* acts, T* ahat, T* stats, T* tc_out) {
  const int64_t K = gates_of(f.kind), A = acts_of(f.kind), G = K * H;
  std::vector<T> s(G), hn(H);
  for (int64_t b = 0; b < B; ++b) {
    const T* ar = a + b * G;
    const T* x = xp + b * G;
    const T* hpr = hp + b * H;
    T* ac = acts + b * A * H;
    if (lnw) {
      T mean, rs = ln_stats(ar, G, eps, &mean);
      stats[b * 4] = rs;
      T* nh = ahat + b * G;
      for (int64_t j = 0; j < G; ++j) { nh[j] = (ar[j] - mean) * rs; s[j] = nh[j] * lnw[j] + lnb[j]; }
    } else {
      for (int64_t j = 0; j < G; ++j) s[j] = ar[j];
    }
    if (f.kind == 0) {
      const T* cpr = cp + b * H;
      #pragma GCC ivdep  // rows of distinct buffers never alias
      for (int64_t j = 0; j < H; ++j) {
        T i = rk_sigmoid(x[j] + s[j]), fg = rk_sigmoid(x[H + j] + s[H + j]);
        T g = rk_tanh(x[2 * H + j] + s[2 * H + j]), o = rk_sigmoid(x[3 * H + j] + s[3 * H + j]);
        ac[j] = i; ac[H + j] = fg; ac[2 * H + j] = g; ac[3 * H + j] = o;
        ac[4 * H + j] = fg * cpr[j] + i * g;
      }
      const T* c = ac + 4 * H;
      T* tc = tc_out + b * H;
      if (lncw) {
        T mean, rs = ln_stats(c, H, eps, &mean);
        stats[b * 4 + 1] = mean; stats[b * 4 + 2] = rs;
        for (int64_t j = 0; j < H; ++j) tc[j] = rk_tanh((c[j] - mean) * rs * lncw[j] + lncb[j]);
      } else {
        for (int64_t j = 0; j < H; ++j) tc[j] = rk_tanh(c[j]);
      }
      for (int64_t j = 0; j < H; ++j) hn[j] = ac[3 * H + j] * tc[j];
      const T* zcr = f.zone ? zc + b * H : nullptr;
      T* cout = c_out + b * H;
      if (zcr) { for (int64_t j = 0; j < H; ++j) cout[j] = c[j] + zcr[j] * (cpr[j] - c[j]); }
      else { for (int64_t j = 0; j < H; ++j) cout[j] = c[j]; }
    } else if (f.kind == 1) {
      if (bhh) for (int64_t j = 0; j < G; ++j) s[j] += bhh[j];
      #pragma GCC ivdep  // rows of distinct buffers never alias
      for (int64_t j = 0; j < H; ++j) {
        T r = rk_sigmoid(x[j] + s[j]), z = rk_sigmoid(x[H + j] + s[H + j]), sn = s[2 * H + j];
        T n = rk_tanh(x[2 * H + j] + r * sn);
        ac[j] = r; ac[H + j] = z; ac[2 * H + j] = n; ac[3 * H + j] = sn;
        hn[j] = n + z * (hpr[j] - n);
      }
    } else if (f.relu) {
      for (int64_t j = 0; j < H; ++j) { T pre = x[j] + s[j]; hn[j] = ac[j] = pre > T(0) ? pre : T(0); }
    } else {
      for (int64_t j = 0; j < H; ++j) hn[j] = ac[j] = rk_tanh(x[j] + s[j]);
    }
    const T* zhr = f.zone ? zh + b * H : nullptr;
    T* hout = h_out + b * H;
    if (zhr) { for (int64_t j = 0; j < H; ++j) hout[j] = hn[j] + zhr[j] * (hpr[j] - hn[j]); }
    else { for (int64_t j = 0; j < H; ++j) hout[j] = hn[j]; }
    T* hin = hin_out + b * H;
    if (mask) { for (int64_t j = 0; j < H; ++j) hin[j] = hout[j] * mask[b * H + j]; }
    else { for (int64_t j = 0; j < H; ++j) hin[j] = hout[j]; }
  }
}

template <typename T>
void step_bwd(Flags f, int64_t B, int64_t H, const T* dy, const T* dcy, const T* dhin, const T* mask,
              T* dh, T* dc, const T* acts, const T* ahat, const T* stats, const T* hp, const T* cp, const T* zh,
              const T* zc, const T* lnw, const T* lncw, const T* tcs, T* dxp, T* ds, T* da, T* dcn, double* sums) {
  // sums: running [sum ds (G), sum ds*x_hat (G), sum dcn (H), sum dcn*c_hat (H)] over rows and steps,
  // the gradients of bias_hh and of the layer-norm weights, accumulated while the rows are in cache.
  const int64_t K = gates_of(f.kind), A = acts_of(f.kind), G = K * H;
  std::vector<T> d(H), dn(H), e(H), dct(H), chat(H);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t o0 = b * H;
    const T* ac = acts + b * A * H;
    T* dx = dxp + b * G;
    T* dhr = dh + o0;
    // dL/dh_t, then split by zoneout into the new value's share (dn) and the kept one (dhr).
    if (mask) { for (int64_t j = 0; j < H; ++j) d[j] = dy[o0 + j] + dhr[j] + dhin[o0 + j] * mask[o0 + j]; }
    else { for (int64_t j = 0; j < H; ++j) d[j] = dy[o0 + j] + dhr[j] + dhin[o0 + j]; }
    const T* zhr = f.zone ? zh + o0 : nullptr;
    if (zhr) { for (int64_t j = 0; j < H; ++j) { dn[j] = d[j] * (T(1) - zhr[j]); dhr[j] = d[j] * zhr[j]; } }
    else { for (int64_t j = 0; j < H; ++j) { dn[j] = d[j]; dhr[j] = T(0); } }
    if (f.kind == 0) {
      const T* tc = tcs + o0;
      T* dcr = dc + o0;
      #pragma GCC ivdep  // rows of distinct buffers never alias
      for (int64_t j = 0; j < H; ++j) {
        T o = ac[3 * H + j];
        e[j] = dn[j] * o * (T(1) - tc[j] * tc[j]);  // dL/d LN_c(c')
        dx[3 * H + j] = dn[j] * tc[j] * o * (T(1) - o);
        dct[j] = dcr[j] + (dcy ? dcy[o0 + j] : T(0));
      }
      const T* zcr = f.zone ? zc + o0 : nullptr;
      if (zcr) { for (int64_t j = 0; j < H; ++j) { dcr[j] = dct[j] * zcr[j]; dct[j] *= T(1) - zcr[j]; } }
      else { for (int64_t j = 0; j < H; ++j) dcr[j] = T(0); }
      if (lncw) {
        const T* c = ac + 4 * H;
        T mean = stats[b * 4 + 1], rs = stats[b * 4 + 2];
        for (int64_t j = 0; j < H; ++j) { chat[j] = (c[j] - mean) * rs; dcn[o0 + j] = e[j]; e[j] *= lncw[j]; }
        double* sc = sums + 2 * G;
        for (int64_t j = 0; j < H; ++j) { sc[j] += dcn[o0 + j]; sc[H + j] += dcn[o0 + j] * chat[j]; }
        ln_back(e.data(), chat.data(), H, rs);
      }
      const T* cpr = cp + o0;
      #pragma GCC ivdep  // rows of distinct buffers never alias
      for (int64_t j = 0; j < H; ++j) {
        T i = ac[j], fg = ac[H + j], g = ac[2 * H + j];
        T dcp = dct[j] + e[j];
        dcr[j] += dcp * fg;
        dx[j] = dcp * g * i * (T(1) - i);
        dx[H + j] = dcp * cpr[j] * fg * (T(1) - fg);
        dx[2 * H + j] = dcp * i * (T(1) - g * g);
      }
    } else if (f.kind == 1) {
      T* dsr = ds + b * G;
      const T* hpr = hp + o0;
      #pragma GCC ivdep  // rows of distinct buffers never alias
      for (int64_t j = 0; j < H; ++j) {
        T r = ac[j], z = ac[H + j], n = ac[2 * H + j], sn = ac[3 * H + j];
        dhr[j] += dn[j] * z;
        T dnn = dn[j] * (T(1) - z) * (T(1) - n * n);
        dx[j] = dsr[j] = dnn * sn * r * (T(1) - r);
        dx[H + j] = dsr[H + j] = dn[j] * (hpr[j] - n) * z * (T(1) - z);
        dx[2 * H + j] = dnn;
        dsr[2 * H + j] = dnn * r;
      }
    } else if (f.relu) {
      for (int64_t j = 0; j < H; ++j) dx[j] = ac[j] > T(0) ? dn[j] : T(0);
    } else {
      for (int64_t j = 0; j < H; ++j) dx[j] = dn[j] * (T(1) - ac[j] * ac[j]);
    }
    const T* src = f.kind == 1 ? ds + b * G : dx;
    T* dar = da + b * G;
    for (int64_t j = 0; j < G; ++j) sums[j] += src[j];
    if (lnw) for (int64_t j = 0; j < G; ++j) sums[G + j] += src[j] * ahat[b * G + j];
    if (lnw) {
      for (int64_t j = 0; j < G; ++j) dar[j] = src[j] * lnw[j];
      ln_back(dar, ahat + b * G, G, stats[b * 4]);
    } else {
      for (int64_t j = 0; j < G; ++j) dar[j] = src[j];
    }
  }
}

}  // namespace

#define RNNKIT_EXPORT(T, SUFFIX)                                                                             \
  extern "C" void rnnkit_step_fwd_##SUFFIX(int kind, int relu, int zone, int64_t B, int64_t H, double eps,  \
      const T* xp, const T* a, const T* hp, const T* cp, const T* mask, const T* zh,   \
      const T* zc, const T* lnw, const T* lnb, const T* lncw, const T* lncb, const T* bhh, T* h_out,        \
      T* c_out, T* hin_out, T* acts, T* ahat, T* stats, T* tc_out) {                                         \
    step_fwd<T>({kind, relu, zone}, B, H, eps, xp, a, hp, cp, mask, zh, zc, lnw, lnb, lncw,    \
                lncb, bhh, h_out, c_out, hin_out, acts, ahat, stats, tc_out);                                \
  }                                                                                                          \
  extern "C" void rnnkit_step_bwd_##SUFFIX(int kind, int relu, int zone, int64_t B, int64_t H,              \
      const T* dy, const T* dcy, const T* dhin, const T* mask, T* dh, T* dc, const T* acts,      \
      const T* ahat, const T* stats, const T* hp, const T* cp, const T* zh, const T* zc, const T* lnw,      \
      const T* lncw, const T* tcs, T* dxp, T* ds, T* da, T* dcn, double* sums) {                             \
    step_bwd<T>({kind, relu, zone}, B, H, dy, dcy, dhin, mask, dh, dc, acts, ahat, stats, hp,  \
                cp, zh, zc, lnw, lncw, tcs, dxp, ds, da, dcn, sums);                                         \
  }

RNNKIT_EXPORT(float, f32)
RNNKIT_EXPORT(double, f64)
"""

# -ffast-math lets g++ call glibc's vector exp (libmvec); it is given to the compile step only, since
# linking a shared library with it would add crtfastmath.o, which turns on flush-to-zero for the whole
# process. No OpenMP: a second OpenMP runtime's spinning threads would slow torch's own matrix
# products, which dominate the step; the pointwise pass is a few percent of it on one thread.
FLAGS = ["-O3", "-ffast-math", "-fPIC", "-std=c++17"]
LINK = ["-shared", "-lmvec", "-lm"]


@functools.cache
def cpu_flags() -> str:
    """The ``flags`` line of ``/proc/cpuinfo`` ('' where there is none)."""
    try:
        return next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def bf16_instructions() -> bool | None:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX-BF16); None where
    ``/proc/cpuinfo`` gives no x86 flags line. Without them torch emulates bfloat16 products: measured
    on an AMD EPYC (Zen 5) with oneDNN limited by ``ONEDNN_MAX_CPU_ISA``, a (1024, 768) @ (768, 768)
    product on one thread ran at 251 GFLOP/s in bfloat16 against 62 in float32 with the instructions,
    47 against 81 with AVX-512 alone and 1 against 59 with AVX2 alone."""
    flags = cpu_flags()
    if not flags:
        return None
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _isa_flags() -> list[str]:
    flags = cpu_flags()
    return ["-mavx2", "-mfma"] if " avx2" in flags and " fma" in flags else []


def cache_dir() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX``, else ``g++``, else ``c++``; None when there is none."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def library_path(name: str, source: str, cxx: str, flags: list[str], link: list[str] | None = None) -> Path:
    """Where the library built from ``source`` with ``flags`` is cached (a hash of all that goes in)."""
    parts = [source, cxx, *flags, *(LINK if link is None else link), platform.machine()]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return cache_dir() / f"{name}_{key}.so"


def build_library(source: str, cxx: str, flags: list[str], target: Path, link: list[str] | None = None) -> None:
    """Compile ``source`` into the shared library ``target`` (atomically: a concurrent process sees
    the old state or the whole library)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "source.cpp"
        src.write_text(source)
        obj, out = Path(tmp) / "source.o", Path(tmp) / target.name
        subprocess.run([cxx, *flags, "-c", str(src), "-o", str(obj)], check=True, capture_output=True, timeout=300)
        subprocess.run([cxx, str(obj), "-o", str(out), *(LINK if link is None else link)], check=True,
                       capture_output=True, timeout=300)
        os.replace(out, target)


def load_source(name: str, source: str, flags: list[str], link: list[str] | None = None) -> ctypes.CDLL | None:
    """The library built from ``source`` (built now if not cached), or None where none can be built
    (no compiler, ``RNNKIT_NO_CPP`` set, or the build failed)."""
    if os.environ.get("RNNKIT_NO_CPP"):
        return None
    cxx = compiler()
    if cxx is None:
        return None
    path = library_path(name, source, cxx, flags, link)
    try:
        if not path.exists():
            build_library(source, cxx, flags, path, link)
        return ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError):
        return None


_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int
_D = ctypes.c_double
_FWD_ARGS = [_INT] * 3 + [_I64, _I64, _D] + [_P] * 19
_BWD_ARGS = [_INT] * 3 + [_I64, _I64] + [_P] * 21


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled kernels (built now if not cached), or None where no compiler can build them."""
    lib = load_source("cpu_kernels", SOURCE, [*FLAGS, *_isa_flags()])
    if lib is None:
        return None
    for suffix in ("f32", "f64"):
        getattr(lib, f"rnnkit_step_fwd_{suffix}").argtypes = _FWD_ARGS
        getattr(lib, f"rnnkit_step_bwd_{suffix}").argtypes = _BWD_ARGS
    return lib


def unavailable_reason() -> str | None:
    """Why the fused CPU kernel cannot be used here, or None."""
    if os.environ.get("RNNKIT_NO_CPP"):
        return "RNNKIT_NO_CPP is set"
    if compiler() is None:
        return "no C++ compiler to build its kernel (install g++ or set CXX)"
    if load_library() is None:
        return "its C++ kernel failed to build or load"
    return None
