"""The Triton kernels of the chunked linear-recurrence scan: gate coefficients, tile loads, the forward
and backward walks over time and their two-pass (segmented) variants. :mod:`rnnkit.ops.triton_scan`
holds the equations, the tiling (``ScanConfig``), the launches and the autograd function.

Importing this module imports triton; ``MODE`` 0 reads ``(a, b)``, 1 minGRU's and 2 minLSTM's
pre-activations (``triton_scan.MODES``).
"""

from __future__ import annotations

import triton
import triton.language as tl


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
def scan_fwd_agg(x0, x1, x2, lens, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
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
def scan_fwd(x0, x1, x2, h0, lens, out, h_last, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
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
def scan_bwd_agg(x0, x1, x2, lens, g_out, aggA, aggB, T, H, sxb, sxt, SEG, NSEG,
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
def scan_bwd(x0, x1, x2, h0, lens, out, g_out, g_last, d0, d1, d2, dh0, aggA, aggB, T, H, sxb, sxt,
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
