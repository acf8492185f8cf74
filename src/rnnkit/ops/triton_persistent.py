"""A persistent Triton kernel: one launch runs every step of a sequence, forward or backward.

Each program owns ``BB`` batch rows and the whole hidden vector, so the steps of its rows depend on
nothing another program computes and no grid-wide barrier is needed (the scheme of Diamos et al.
2016, "Persistent RNNs", §3, with the batch — not the hidden units — split across programs).
``W_hh`` is loaded once into registers as one (H, H) tile per gate and reused at every step; the
state never leaves the chip between steps. That holds while ``W_hh`` fits: ``MAX_HIDDEN``.
The pointwise math is ``triton_rnn.cell_fwd`` / ``cell_bwd``, so both kernels save and read the same
buffers as the per-step engine and share ``FusedSequence``'s gradient bookkeeping.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from rnnkit.ops.fused_rnn import KINDS, Grads, Sequence
from rnnkit.ops.triton_cells import load_tile, store_tile
from rnnkit.ops.triton_rnn import _KIND, cell_bwd, cell_fwd

MAX_HIDDEN = 64  # K gate tiles of 64 x 64 float32 = 64 KiB of registers per program for an LSTM
BLOCK_B = 16  # tl.dot needs at least 16 rows


@triton.jit
def _w_tile(w, k, rh, cm, H, TRANS: tl.constexpr):
    """Gate k's (H, H) block of ``W_hh`` (G, H): transposed (j, n) for h W^T, else (n, j) for da W."""
    wm = cm[:, None] & cm[None, :]
    if TRANS:
        return tl.load(w + (k * H + rh[None, :]) * H + rh[:, None], mask=wm, other=0.0)
    return tl.load(w + (k * H + rh[:, None]) * H + rh[None, :], mask=wm, other=0.0)


@triton.jit
def _dot(x, tile, w, DOT_F32: tl.constexpr, PREC: tl.constexpr):
    """x (rounded to ``w``'s dtype) @ tile, float32 accumulation. DOT_F32 multiplies in float32
    (exact for bf16 values): Triton's interpreter gets bf16 products wrong."""
    x = x.to(w.dtype.element_ty)
    if DOT_F32:
        return tl.dot(x.to(tl.float32), tile, input_precision="ieee")
    return tl.dot(x, tile, input_precision=PREC)


@triton.jit
def _w_tiles(w, rh, cm, H, K: tl.constexpr, TRANS: tl.constexpr, DOT_F32: tl.constexpr):
    w0 = _w_tile(w, 0, rh, cm, H, TRANS)
    w1 = w0
    w2 = w0
    w3 = w0
    if K > 1:
        w1 = _w_tile(w, 1, rh, cm, H, TRANS)
        w2 = _w_tile(w, 2, rh, cm, H, TRANS)
    if K > 3:
        w3 = _w_tile(w, 3, rh, cm, H, TRANS)
    if DOT_F32:
        return w0.to(tl.float32), w1.to(tl.float32), w2.to(tl.float32), w3.to(tl.float32)
    return w0, w1, w2, w3


@triton.jit
def _persistent_fwd(xp, w, mask_ptr, zh_ptr, zc_ptr, ln_w, ln_b, lnc_w, lnc_b, b_hh,
                    h_seq, c_seq, hin_seq, acts, ahat, stats, T, B, H, eps,
                    KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr, LNC: tl.constexpr,
                    MASK: tl.constexpr, ZONE: tl.constexpr, BIAS: tl.constexpr, PREC: tl.constexpr,
                    DOT_F32: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr):
    K: tl.constexpr = 4 if KIND == 0 else (3 if KIND == 1 else 1)
    A: tl.constexpr = 5 if KIND == 0 else (4 if KIND == 1 else 1)
    rb = tl.program_id(0) * BB + tl.arange(0, BB)
    rh = tl.arange(0, BH)
    cm = rh < H
    mk = (rb < B)[:, None] & cm[None, :]
    G = K * H
    BHs = B * H
    w0, w1, w2, w3 = _w_tiles(w, rh, cm, H, K, True, DOT_F32)
    hp = load_tile(h_seq, rb, rh, H, 0, mk)
    cp = hp * 0.0
    if KIND == 0:
        cp = load_tile(c_seq, rb, rh, H, 0, mk)
    hin = load_tile(hin_seq, rb, rh, H, 0, mk)
    for t in range(T):
        s0 = _dot(hin, w0, w, DOT_F32, PREC)
        s1 = s0 * 0.0
        s2, s3 = s1, s1
        if K > 1:
            s1 = _dot(hin, w1, w, DOT_F32, PREC)
            s2 = _dot(hin, w2, w, DOT_F32, PREC)
        if K > 3:
            s3 = _dot(hin, w3, w, DOT_F32, PREC)
        hp, cp, hin = cell_fwd(
            s0, s1, s2, s3, xp + t * B * G, hp, cp, mask_ptr, zh_ptr + t * BHs, zc_ptr + t * BHs,
            ln_w, ln_b, lnc_w, lnc_b, b_hh, h_seq + (t + 1) * BHs, c_seq + (t + 1) * BHs,
            hin_seq + (t + 1) * BHs, acts + t * B * A * H, ahat + t * B * G, stats + t * B * 4,
            rb, rh, cm, mk, B, H, eps, KIND, RELU, LN, LNC, MASK, ZONE, BIAS)


@triton.jit
def _persistent_bwd(dy, dcy, w, mask_ptr, acts, ahat, stats, h_seq, c_seq, zh_ptr, zc_ptr, ln_w, lnc_w, lnc_b,
                    dxp, ds_ptr, da, dcn_ptr, dh_out, dc_out, dhin_out, T, B, H,
                    KIND: tl.constexpr, RELU: tl.constexpr, LN: tl.constexpr, LNC: tl.constexpr,
                    MASK: tl.constexpr, ZONE: tl.constexpr, DCY: tl.constexpr, PREC: tl.constexpr,
                    DOT_F32: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr):
    K: tl.constexpr = 4 if KIND == 0 else (3 if KIND == 1 else 1)
    A: tl.constexpr = 5 if KIND == 0 else (4 if KIND == 1 else 1)
    rb = tl.program_id(0) * BB + tl.arange(0, BB)
    rh = tl.arange(0, BH)
    cm = rh < H
    mk = (rb < B)[:, None] & cm[None, :]
    G = K * H
    BHs = B * H
    w0, w1, w2, w3 = _w_tiles(w, rh, cm, H, K, False, DOT_F32)
    m = 1.0
    if MASK:
        m = load_tile(mask_ptr, rb, rh, H, 0, mk)
    keep = tl.zeros([BB, BH], dtype=tl.float32)
    dc = keep
    dhin = keep
    for s in range(T):
        t = T - 1 - s
        dh = load_tile(dy + t * BHs, rb, rh, H, 0, mk) + keep + dhin * m
        hp = load_tile(h_seq + t * BHs, rb, rh, H, 0, mk)
        cp = hp * 0.0
        dct = dc
        if KIND == 0:
            cp = load_tile(c_seq + t * BHs, rb, rh, H, 0, mk)
            if DCY:
                dct = dc + load_tile(dcy + t * BHs, rb, rh, H, 0, mk)
        e0, e1, e2, e3, dc, keep = cell_bwd(
            dh, dct, hp, cp, acts + t * B * A * H, ahat + t * B * G, stats + t * B * 4, zh_ptr + t * BHs,
            zc_ptr + t * BHs, ln_w, lnc_w, lnc_b, dxp + t * B * G, ds_ptr + t * B * G, da + t * B * G,
            dcn_ptr + t * BHs, rb, rh, cm, mk, B, H, KIND, RELU, LN, LNC, ZONE)
        dhin = _dot(e0, w0, w, DOT_F32, PREC)
        if K > 1:
            dhin += _dot(e1, w1, w, DOT_F32, PREC) + _dot(e2, w2, w, DOT_F32, PREC)
        if K > 3:
            dhin += _dot(e3, w3, w, DOT_F32, PREC)
    store_tile(dh_out, rb, rh, H, 0, mk, keep)
    store_tile(dhin_out, rb, rh, H, 0, mk, dhin)
    if KIND == 0:
        store_tile(dc_out, rb, rh, H, 0, mk, dc)


def block_hidden(H: int) -> int:
    return max(16, triton.next_power_of_2(H))


class PersistentEngine:
    """An engine for ``FusedSequence`` whose ``forward_sequence`` / ``backward_sequence`` launch one
    persistent kernel each (``T`` steps, grid = batch tiles of ``BLOCK_B`` rows)."""

    def _flags(self, seq: Sequence) -> tuple[dict, tuple, tuple[Tensor, Tensor]]:
        T, B, H = seq.shape
        z = seq.zoneout
        dummy = seq.acts
        zh = zc = dummy
        if z is not None:
            zh = z[0]
            zc = z[1] if z[1] is not None else dummy
        prec = "tf32" if seq.w.dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32 else "ieee"
        flags = dict(KIND=_KIND[seq.kind], RELU=seq.nonlinearity == "relu", LN=seq.ln is not None,
                     LNC=seq.ln_c is not None, MASK=seq.mask is not None, ZONE=z is not None, PREC=prec,
                     DOT_F32=bool(triton.knobs.runtime.interpret),
                     BB=BLOCK_B, BH=block_hidden(H), num_warps=4 if H <= 32 else 8)
        return flags, (triton.cdiv(B, BLOCK_B),), (zh, zc)

    def forward_sequence(self, seq: Sequence) -> None:
        T, B, H = seq.shape
        flags, grid, (zh, zc) = self._flags(seq)
        d = seq.acts
        ln_w, ln_b = seq.ln if seq.ln is not None else (d, d)
        lnc_w, lnc_b = seq.ln_c if seq.ln_c is not None else (d, d)
        _persistent_fwd[grid](
            seq.xp, seq.w, d if seq.mask is None else seq.mask, zh, zc, ln_w, ln_b, lnc_w, lnc_b,
            d if seq.b_hh is None else seq.b_hh, seq.h, d if seq.c is None else seq.c, seq.hin, seq.acts,
            d if seq.ahat is None else seq.ahat, seq.stats, T, B, H, seq.eps,
            BIAS=seq.b_hh is not None, **flags)

    def backward_sequence(self, seq: Sequence, g: Grads, dh: Tensor, dc: Tensor | None) -> None:
        T, B, H = seq.shape
        flags, grid, (zh, zc) = self._flags(seq)
        d = seq.acts
        lnc_w, lnc_b = seq.ln_c if seq.ln_c is not None else (d, d)
        _persistent_bwd[grid](
            dh, d if dc is None else dc, seq.w, d if seq.mask is None else seq.mask, seq.acts,
            d if seq.ahat is None else seq.ahat, seq.stats, seq.h, d if seq.c is None else seq.c, zh, zc,
            d if seq.ln is None else seq.ln[0], lnc_w, lnc_b, g.dxp, g.ds, g.da, d if g.dcn is None else g.dcn,
            g.dh, d if g.dc is None else g.dc, g.dhin, T, B, H, DCY=dc is not None, **flags)


def persistent_reason(kind: str, hidden_size: int) -> str | None:
    """Why the persistent kernel cannot take this layer, or None."""
    if kind not in KINDS:
        return f"the persistent kernel computes rnn, lstm and gru, not {kind}"
    if hidden_size > MAX_HIDDEN:
        return (f"hidden_size {hidden_size} exceeds the persistent kernel's on-chip limit ({MAX_HIDDEN}: "
                f"W_hh is held in registers, one {MAX_HIDDEN}x{MAX_HIDDEN} tile per gate)")
    return None
