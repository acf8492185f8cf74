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

Importing this module imports triton; ``layers/scan_backends.py`` does so only on demand. With
``TRITON_INTERPRET=1`` set before import, the kernels run on CPU tensors (slowly), which the tests use.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

MODES = {"linear": 0, "mingru": 1, "minlstm": 2}  # what the kernel reads: (a, b) or pre-activations


@triton.jit
def _combine(a1, b1, a2, b2):
    # (a1, b1) first, then (a2, b2): h -> a2 (a1 h + b1) + b2
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _softplus(x):
    return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _g(u):
    return tl.where(u >= 0, u + 0.5, tl.sigmoid(u))


@triton.jit
def _coeffs(v0, v1, v2, MODE: tl.constexpr):
    """(a, b) of one tile from what the kernel reads (float32)."""
    if MODE == 0:
        a, b = v0, v1
    elif MODE == 1:  # minGRU: v0 = k (update gate), v1 = u (candidate)
        a, b = tl.sigmoid(-v0), tl.sigmoid(v0) * _g(v1)
    else:  # minLSTM: v0 = k_f, v1 = k_i, v2 = u
        d = _softplus(-v0) - _softplus(-v1)
        a, b = tl.sigmoid(-d), tl.sigmoid(d) * _g(v2)
    return a, b


@triton.jit
def _load3(x0, x1, x2, off, m, MODE: tl.constexpr):
    v0 = tl.load(x0 + off, mask=m, other=0.0).to(tl.float32)
    v1 = tl.load(x1 + off, mask=m, other=0.0).to(tl.float32)
    v2 = v1
    if MODE == 2:
        v2 = tl.load(x2 + off, mask=m, other=0.0).to(tl.float32)
    return v0, v1, v2


@triton.jit
def _last_row(tile, rt, CHUNK: tl.constexpr):
    return tl.sum(tl.where(rt[:, None] == CHUNK - 1, tile, 0.0), axis=0)


@triton.jit
def _segment(T, SEG):
    """This program's segment of the time axis: its index and steps ``[lo, hi)``."""
    s = tl.program_id(2)
    lo = s * SEG
    return s, lo, tl.minimum(lo + SEG, T)


@triton.jit
def _fwd_tile(x0, x1, x2, base_x, t, rh, hm, n, T, sxt, MODE: tl.constexpr):
    """(a, b) of the steps ``t`` (identity maps past the length), the load mask and the valid rows."""
    m = (t < T)[:, None] & hm[None, :]
    v0, v1, v2 = _load3(x0, x1, x2, base_x + t[:, None] * sxt + rh[None, :], m, MODE)
    a, b = _coeffs(v0, v1, v2, MODE)
    valid = (t < n)[:, None]
    return tl.where(valid, a, 1.0), tl.where(valid, b, 0.0), m, valid


@triton.jit
def _bwd_tile(x0, x1, x2, g_out, base_x, base_o, t, lo, rh, hm, n, H, sxt, MODE: tl.constexpr):
    """For the steps ``t`` (running backwards, none before ``lo``): ``a_{t+1}``, which carries
    ``g_{t+1}`` back to ``g_t`` (1 at and past the end), ``∂L/∂y_t``, the mask and the valid rows."""
    inside = t >= lo
    m = inside[:, None] & hm[None, :]
    valid = (t < n)[:, None]
    mn = ((t + 1 < n) & inside)[:, None] & hm[None, :]
    w0, w1, w2 = _load3(x0, x1, x2, base_x + (t[:, None] + 1) * sxt + rh[None, :], mn, MODE)
    a_next, _ = _coeffs(w0, w1, w2, MODE)
    gy = tl.load(g_out + base_o + t[:, None] * H + rh[None, :], mask=m & valid, other=0.0).to(tl.float32)
    return tl.where(mn, a_next, 1.0), gy, m, valid


@triton.jit
def _lanes(H, BH: tl.constexpr):
    """This program's sequence (int64, for offsets), its channels and their mask."""
    rh = tl.program_id(1) * BH + tl.arange(0, BH)
    return tl.program_id(0).to(tl.int64), rh, rh < H


@triton.jit
def _length(lens, pid_b, T, HAS_LEN: tl.constexpr):
    """The sequence's valid steps (all ``T`` without lengths)."""
    n = T
    if HAS_LEN:
        n = tl.load(lens + pid_b).to(tl.int32)
    return n


@triton.jit
def _compose(P, h, A, Bc, rt, CHUNK: tl.constexpr):
    """A running map ``x -> P x + h`` followed by one tile's (the last rows of its scan ``A``, ``Bc``)."""
    a_last = _last_row(A, rt, CHUNK)
    return P * a_last, a_last * h + _last_row(Bc, rt, CHUNK)


@triton.jit
def _put(aggA, aggB, row, rh, hm, P, h):
    tl.store(aggA + row + rh, P, mask=hm)
    tl.store(aggB + row + rh, h, mask=hm)


@triton.jit
def _fold(aggA, aggB, row, rh, hm, h):
    """``h -> A h + B`` with the aggregate of one segment (``row`` = its (sequence, segment) index)."""
    return tl.load(aggA + row + rh, mask=hm, other=1.0) * h + tl.load(aggB + row + rh, mask=hm, other=0.0)


@triton.jit
def _scan_fwd_agg(x0, x1, x2, lens, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
                  MODE: tl.constexpr, HAS_LEN: tl.constexpr,
                  CHUNK: tl.constexpr, BH: tl.constexpr, STAGES: tl.constexpr):
    """Segmented scan, pass 1: each segment's composed map ``h -> A h + B`` (all segments at once)."""
    pid_b, rh, hm = _lanes(H, BH)
    rt = tl.arange(0, CHUNK)
    s, lo, hi = _segment(T, SEG)
    n = _length(lens, pid_b, T, HAS_LEN)
    P = tl.full([BH], 1.0, dtype=tl.float32)
    h = tl.zeros([BH], dtype=tl.float32)
    for start in tl.range(lo, hi, CHUNK, num_stages=STAGES):
        a, b, m, valid = _fwd_tile(x0, x1, x2, pid_b * sxb, start + rt, rh, hm, n, T, sxt, MODE)
        A, Bc = tl.associative_scan((a, b), 0, _combine)
        P, h = _compose(P, h, A, Bc, rt, CHUNK)
    _put(aggA, aggB, (pid_b * NSEG + s) * H, rh, hm, P, h)


@triton.jit
def _scan_fwd(x0, x1, x2, h0, lens, out, h_last, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
              MODE: tl.constexpr, HAS_H0: tl.constexpr, HAS_LEN: tl.constexpr,
              CHUNK: tl.constexpr, BH: tl.constexpr, STAGES: tl.constexpr):
    pid_b, rh, hm = _lanes(H, BH)
    rt = tl.arange(0, CHUNK)
    s, lo, hi = _segment(T, SEG)
    h = tl.zeros([BH], dtype=tl.float32)
    if HAS_H0:
        h = tl.load(h0 + pid_b * H + rh, mask=hm, other=0.0).to(tl.float32)
    for j in range(0, s):  # the state entering this segment: the earlier segments' maps (none unsegmented)
        h = _fold(aggA, aggB, (pid_b * NSEG + j) * H, rh, hm, h)
    n = _length(lens, pid_b, T, HAS_LEN)
    for start in tl.range(lo, hi, CHUNK, num_stages=STAGES):  # the loads do not wait for the carry: prefetched
        t = start + rt
        a, b, m, valid = _fwd_tile(x0, x1, x2, pid_b * sxb, t, rh, hm, n, T, sxt, MODE)
        A, Bc = tl.associative_scan((a, b), 0, _combine)
        hc = A * h[None, :] + Bc  # (CHUNK, BH)
        tl.store(out + pid_b * T * H + t[:, None] * H + rh[None, :],
                 tl.where(valid, hc, 0.0).to(out.dtype.element_ty), mask=m)
        h = _last_row(hc, rt, CHUNK)
    if s == NSEG - 1:
        tl.store(h_last + pid_b * H + rh, h.to(h_last.dtype.element_ty), mask=hm)


@triton.jit
def _scan_bwd_agg(x0, x1, x2, lens, g_out, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
                  MODE: tl.constexpr, HAS_LEN: tl.constexpr,
                  CHUNK: tl.constexpr, BH: tl.constexpr, STAGES: tl.constexpr):
    """Segmented backward, pass 1: each segment's map ``g_hi -> g_lo`` of the reverse scan (segments
    1 .. NSEG - 1; segment 0's is never needed)."""
    pid_b, rh, hm = _lanes(H, BH)
    rt = tl.arange(0, CHUNK)
    lo = (tl.program_id(2) + 1) * SEG
    hi = tl.minimum(lo + SEG, T)
    n = _length(lens, pid_b, T, HAS_LEN)
    P = tl.full([BH], 1.0, dtype=tl.float32)
    g = tl.zeros([BH], dtype=tl.float32)
    for c in tl.range(0, hi - lo, CHUNK, num_stages=STAGES):
        a_next, gy, m, valid = _bwd_tile(x0, x1, x2, g_out, pid_b * sxb, pid_b * T * H, hi - 1 - c - rt,
                                         lo, rh, hm, n, H, sxt, MODE)
        A, Bc = tl.associative_scan((a_next, gy), 0, _combine)
        P, g = _compose(P, g, A, Bc, rt, CHUNK)
    _put(aggA, aggB, (pid_b * NSEG + tl.program_id(2) + 1) * H, rh, hm, P, g)


@triton.jit
def _scan_bwd(x0, x1, x2, h0, lens, out, g_out, g_last, d0, d1, d2, dh0, aggA, aggB, T, H, sxb, sxt,
              SEG, NSEG, MODE: tl.constexpr, HAS_H0: tl.constexpr, HAS_LEN: tl.constexpr,
              CHUNK: tl.constexpr, BH: tl.constexpr, STAGES: tl.constexpr):
    pid_b, rh, hm = _lanes(H, BH)
    rt = tl.arange(0, CHUNK)
    s, lo, hi = _segment(T, SEG)
    n = _length(lens, pid_b, T, HAS_LEN)
    g = tl.load(g_last + pid_b * H + rh, mask=hm, other=0.0).to(tl.float32)
    for k in range(0, NSEG - 1 - s):  # the gradient entering this segment from the later ones
        g = _fold(aggA, aggB, (pid_b * NSEG + NSEG - 1 - k) * H, rh, hm, g)
    base_x = pid_b * sxb
    base_o = pid_b * T * H
    for c in tl.range(0, hi - lo, CHUNK, num_stages=STAGES):
        t = hi - 1 - c - rt  # time runs backwards down the tile, so a forward scan is a reverse one
        a_next, gy, m, valid = _bwd_tile(x0, x1, x2, g_out, base_x, base_o, t, lo, rh, hm, n, H, sxt, MODE)
        A, Bc = tl.associative_scan((a_next, gy), 0, _combine)
        gt = A * g[None, :] + Bc  # (CHUNK, BH): g_t
        g = _last_row(gt, rt, CHUNK)
        # h_{t-1}: the previous output, or h0 at t = 0
        hp = tl.load(out + base_o + (t[:, None] - 1) * H + rh[None, :], mask=m & (t >= 1)[:, None],
                     other=0.0).to(tl.float32)
        if HAS_H0:
            hz = tl.load(h0 + pid_b * H + rh, mask=hm, other=0.0).to(tl.float32)
            hp = tl.where((t == 0)[:, None], hz[None, :], hp)
        gt = tl.where(valid, gt, 0.0)
        da = gt * hp
        db = gt
        off = base_x + t[:, None] * sxt + rh[None, :]
        if MODE == 0:
            tl.store(d0 + off, da.to(d0.dtype.element_ty), mask=m)
            tl.store(d1 + off, db.to(d1.dtype.element_ty), mask=m)
        elif MODE == 1:
            v0, v1, v2 = _load3(x0, x1, x2, off, m, MODE)
            z = tl.sigmoid(v0)
            gu = _g(v1)
            dk = z * (1.0 - z) * (db * gu - da)
            du = db * z * tl.where(v1 >= 0, 1.0, gu * (1.0 - gu))
            tl.store(d0 + off, dk.to(d0.dtype.element_ty), mask=m)
            tl.store(d1 + off, du.to(d1.dtype.element_ty), mask=m)
        else:
            v0, v1, v2 = _load3(x0, x1, x2, off, m, MODE)
            d = _softplus(-v0) - _softplus(-v1)
            sd = tl.sigmoid(d)
            gu = _g(v2)
            dd = sd * (1.0 - sd) * (db * gu - da)
            tl.store(d0 + off, (-dd * tl.sigmoid(-v0)).to(d0.dtype.element_ty), mask=m)
            tl.store(d1 + off, (dd * tl.sigmoid(-v1)).to(d1.dtype.element_ty), mask=m)
            du = db * sd * tl.where(v2 >= 0, 1.0, gu * (1.0 - gu))
            tl.store(d2 + off, du.to(d2.dtype.element_ty), mask=m)
    if HAS_H0:  # noqa: SIM102 (a constexpr test around a run-time one: Triton compiles the first away)
        if s == 0:
            # g now holds g_0; dh0 = a_0 g_0 (a_0 = 1 for an empty sequence)
            m0 = hm & ((rh * 0 + n) > 0)
            v0, v1, v2 = _load3(x0, x1, x2, base_x + rh, m0, MODE)
            a0, _ = _coeffs(v0, v1, v2, MODE)
            tl.store(dh0 + pid_b * H + rh, (tl.where(m0, a0, 1.0) * g).to(dh0.dtype.element_ty), mask=hm)


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
            _scan_fwd_agg[(*L.grid, L.nseg - 1)](
                x0, x1, x2, lens_arg, L.aggA, L.aggB, T, H, T * G, G, L.seg, L.nseg, MODE=mode,
                HAS_LEN=lens is not None, **L.tiles)
        _scan_fwd[(*L.grid, L.nseg)](
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
            _scan_bwd_agg[(*L.grid, L.nseg - 1)](
                x0, x1, x2, lens_arg, g_out, L.aggA, L.aggB, T, H, T * G, G, L.seg, L.nseg, MODE=mode,
                HAS_LEN=lens is not None, **L.tiles)
        _scan_bwd[(*L.grid, L.nseg)](
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
