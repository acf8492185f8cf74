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

SOURCE = r"""
// Fused pointwise part of one LSTM / GRU / Elman-RNN step on the CPU, forward and backward.
// The equations are those of rnnkit/ops/fused_rnn.py (layer norm: Ba et al. 2016, section 3.1;
// zoneout: Krueger et al. 2017, section 2); one pass per batch row, rows split across OpenMP threads where built with -fopenmp.
// Plain C ABI over raw pointers (no torch headers), so it compiles in about a second.
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

template <typename T> inline T sig(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T tnh(T x) { return T(2) / (T(1) + std::exp(-T(2) * x)) - T(1); }

struct Flags { int kind, relu, zone, nthreads; };  // kind 0 LSTM, 1 GRU, 2 RNN; zone 0 none, 1 masks, 2 p

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
void step_fwd(Flags f, int64_t B, int64_t H, double eps, double pz, const T* xp, const T* a, const T* hp,
              const T* cp, const T* mask, const T* zh, const T* zc, const T* lnw, const T* lnb, const T* lncw,
              const T* lncb, const T* bhh, T* h_out, T* c_out, T* hin_out, T* acts, T* ahat, T* stats, T* tc_out) {
  const int64_t K = gates_of(f.kind), A = acts_of(f.kind), G = K * H;
#pragma omp parallel num_threads(f.nthreads)
  {
    std::vector<T> s(G);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      const T* ar = a + b * G;
      const T* x = xp + b * G;
      T* ac = acts + b * A * H;
      if (lnw) {
        T mean, rs = ln_stats(ar, G, eps, &mean);
        stats[b * 4] = rs;
        T* nh = ahat + b * G;
        for (int64_t j = 0; j < G; ++j) { nh[j] = (ar[j] - mean) * rs; s[j] = nh[j] * lnw[j] + lnb[j]; }
      } else {
        for (int64_t j = 0; j < G; ++j) s[j] = ar[j];
      }
      const T* hpr = hp + b * H;
      for (int64_t j = 0; j < H; ++j) {
        T hn;
        if (f.kind == 0) {
          T i = sig(x[j] + s[j]), fg = sig(x[H + j] + s[H + j]);
          T g = tnh(x[2 * H + j] + s[2 * H + j]), o = sig(x[3 * H + j] + s[3 * H + j]);
          ac[j] = i; ac[H + j] = fg; ac[2 * H + j] = g; ac[3 * H + j] = o;
          ac[4 * H + j] = fg * cp[b * H + j] + i * g;
          hn = 0;  // set below, after the cell-state layer norm
        } else if (f.kind == 1) {
          T sr = s[j], sz = s[H + j], sn = s[2 * H + j];
          if (bhh) { sr += bhh[j]; sz += bhh[H + j]; sn += bhh[2 * H + j]; }
          T r = sig(x[j] + sr), z = sig(x[H + j] + sz), n = tnh(x[2 * H + j] + r * sn);
          ac[j] = r; ac[H + j] = z; ac[2 * H + j] = n; ac[3 * H + j] = sn;
          hn = n + z * (hpr[j] - n);
        } else {
          T pre = x[j] + s[j];
          hn = f.relu ? (pre > 0 ? pre : T(0)) : tnh(pre);
          ac[j] = hn;
        }
        if (f.kind != 0) {
          T zz = f.zone == 1 ? zh[b * H + j] : T(pz);
          h_out[b * H + j] = f.zone ? hn + zz * (hpr[j] - hn) : hn;
        }
      }
      if (f.kind == 0) {
        const T* c = ac + 4 * H;
        T mean = 0, rs = 1;
        if (lncw) { rs = ln_stats(c, H, eps, &mean); stats[b * 4 + 1] = mean; stats[b * 4 + 2] = rs; }
        for (int64_t j = 0; j < H; ++j) {
          T cn = lncw ? (c[j] - mean) * rs * lncw[j] + lncb[j] : c[j];
          T tc = tnh(cn), hn = ac[3 * H + j] * tc;
          tc_out[b * H + j] = tc;
          T zzh = f.zone == 1 ? zh[b * H + j] : T(pz), zzc = f.zone == 1 ? zc[b * H + j] : T(pz);
          h_out[b * H + j] = f.zone ? hn + zzh * (hpr[j] - hn) : hn;
          c_out[b * H + j] = f.zone ? c[j] + zzc * (cp[b * H + j] - c[j]) : c[j];
        }
      }
      for (int64_t j = 0; j < H; ++j) hin_out[b * H + j] = mask ? h_out[b * H + j] * mask[b * H + j] : h_out[b * H + j];
    }
  }
}

template <typename T>
void step_bwd(Flags f, int64_t B, int64_t H, double pz, const T* dy, const T* dcy, const T* dhin, const T* mask,
              T* dh, T* dc, const T* acts, const T* ahat, const T* stats, const T* hp, const T* cp, const T* zh,
              const T* zc, const T* lnw, const T* lncw, const T* tcs, T* dxp, T* ds, T* da, T* dcn) {
  const int64_t K = gates_of(f.kind), A = acts_of(f.kind), G = K * H;
#pragma omp parallel num_threads(f.nthreads)
  {
    std::vector<T> e(G), dcx(H), chat(H);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      const T* ac = acts + b * A * H;
      T* dx = dxp + b * G;
      T* dsr = ds + b * G;
      T* dhr = dh + b * H;
      for (int64_t j = 0; j < H; ++j) {
        int64_t k = b * H + j;
        T d = dy[k] + dhr[j] + (mask ? dhin[k] * mask[k] : dhin[k]);
        T zz = f.zone == 1 ? zh[k] : T(pz);
        T dhn = f.zone ? d * (T(1) - zz) : d;
        dhr[j] = f.zone ? d * zz : T(0);
        if (f.kind == 0) {
          T dct = dc[k] + (dcy ? dcy[k] : T(0));
          T zzc = f.zone == 1 ? zc[k] : T(pz);
          T o = ac[3 * H + j], tc = tcs[k];
          e[j] = dhn * o * (T(1) - tc * tc);  // dL/d LN_c(c')
          dcx[j] = f.zone ? dct * (T(1) - zzc) : dct;
          dc[k] = f.zone ? dct * zzc : T(0);  // the zoneout part of dL/dc_{t-1}; f dc' added below
          dx[3 * H + j] = dhn * tc * o * (T(1) - o);
        } else if (f.kind == 1) {
          T r = ac[j], z = ac[H + j], n = ac[2 * H + j], sn = ac[3 * H + j];
          dhr[j] += dhn * z;
          T dn = dhn * (T(1) - z) * (T(1) - n * n);
          dx[j] = dn * sn * r * (T(1) - r);
          dx[H + j] = dhn * (hp[k] - n) * z * (T(1) - z);
          dx[2 * H + j] = dn;
          dsr[j] = dx[j]; dsr[H + j] = dx[H + j]; dsr[2 * H + j] = dn * r;
        } else {
          T hn = ac[j];
          dx[j] = f.relu ? (hn > 0 ? dhn : T(0)) : dhn * (T(1) - hn * hn);
        }
      }
      if (f.kind == 0) {
        const T* c = ac + 4 * H;
        if (lncw) {
          T mean = stats[b * 4 + 1], rs = stats[b * 4 + 2];
          for (int64_t j = 0; j < H; ++j) { chat[j] = (c[j] - mean) * rs; dcn[b * H + j] = e[j]; e[j] *= lncw[j]; }
          ln_back(e.data(), chat.data(), H, rs);
        }
        for (int64_t j = 0; j < H; ++j) {
          int64_t k = b * H + j;
          T i = ac[j], fg = ac[H + j], g = ac[2 * H + j];
          T d = dcx[j] + e[j];
          dc[k] += d * fg;
          dx[j] = d * g * i * (T(1) - i);
          dx[H + j] = d * cp[k] * fg * (T(1) - fg);
          dx[2 * H + j] = d * i * (T(1) - g * g);
        }
      }
      const T* src = f.kind == 1 ? dsr : dx;
      T* dar = da + b * G;
      if (lnw) {
        for (int64_t j = 0; j < G; ++j) dar[j] = src[j] * lnw[j];
        ln_back(dar, ahat + b * G, G, stats[b * 4]);
      } else {
        for (int64_t j = 0; j < G; ++j) dar[j] = src[j];
      }
    }
  }
}

}  // namespace

#define RNNKIT_EXPORT(T, SUFFIX)                                                                             \
  extern "C" void rnnkit_step_fwd_##SUFFIX(int kind, int relu, int zone, int nthreads, int64_t B, int64_t H, \
      double eps, double pz, const T* xp, const T* a, const T* hp, const T* cp, const T* mask, const T* zh,   \
      const T* zc, const T* lnw, const T* lnb, const T* lncw, const T* lncb, const T* bhh, T* h_out,        \
      T* c_out, T* hin_out, T* acts, T* ahat, T* stats, T* tc_out) {                                         \
    step_fwd<T>({kind, relu, zone, nthreads}, B, H, eps, pz, xp, a, hp, cp, mask, zh, zc, lnw, lnb, lncw,    \
                lncb, bhh, h_out, c_out, hin_out, acts, ahat, stats, tc_out);                                \
  }                                                                                                          \
  extern "C" void rnnkit_step_bwd_##SUFFIX(int kind, int relu, int zone, int nthreads, int64_t B, int64_t H, \
      double pz, const T* dy, const T* dcy, const T* dhin, const T* mask, T* dh, T* dc, const T* acts,      \
      const T* ahat, const T* stats, const T* hp, const T* cp, const T* zh, const T* zc, const T* lnw,      \
      const T* lncw, const T* tcs, T* dxp, T* ds, T* da, T* dcn) {                                           \
    step_bwd<T>({kind, relu, zone, nthreads}, B, H, pz, dy, dcy, dhin, mask, dh, dc, acts, ahat, stats, hp,  \
                cp, zh, zc, lnw, lncw, tcs, dxp, ds, da, dcn);                                               \
  }

RNNKIT_EXPORT(float, f32)
RNNKIT_EXPORT(double, f64)
"""

# No OpenMP: a second OpenMP runtime's spinning threads would slow torch's own matrix products,
# which dominate the step; the pointwise pass is a few percent of it on one thread.
FLAGS = ["-O3", "-shared", "-fPIC", "-std=c++17"]


def cache_dir() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX``, else ``g++``, else ``c++``; None when there is none."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _library_path(cxx: str) -> Path:
    key = hashlib.sha256("\n".join([SOURCE, cxx, *FLAGS, platform.machine()]).encode()).hexdigest()[:16]
    return cache_dir() / f"cpu_kernels_{key}.so"


def _build(cxx: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "cpu_kernels.cpp"
        src.write_text(SOURCE)
        out = Path(tmp) / target.name
        subprocess.run([cxx, *FLAGS, str(src), "-o", str(out)], check=True, capture_output=True, timeout=300)
        os.replace(out, target)  # atomic: a concurrent process sees the old state or the whole library


_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int
_D = ctypes.c_double
_FWD_ARGS = [_INT] * 4 + [_I64, _I64, _D, _D] + [_P] * 19
_BWD_ARGS = [_INT] * 4 + [_I64, _I64, _D] + [_P] * 20


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The compiled kernels (built now if not cached), or None where no compiler can build them."""
    if os.environ.get("RNNKIT_NO_CPP"):
        return None
    cxx = compiler()
    if cxx is None:
        return None
    path = _library_path(cxx)
    try:
        if not path.exists():
            _build(cxx, path)
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError):
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
