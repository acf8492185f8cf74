"""What ``ops/cpu_stream.py`` compiles and how it calls it: the compiler and linker flags (AVX-512
where the CPU has it), the source (``cpu_stream_src.cpp`` after the shared activations) and the C
signatures of its kernels.

The compiled library itself is loaded and cached once, by :func:`rnnkit.ops.cpu_stream.load_library`,
which reads the flags and the source through ``cpu_stream`` (where callers and tests patch them).
"""

from __future__ import annotations

import ctypes
from importlib import resources

import torch

from rnnkit.ops import cpu_kernels

FLAGS = ["-O3", "-ffast-math", "-fPIC", "-std=gnu++17", "-pthread"]
LINK = ["-shared", "-pthread", "-lmvec", "-lm"]
DTYPES = {torch.float32: "f32", torch.float64: "f64"}


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


def declare_signatures(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with the argument and return types of its kernels set (ctypes would guess ints)."""
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
