"""One fused Triton kernel per time step for LSTM, GRU and Elman RNN, forward and backward.

The recurrent product ``h_in @ W_hh^T`` (and ``da @ W_hh`` backward) stays with cuBLAS; the kernel
does everything else of the step in one pass over registers — layer norm of the product (Ba et al.
2016, §3.1), gates, cell update, layer norm of the cell state, zoneout (Krueger et al. 2017, §2),
the recurrent-dropout mask for the next product (Gal & Ghahramani 2016, §4) — and saves the
activations the backward needs. ``FusedSequence`` (``ops/fused_rnn.py``) drives it over time.
Each program takes ``BB`` batch rows and the whole hidden vector (a layer norm needs the full row).

Importing this module imports triton; ``layers/fused_backends.py`` does so only on demand.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from rnnkit.ops.fused_rnn import Grads, Sequence
from rnnkit.ops.triton_cells import (
    gru_point_bwd,
    gru_point_fwd,
    ln4_bwd,
    ln4_fwd,
    load_row,
    load_tile,
    lstm_point_bwd,
    lstm_point_fwd,
    rnn_point_bwd,
    rnn_point_fwd,
    store_tile,
)

MAX_HIDDEN = 2048  # a row of 4H float32 gates per program: beyond this the tiles spill heavily


@triton.jit
def cell_fwd(s0, s1, s2, s3, xp, hp, cp, mask_ptr, zh_ptr, zc_ptr, ln_w, ln_b, lnc_w, lnc_b, b_hh,
             h_out, c_out, hin_out, acts, ahat, stats, rb, rh, cm, mk, B, H, eps,
             KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr, LNC: tl.constexpr, MASK: tl.constexpr,
             ZONE: tl.constexpr, BIAS: tl.constexpr):
    """One step from the recurrent product tiles ``s`` and the previous state tiles ``hp``, ``cp``;
    stores the new state and the saved activations (pointers already at step t) and returns
    (h, c, h_in) for the next step. KIND: 0 LSTM, 1 GRU, 2 RNN. ZONE: zoneout masks given."""
    K: tl.constexpr = 4 if KIND == 0 else (3 if KIND == 1 else 1)
    A: tl.constexpr = 5 if KIND == 0 else (4 if KIND == 1 else 1)
    G = K * H
    AH = A * H
    if LN:
        n0, n1, n2, n3, rs = ln4_fwd(s0, s1, s2, s3, cm, G, eps, K)
        tl.store(stats + rb * 4, rs, mask=rb < B)
        store_tile(ahat, rb, rh, G, 0, mk, n0)
        s0 = n0 * load_row(ln_w, rh, 0, cm) + load_row(ln_b, rh, 0, cm)
        if K > 1:
            store_tile(ahat, rb, rh, G, H, mk, n1)
            store_tile(ahat, rb, rh, G, 2 * H, mk, n2)
            s1 = n1 * load_row(ln_w, rh, H, cm) + load_row(ln_b, rh, H, cm)
            s2 = n2 * load_row(ln_w, rh, 2 * H, cm) + load_row(ln_b, rh, 2 * H, cm)
        if K > 3:
            store_tile(ahat, rb, rh, G, 3 * H, mk, n3)
            s3 = n3 * load_row(ln_w, rh, 3 * H, cm) + load_row(ln_b, rh, 3 * H, cm)
    zh = 0.0
    if ZONE:
        zh = load_tile(zh_ptr, rb, rh, H, 0, mk)
    cz = hp * 0.0
    if KIND == 0:
        zc = 0.0
        if ZONE:
            zc = load_tile(zc_ptr, rb, rh, H, 0, mk)
        wc = 0.0
        bc = 0.0
        if LNC:
            wc = load_row(lnc_w, rh, 0, cm)
            bc = load_row(lnc_b, rh, 0, cm)
        i, f, g, o, c, mu, rsc, h, cz = lstm_point_fwd(
            load_tile(xp, rb, rh, G, 0, mk) + s0, load_tile(xp, rb, rh, G, H, mk) + s1,
            load_tile(xp, rb, rh, G, 2 * H, mk) + s2, load_tile(xp, rb, rh, G, 3 * H, mk) + s3,
            cp, hp, zh, zc, wc, bc, cm, H, eps, LNC, ZONE)
        store_tile(acts, rb, rh, AH, 0, mk, i)
        store_tile(acts, rb, rh, AH, H, mk, f)
        store_tile(acts, rb, rh, AH, 2 * H, mk, g)
        store_tile(acts, rb, rh, AH, 3 * H, mk, o)
        store_tile(acts, rb, rh, AH, 4 * H, mk, c)
        store_tile(c_out, rb, rh, H, 0, mk, cz)
        if LNC:
            tl.store(stats + rb * 4 + 1, mu, mask=rb < B)
            tl.store(stats + rb * 4 + 2, rsc, mask=rb < B)
    elif KIND == 1:
        if BIAS:
            s0 += load_row(b_hh, rh, 0, cm)
            s1 += load_row(b_hh, rh, H, cm)
            s2 += load_row(b_hh, rh, 2 * H, cm)
        r, z, n, h = gru_point_fwd(load_tile(xp, rb, rh, G, 0, mk), load_tile(xp, rb, rh, G, H, mk),
                                   load_tile(xp, rb, rh, G, 2 * H, mk), s0, s1, s2, hp, zh, ZONE)
        store_tile(acts, rb, rh, AH, 0, mk, r)
        store_tile(acts, rb, rh, AH, H, mk, z)
        store_tile(acts, rb, rh, AH, 2 * H, mk, n)
        store_tile(acts, rb, rh, AH, 3 * H, mk, s2)
    else:
        hn, h = rnn_point_fwd(load_tile(xp, rb, rh, G, 0, mk) + s0, hp, zh, RELU, ZONE)
        store_tile(acts, rb, rh, AH, 0, mk, hn)
    store_tile(h_out, rb, rh, H, 0, mk, h)
    hin = h
    if MASK:
        hin = h * load_tile(mask_ptr, rb, rh, H, 0, mk)
    store_tile(hin_out, rb, rh, H, 0, mk, hin)
    return h, cz, hin


@triton.jit
def cell_bwd(dh, dc, hp, cp, acts, ahat, stats, zh_ptr, zc_ptr, ln_w, lnc_w, lnc_b, dxp, ds_ptr, da, dcn_ptr,
             rb, rh, cm, mk, B, H, KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr,
             LNC: tl.constexpr, ZONE: tl.constexpr):
    """The backward of ``cell_fwd`` from dL/dh_t (all of it) and dL/dc_t: stores dL/dxp_t, dL/ds_t,
    dL/da_t (and dL/dLN_c(c')) at step t and returns (da tiles, dL/dc_{t-1}, the direct part of
    dL/dh_{t-1})."""
    K: tl.constexpr = 4 if KIND == 0 else (3 if KIND == 1 else 1)
    A: tl.constexpr = 5 if KIND == 0 else (4 if KIND == 1 else 1)
    G = K * H
    AH = A * H
    zh = 0.0
    if ZONE:
        zh = load_tile(zh_ptr, rb, rh, H, 0, mk)
    dcp = dh * 0.0
    if KIND == 0:
        zc = 0.0
        if ZONE:
            zc = load_tile(zc_ptr, rb, rh, H, 0, mk)
        wc = 0.0
        bc = 0.0
        mu = tl.sum(dh * 0.0, 1)
        rsc = mu + 1.0
        if LNC:
            wc = load_row(lnc_w, rh, 0, cm)
            bc = load_row(lnc_b, rh, 0, cm)
            mu = tl.load(stats + rb * 4 + 1, mask=rb < B, other=0.0)
            rsc = tl.load(stats + rb * 4 + 2, mask=rb < B, other=1.0)
        d0, d1, d2, d3, dcp, keep, dcn = lstm_point_bwd(
            dh, dc, load_tile(acts, rb, rh, AH, 0, mk), load_tile(acts, rb, rh, AH, H, mk),
            load_tile(acts, rb, rh, AH, 2 * H, mk), load_tile(acts, rb, rh, AH, 3 * H, mk),
            load_tile(acts, rb, rh, AH, 4 * H, mk), cp, mu, rsc, zh, zc, wc, bc, cm, H, LNC, ZONE)
        if LNC:
            store_tile(dcn_ptr, rb, rh, H, 0, mk, dcn)
        store_tile(dxp, rb, rh, G, 3 * H, mk, d3)
        e0, e1, e2, e3 = d0, d1, d2, d3
    elif KIND == 1:
        d0, d1, d2, e2, keep = gru_point_bwd(
            dh, load_tile(acts, rb, rh, AH, 0, mk), load_tile(acts, rb, rh, AH, H, mk),
            load_tile(acts, rb, rh, AH, 2 * H, mk), load_tile(acts, rb, rh, AH, 3 * H, mk), hp, zh, ZONE)
        e0, e1, e3 = d0, d1, d0 * 0.0
        store_tile(ds_ptr, rb, rh, G, 0, mk, e0)
        store_tile(ds_ptr, rb, rh, G, H, mk, e1)
        store_tile(ds_ptr, rb, rh, G, 2 * H, mk, e2)
    else:
        d0, keep = rnn_point_bwd(dh, load_tile(acts, rb, rh, AH, 0, mk), zh, RELU, ZONE)
        e0 = d0
        e1 = d0 * 0.0
        d1, d2, e2, e3 = e1, e1, e1, e1
    store_tile(dxp, rb, rh, G, 0, mk, d0)
    if K > 1:
        store_tile(dxp, rb, rh, G, H, mk, d1)
        store_tile(dxp, rb, rh, G, 2 * H, mk, d2)
    if LN:
        n0 = load_tile(ahat, rb, rh, G, 0, mk)
        n1 = n0 * 0.0
        n2, n3 = n1, n1
        e0 *= load_row(ln_w, rh, 0, cm)
        if K > 1:
            n1 = load_tile(ahat, rb, rh, G, H, mk)
            n2 = load_tile(ahat, rb, rh, G, 2 * H, mk)
            e1 *= load_row(ln_w, rh, H, cm)
            e2 *= load_row(ln_w, rh, 2 * H, cm)
        if K > 3:
            n3 = load_tile(ahat, rb, rh, G, 3 * H, mk)
            e3 *= load_row(ln_w, rh, 3 * H, cm)
        rs = tl.load(stats + rb * 4, mask=rb < B, other=1.0)
        e0, e1, e2, e3 = ln4_bwd(e0, e1, e2, e3, n0, n1, n2, n3, rs, cm, G, K)
    store_tile(da, rb, rh, G, 0, mk, e0)
    if K > 1:
        store_tile(da, rb, rh, G, H, mk, e1)
        store_tile(da, rb, rh, G, 2 * H, mk, e2)
    if K > 3:
        store_tile(da, rb, rh, G, 3 * H, mk, e3)
    return e0, e1, e2, e3, dcp, keep


@triton.jit
def _step_fwd(xp, a, hp_ptr, cp_ptr, mask_ptr, zh_ptr, zc_ptr, ln_w, ln_b, lnc_w, lnc_b, b_hh,
              h_out, c_out, hin_out, acts, ahat, stats, B, H, eps,
              KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr, LNC: tl.constexpr, MASK: tl.constexpr,
              ZONE: tl.constexpr, BIAS: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr):
    K: tl.constexpr = 4 if KIND == 0 else (3 if KIND == 1 else 1)
    rb = tl.program_id(0) * BB + tl.arange(0, BB)
    rh = tl.arange(0, BH)
    cm = rh < H
    mk = (rb < B)[:, None] & cm[None, :]
    G = K * H
    s0 = load_tile(a, rb, rh, G, 0, mk)
    s1 = s0 * 0.0
    s2, s3 = s1, s1
    if K > 1:
        s1 = load_tile(a, rb, rh, G, H, mk)
        s2 = load_tile(a, rb, rh, G, 2 * H, mk)
    if K > 3:
        s3 = load_tile(a, rb, rh, G, 3 * H, mk)
    hp = load_tile(hp_ptr, rb, rh, H, 0, mk)
    cp = hp * 0.0
    if KIND == 0:
        cp = load_tile(cp_ptr, rb, rh, H, 0, mk)
    cell_fwd(s0, s1, s2, s3, xp, hp, cp, mask_ptr, zh_ptr, zc_ptr, ln_w, ln_b, lnc_w, lnc_b, b_hh,
             h_out, c_out, hin_out, acts, ahat, stats, rb, rh, cm, mk, B, H, eps,
             KIND, RELU, LN, LNC, MASK, ZONE, BIAS)


@triton.jit
def _step_bwd(dy, dcy, dhin_ptr, mask_ptr, dh_ptr, dc_ptr, acts, ahat, stats, hp_ptr, cp_ptr, zh_ptr, zc_ptr,
              ln_w, lnc_w, lnc_b, dxp, ds_ptr, da, dcn_ptr, B, H,
              KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr, LNC: tl.constexpr, MASK: tl.constexpr,
              ZONE: tl.constexpr, DCY: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr):
    rb = tl.program_id(0) * BB + tl.arange(0, BB)
    rh = tl.arange(0, BH)
    cm = rh < H
    mk = (rb < B)[:, None] & cm[None, :]
    dhin = load_tile(dhin_ptr, rb, rh, H, 0, mk)
    if MASK:
        dhin = dhin * load_tile(mask_ptr, rb, rh, H, 0, mk)
    dh = load_tile(dy, rb, rh, H, 0, mk) + load_tile(dh_ptr, rb, rh, H, 0, mk) + dhin
    hp = load_tile(hp_ptr, rb, rh, H, 0, mk)
    dc = dh * 0.0
    cp = dc
    if KIND == 0:
        cp = load_tile(cp_ptr, rb, rh, H, 0, mk)
        dc = load_tile(dc_ptr, rb, rh, H, 0, mk)
        if DCY:
            dc += load_tile(dcy, rb, rh, H, 0, mk)
    e0, e1, e2, e3, dcp, keep = cell_bwd(
        dh, dc, hp, cp, acts, ahat, stats, zh_ptr, zc_ptr, ln_w, lnc_w, lnc_b, dxp, ds_ptr, da, dcn_ptr,
        rb, rh, cm, mk, B, H, KIND, RELU, LN, LNC, ZONE)
    store_tile(dh_ptr, rb, rh, H, 0, mk, keep)
    if KIND == 0:
        store_tile(dc_ptr, rb, rh, H, 0, mk, dcp)


_KIND = {"lstm": 0, "gru": 1, "rnn": 2}


def block_sizes(B: int, H: int) -> tuple[int, int, int]:
    """(BB, BH, num_warps): the whole hidden vector per program and about 1024 units per gate tile,
    so a large hidden size gets one row per program and as many programs as rows (a guess to tune
    on a GPU: the step is memory-bound and wants many programs in flight)."""
    BH = triton.next_power_of_2(H)
    BB = max(1, min(triton.next_power_of_2(B), 1024 // BH))
    return BB, BH, 4 if BH * BB <= 1024 else 8


class TritonStepEngine:
    """``StepEngine`` with one Triton kernel per step (``_step_fwd`` / ``_step_bwd``)."""

    def _common(self, seq: Sequence, t: int) -> tuple[dict, tuple]:
        T, B, H = seq.shape
        z = seq.zoneout
        zh = zc = None
        if z is not None:
            zh = z[0][t]
            zc = z[1][t] if z[1] is not None else None
        BB, BH, warps = block_sizes(B, H)
        flags = dict(KIND=_KIND[seq.kind], RELU=seq.nonlinearity == "relu", LN=seq.ln is not None,
                     LNC=seq.ln_c is not None, MASK=seq.mask is not None, ZONE=z is not None, BB=BB, BH=BH,
                     num_warps=warps)
        return flags, (zh, zc, (triton.cdiv(B, BB),))

    def forward_step(self, seq: Sequence, t: int, a: Tensor) -> None:
        T, B, H = seq.shape
        flags, (zh, zc, grid) = self._common(seq, t)
        ln_w, ln_b = seq.ln if seq.ln is not None else (None, None)
        lnc_w, lnc_b = seq.ln_c if seq.ln_c is not None else (None, None)
        c = seq.c
        _step_fwd[grid](
            seq.xp[t], a, seq.h[t], None if c is None else c[t], seq.mask, zh, zc, ln_w, ln_b, lnc_w, lnc_b,
            seq.b_hh, seq.h[t + 1], None if c is None else c[t + 1], seq.hin[t + 1], seq.acts[t],
            None if seq.ahat is None else seq.ahat[t], seq.stats[t], B, H, seq.eps,
            BIAS=seq.b_hh is not None, **flags)

    def backward_step(self, seq: Sequence, g: Grads, t: int, dy: Tensor, dcy: Tensor | None) -> None:
        T, B, H = seq.shape
        flags, (zh, zc, grid) = self._common(seq, t)
        lnc_w, lnc_b = seq.ln_c if seq.ln_c is not None else (None, None)
        _step_bwd[grid](
            dy, dcy, g.dhin, seq.mask, g.dh, g.dc, seq.acts[t], None if seq.ahat is None else seq.ahat[t],
            seq.stats[t], seq.h[t], None if seq.c is None else seq.c[t], zh, zc,
            None if seq.ln is None else seq.ln[0], lnc_w, lnc_b, g.dxp[t], g.ds[t], g.da[t],
            None if g.dcn is None else g.dcn[t], B, H, DCY=dcy is not None, **flags)
