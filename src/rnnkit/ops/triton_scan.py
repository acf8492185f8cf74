r"""A fused, chunked parallel scan in Triton for linear recurrences ``h_t = a_t h_{t-1} + b_t``.

Forward and backward, with the gates of minGRU / minLSTM (Feng et al. 2024, "Were RNNs All We
Needed?", §3.1-3.2) computed inside the kernel from the projected input, an initial state, and
``lengths`` masking. One program takes one sequence and ``BH`` channels and walks the time axis in
chunks of ``CHUNK`` steps; inside a chunk the affine maps ``h -> a h + b`` are composed by a
parallel prefix (``tl.associative_scan``, Martin & Cundy 2018, "Parallelizing Linear Recurrent
Neural Nets over Sequence Length", §2), and the chunk's last state carries into the next chunk:

.. math::
    (a_1, b_1) \circ (a_2, b_2) = (a_1 a_2,\; a_2 b_1 + b_2), \qquad
    h_{c+i} = A_i\, h_{c-1} + B_i \quad\text{with}\quad (A_i, B_i) = \circ_{j \le i} (a_{c+j}, b_{c+j}).

**Segments along time** (``ScanConfig.segment``, off by default). One program per sequence and
channel block leaves the GPU short of programs when ``B · H`` is small and ``T`` long: each walks
thousands of steps in sequence, bound by latency. With segments of ``S`` steps the scan runs in two
passes (reduce, then scan; Blelloch 1990, "Prefix sums and their applications", §1.4): pass 1 composes
each segment's steps into one map ``(A_s, B_s)``, all segments at once; pass 2 runs every segment
again from the state its predecessors leave, ``h_{in,s} = A_{s-1} h_{in,s-1} + B_{s-1}``, which each
program folds itself from the ``s`` maps before it (a few hundred flops). The backward does the same
in reverse. It costs one more read of the input, for ``T / S`` times as many programs.

**Why linear space.** With ``0 < a_t < 1`` each step is a contraction, so rounding errors decay
instead of accumulating and float32 stays accurate over any length (100k steps and more). The
log-space form of ``ops/scan.py`` (Heinsen 2023, arXiv:2311.06281) needs float64 because its
cumulative ``Σ log a`` grows with T; here products of ``a`` simply underflow to 0 when the
recurrence has forgotten, which is the exact answer. The gates are formed stably in float32:
``a = σ(-k)``, ``b = σ(k) g(u)`` for minGRU and ``a = σ(-d)``, ``b = σ(d) g(u)`` with
``d = softplus(-k_f) - softplus(-k_i)`` for minLSTM (``f' = f / (f + i) = σ(-d)``).

**Backward** is the same scan run in reverse: with ``g_t = ∂L/∂h_t``,
``g_t = a_{t+1} g_{t+1} + ∂L/∂y_t`` (``g_T`` = the gradient of the final state), then
``∂L/∂b_t = g_t``, ``∂L/∂a_t = g_t h_{t-1}`` and ``∂L/∂h_0 = a_0 g_0``. It reads the forward's
outputs for ``h_{t-1}``, so nothing beyond the outputs is saved.

**Masking.** Steps at or past a sequence's length are identity maps (``a = 1``, ``b = 0``): the
state stays at the last valid step, the outputs there are zero and receive no gradient.

The kernels themselves are in :mod:`rnnkit.ops.triton_scan_kernels`; this module tiles, launches and
differentiates them. Importing it imports triton; ``layers/scan_backends.py`` does so only on demand. With
``TRITON_INTERPRET=1`` set before import, the kernels run on CPU tensors (slowly), which the tests use.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
import triton
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.ops.triton_scan_kernels import scan_bwd, scan_bwd_agg, scan_fwd, scan_fwd_agg

MODES = {"linear": 0, "mingru": 1, "minlstm": 2}  # what the kernel reads: (a, b) or pre-activations


class ScanConfig(NamedTuple):
    """How the kernels tile the work: ``chunk`` steps by ``bh`` channels per loop iteration of a
    program, ``num_warps`` per program, ``num_stages`` chunks of loads in flight (Triton's software
    pipelining of the time loop; 1: none), and ``segment`` steps per program along time (0: one
    program walks the whole sequence). With segments the scan runs in two passes: every segment's
    composed map first, all at once, then every segment again from the state its predecessors leave
    (Blelloch 1990's reduce-then-scan), which puts ``T / segment`` times more programs on the GPU
    for one more read of the input."""

    chunk: int
    bh: int
    num_warps: int = 4
    num_stages: int = 1
    segment: int = 0

    def segments(self, T: int) -> tuple[int, int]:
        """``(steps per segment, number of segments)`` for ``T`` steps: a multiple of ``chunk``, or
        all of ``T`` in one."""
        if self.segment <= 0 or self.segment >= T:
            return max(T, 1), 1
        seg = -(-self.segment // self.chunk) * self.chunk
        return seg, -(-T // seg)


FIELDS = "chunk,bh,num_warps,num_stages[,segment]"


def scan_config(H: int, T: int) -> ScanConfig:
    """The tiling for ``H`` channels and ``T`` steps: 32 steps by up to 16 channels, 2 warps, 3 chunks
    of loads in flight, one program per sequence and channel block, unless
    ``RNNKIT_SCAN_CONFIG="chunk,bh,num_warps,num_stages[,segment]"`` says otherwise.

    Chosen by benchmarks/gpu_scan_sweep.py on an H200 (B=16, C=512, T=4,096, fp32, forward+backward):
    0.719 ms, against 0.830 ms for the first guess (64 x 32, 4 warps, no pipelining); 64 x 16 with 2
    stages was within 1%. docs/BENCHMARKS.md has the figures. Segments along time (the fifth field)
    came later and have not been timed on a GPU yet: the sweep now tries them."""
    env = os.environ.get("RNNKIT_SCAN_CONFIG")
    if env:
        try:
            values = [int(v) for v in env.split(",")]
        except ValueError:
            values = []
        if len(values) not in (4, 5):
            raise ValueError(f"RNNKIT_SCAN_CONFIG must be '{FIELDS}' (integers), got {env!r}")
        chunk, bh, warps, stages = values[:4]
        segment = values[4] if len(values) == 5 else 0
        for name, v in (("chunk", chunk), ("bh", bh), ("num_warps", warps)):
            if v < 1 or v & (v - 1):
                raise ValueError(f"RNNKIT_SCAN_CONFIG: {name} must be a power of 2, got {v}")
        if stages < 1:
            raise ValueError(f"RNNKIT_SCAN_CONFIG: num_stages must be at least 1, got {stages}")
        if segment < 0:
            raise ValueError(f"RNNKIT_SCAN_CONFIG: segment must be >= 0 (0: none), got {segment}")
    else:
        chunk, bh, warps, stages, segment = 32, 16, 2, 3, 0
    return ScanConfig(min(chunk, triton.next_power_of_2(T)), min(bh, triton.next_power_of_2(H)), warps, stages,
                      segment)


class _Launch(NamedTuple):
    """What the forward and the backward launch with: the grid's first two sides, the segments, the
    buffers of each segment's map ``(A, B)`` (float32, ``(B, nseg, H)``; stand-ins when unsegmented)
    and the tile sizes as kernel keywords."""

    grid: tuple[int, int]
    seg: int
    nseg: int
    aggA: Tensor
    aggB: Tensor
    tiles: dict[str, int]


def _launch(B: int, T: int, H: int, like: Tensor) -> _Launch:
    cfg = scan_config(H, T)
    seg, nseg = cfg.segments(T)
    aggA, aggB = (like, like) if nseg == 1 else (
        torch.empty(B, nseg, H, device=like.device, dtype=torch.float32) for _ in range(2))
    tiles = {"CHUNK": cfg.chunk, "BH": cfg.bh, "STAGES": cfg.num_stages, "num_warps": cfg.num_warps}
    return _Launch((B, triton.cdiv(H, cfg.bh)), seg, nseg, aggA, aggB, tiles)


def _views(mode: int, x: Tensor, y: Tensor | None, H: int) -> tuple[Tensor, Tensor, Tensor]:
    if mode == 0:
        assert y is not None
        return x, y, y
    return x, x[..., H:], x[..., 2 * H:] if mode == 2 else x[..., H:]


class TritonScan(torch.autograd.Function):
    """``(mode, x, y, h0, lengths) -> (outputs (B, T, H), h at each last valid step (B, H))``.

    ``mode`` 0: ``x = a``, ``y = b`` (B, T, H). Modes 1 (minGRU) and 2 (minLSTM): ``x`` the projected
    input (B, T, 2H or 3H), ``y`` None. Float32 accumulation whatever the input dtype.
    """

    @staticmethod
    def forward(ctx: Any, mode: int, x: Tensor, y: Tensor | None, h0: Tensor | None,
                lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        x = x.contiguous()
        y = None if y is None else y.contiguous()
        B, T, G = x.shape
        H = G if mode == 0 else G // (mode + 1)
        out = torch.empty(B, T, H, device=x.device, dtype=x.dtype)
        h_last = torch.empty(B, H, device=x.device, dtype=x.dtype)
        h0c = None if h0 is None else h0.contiguous()
        lens = None if lengths is None else lengths.to(device=x.device, dtype=torch.int64).contiguous()
        L = _launch(B, T, H, out)
        x0, x1, x2 = _views(mode, x, y, H)
        lens_arg = lens if lens is not None else out
        if L.nseg > 1:
            scan_fwd_agg[(*L.grid, L.nseg - 1)](
                x0, x1, x2, lens_arg, L.aggA, L.aggB, T, H, T * G, G, L.seg, L.nseg, MODE=mode,
                HAS_LEN=lens is not None, **L.tiles)
        scan_fwd[(*L.grid, L.nseg)](
            x0, x1, x2, h0c if h0c is not None else out, lens_arg, out, h_last, L.aggA, L.aggB, T, H, T * G, G,
            L.seg, L.nseg, MODE=mode, HAS_H0=h0c is not None, HAS_LEN=lens is not None, **L.tiles)
        ctx.mode, ctx.has_y, ctx.has_h0, ctx.h0_dtype = mode, y is not None, h0c is not None, \
            None if h0 is None else h0.dtype
        ctx.save_for_backward(x, y, h0c, lens, out)
        return out, h_last

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_last: Tensor | None) -> tuple[Any, ...]:
        x, y, h0c, lens, out = ctx.saved_tensors
        mode = ctx.mode
        B, T, G = x.shape
        H = out.shape[2]
        g_out = torch.zeros_like(out) if g_out is None else g_out.contiguous()
        g_last = out.new_zeros(B, H) if g_last is None else g_last.contiguous()
        dx = torch.empty_like(x)
        dy = None if y is None else torch.empty_like(y)
        dh0 = None if h0c is None else torch.empty(B, H, device=x.device, dtype=torch.float32)
        L = _launch(B, T, H, out)
        x0, x1, x2 = _views(mode, x, y, H)
        d0, d1, d2 = _views(mode, dx, dy, H)
        lens_arg = lens if lens is not None else out
        if L.nseg > 1:
            scan_bwd_agg[(*L.grid, L.nseg - 1)](
                x0, x1, x2, lens_arg, g_out, L.aggA, L.aggB, T, H, T * G, G, L.seg, L.nseg, MODE=mode,
                HAS_LEN=lens is not None, **L.tiles)
        scan_bwd[(*L.grid, L.nseg)](
            x0, x1, x2, h0c if h0c is not None else out, lens_arg, out, g_out, g_last,
            d0, d1, d2, dh0 if dh0 is not None else out, L.aggA, L.aggB, T, H, T * G, G, L.seg, L.nseg,
            MODE=mode, HAS_H0=h0c is not None, HAS_LEN=lens is not None, **L.tiles)
        return None, dx, dy, None if dh0 is None else dh0.to(ctx.h0_dtype), None


def _check(name: str, t: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


def triton_linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None,
                       lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``h_t = a_t h_{t-1} + b_t`` over dim 1 (any real ``a``, ``b``; stable for ``|a| ≤ 1``).

    Args:
        a, b: (B, T, H), float32 / bfloat16 / float16 (float32 accumulation).
        h0: (B, H) state before the first step, or None for zeros.
        lengths: (B,) valid steps; later steps leave ``h`` unchanged and output zero.

    Returns: ``(h (B, T, H), h at each sequence's last valid step (B, H))``, differentiable.

    Example::

        a, b = torch.rand(2, 1000, 8, device="cuda"), torch.randn(2, 1000, 8, device="cuda")
        h, h_last = triton_linear_scan(a, b)
    """
    if a.dim() != 3:
        raise ValueError(f"a must be (B, T, H), got {tuple(a.shape)}")
    _check("b", b, tuple(a.shape))
    if h0 is not None:
        _check("h0", h0, (a.shape[0], a.shape[2]))
    return TritonScan.apply(0, a, b.to(a.dtype), h0, lengths)


def triton_gated_scan(xp: Tensor, cell: str, h0: Tensor | None = None,
                      lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """minGRU or minLSTM over a whole sequence from the projected input, gates fused in the kernel.

    Args:
        xp: ``W_ih x + b_ih`` (B, T, 2H) ``[k; u]`` for ``"mingru"``, (B, T, 3H) ``[k_f; k_i; u]``
            for ``"minlstm"`` (the layout of ``MinGRUCell`` / ``MinLSTMCell.project_input``).
        cell: ``"mingru"`` or ``"minlstm"``.
        h0, lengths: as in :func:`triton_linear_scan`.

    Returns: ``(h (B, T, H) zero past each length, h at each last valid step (B, H))``.

    Example::

        out, h = triton_gated_scan(cell.project_input(x), "mingru", lengths=lengths)
    """
    if cell not in ("mingru", "minlstm"):
        raise ValueError(f"cell must be 'mingru' or 'minlstm', got {cell!r}")
    mode = MODES[cell]
    if xp.dim() != 3 or xp.shape[2] % (mode + 1):
        raise ValueError(f"xp must be (B, T, {mode + 1}H) for {cell}, got {tuple(xp.shape)}")
    if h0 is not None:
        _check("h0", h0, (xp.shape[0], xp.shape[2] // (mode + 1)))
    return TritonScan.apply(mode, xp, None, h0, lengths)
