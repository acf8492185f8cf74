"""Triton device functions: the pointwise math of one LSTM / GRU / RNN step, forward and backward.

Shared by the per-step kernels (``triton_rnn.py``) and the persistent kernel
(``triton_persistent.py``), so both compute exactly the equations of ``ops/fused_rnn.py``. Each
works on (BB, BH) register tiles, one per gate; columns past ``H`` (``cm`` False) hold zeros and
are left out of every layer-norm statistic. All arithmetic is float32.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def sig(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    return 2.0 * sig(2.0 * x) - 1.0


@triton.jit
def load_tile(ptr, rows, cols, stride, off, mask):
    """Rows ``rows`` and columns ``off + cols`` of a row-major matrix, as float32."""
    return tl.load(ptr + rows[:, None] * stride + off + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def store_tile(ptr, rows, cols, stride, off, mask, value):
    tl.store(ptr + rows[:, None] * stride + off + cols[None, :], value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def load_row(ptr, cols, off, cm):
    """A (1, BH) slice of a vector (a layer-norm weight or a bias)."""
    return tl.load(ptr + off + cols, mask=cm, other=0.0).to(tl.float32)[None, :]


# --- layer norm over the G = k·H pre-activations (Ba et al. 2016, §3.1) ----------------------------

@triton.jit
def ln4_fwd(a0, a1, a2, a3, cm, n, eps, K: tl.constexpr):
    """(x̂ tiles, 1/σ) of the first K of four tiles taken as one row of ``n`` values."""
    cm2 = cm[None, :]
    mean = tl.sum(a0, 1)
    if K > 1:
        mean += tl.sum(a1, 1) + tl.sum(a2, 1)
    if K > 3:
        mean += tl.sum(a3, 1)
    mean = mean / n
    d0 = tl.where(cm2, a0 - mean[:, None], 0.0)
    d1 = tl.where(cm2, a1 - mean[:, None], 0.0)
    d2 = tl.where(cm2, a2 - mean[:, None], 0.0)
    d3 = tl.where(cm2, a3 - mean[:, None], 0.0)
    var = tl.sum(d0 * d0, 1)
    if K > 1:
        var += tl.sum(d1 * d1, 1) + tl.sum(d2 * d2, 1)
    if K > 3:
        var += tl.sum(d3 * d3, 1)
    rs = 1.0 / tl.sqrt(var / n + eps)
    r2 = rs[:, None]
    return d0 * r2, d1 * r2, d2 * r2, d3 * r2, rs


@triton.jit
def ln4_bwd(e0, e1, e2, e3, n0, n1, n2, n3, rs, cm, n, K: tl.constexpr):
    """dL/da from dL/dx̂ = e: rs (e - mean(e) - x̂ mean(e x̂)) over the first K tiles."""
    m1 = tl.sum(e0, 1)
    m2 = tl.sum(e0 * n0, 1)
    if K > 1:
        m1 += tl.sum(e1, 1) + tl.sum(e2, 1)
        m2 += tl.sum(e1 * n1, 1) + tl.sum(e2 * n2, 1)
    if K > 3:
        m1 += tl.sum(e3, 1)
        m2 += tl.sum(e3 * n3, 1)
    m1 = (m1 / n)[:, None]
    m2 = (m2 / n)[:, None]
    r2 = rs[:, None]
    cm2 = cm[None, :]
    return (tl.where(cm2, r2 * (e0 - m1 - n0 * m2), 0.0), tl.where(cm2, r2 * (e1 - m1 - n1 * m2), 0.0),
            tl.where(cm2, r2 * (e2 - m1 - n2 * m2), 0.0), tl.where(cm2, r2 * (e3 - m1 - n3 * m2), 0.0))


# --- LSTM (Hochreiter & Schmidhuber 1997; layer-norm cell state as Haste's LayerNormLSTM) ---------

@triton.jit
def lstm_point_fwd(x0, x1, x2, x3, cp, hp, zh, zc, wc, bc, cm, H, eps, LNC: tl.constexpr, ZONE: tl.constexpr):
    """Gates ``x`` (pre-activations), previous ``c``, ``h`` -> i, f, g, o, c', mean and 1/σ of c',
    and the new (zoned-out) h and c."""
    i = sig(x0)
    f = sig(x1)
    g = tanh(x2)
    o = sig(x3)
    c = f * cp + i * g
    if LNC:
        mu = tl.sum(c, 1) / H
        d = tl.where(cm[None, :], c - mu[:, None], 0.0)
        rs = 1.0 / tl.sqrt(tl.sum(d * d, 1) / H + eps)
        cn = d * rs[:, None] * wc + bc
    else:
        mu = tl.sum(c * 0.0, 1)
        rs = mu + 1.0
        cn = c
    hn = o * tanh(cn)
    if ZONE:
        h = hn + zh * (hp - hn)
        cz = c + zc * (cp - c)
    else:
        h = hn
        cz = c
    return i, f, g, o, c, mu, rs, h, cz


@triton.jit
def lstm_point_bwd(dh, dc, i, f, g, o, c, cp, mu, rs, zh, zc, wc, bc, cm, H,
                   LNC: tl.constexpr, ZONE: tl.constexpr):
    """dL/dh_t, dL/dc_t -> dL/d(gate pre-activations), dL/dc_{t-1}, the direct part of dL/dh_{t-1}
    (zoneout), and dL/d LN_c(c') (for the layer-norm weights)."""
    if ZONE:
        dhn = dh * (1.0 - zh)
        dh_keep = dh * zh
        dcx = dc * (1.0 - zc)
        dc_keep = dc * zc
    else:
        dhn = dh
        dh_keep = dh * 0.0
        dcx = dc
        dc_keep = dc * 0.0
    if LNC:
        chat = tl.where(cm[None, :], (c - mu[:, None]) * rs[:, None], 0.0)
        tc = tanh(chat * wc + bc)
        dcn = tl.where(cm[None, :], dhn * o * (1.0 - tc * tc), 0.0)
        e = dcn * wc
        m1 = (tl.sum(e, 1) / H)[:, None]
        m2 = (tl.sum(e * chat, 1) / H)[:, None]
        dcx += rs[:, None] * (e - m1 - chat * m2)
    else:
        tc = tanh(c)
        dcn = dhn * o * (1.0 - tc * tc)
        dcx += dcn
    dcp = dcx * f + dc_keep
    di = dcx * g * i * (1.0 - i)
    df = dcx * cp * f * (1.0 - f)
    dg = dcx * i * (1.0 - g * g)
    do = dhn * tc * o * (1.0 - o)
    return di, df, dg, do, dcp, dh_keep, dcn


# --- GRU (Cho et al. 2014, torch's n = tanh(x_n + r (W_hn h + b_hn))) and Elman RNN ---------------

@triton.jit
def gru_point_fwd(x0, x1, x2, s0, s1, s2, hp, zh, ZONE: tl.constexpr):
    """Input parts ``x`` and recurrent parts ``s`` (bias included) -> r, z, n, new h."""
    r = sig(x0 + s0)
    z = sig(x1 + s1)
    n = tanh(x2 + r * s2)
    hn = n + z * (hp - n)
    if ZONE:
        h = hn + zh * (hp - hn)
    else:
        h = hn
    return r, z, n, h


@triton.jit
def gru_point_bwd(dh, r, z, n, s2, hp, zh, ZONE: tl.constexpr):
    """-> dL/dx (3 tiles), dL/ds_n, the direct part of dL/dh_{t-1} (z and zoneout)."""
    if ZONE:
        dhn = dh * (1.0 - zh)
        keep = dh * zh
    else:
        dhn = dh
        keep = dh * 0.0
    keep += dhn * z
    dn = dhn * (1.0 - z) * (1.0 - n * n)
    dr = dn * s2 * r * (1.0 - r)
    dz = dhn * (hp - n) * z * (1.0 - z)
    return dr, dz, dn, dn * r, keep


@triton.jit
def rnn_point_fwd(x, hp, zh, RELU: tl.constexpr, ZONE: tl.constexpr):
    if RELU:
        hn = tl.maximum(x, 0.0)
    else:
        hn = tanh(x)
    if ZONE:
        h = hn + zh * (hp - hn)
    else:
        h = hn
    return hn, h


@triton.jit
def rnn_point_bwd(dh, hn, zh, RELU: tl.constexpr, ZONE: tl.constexpr):
    if ZONE:
        dhn = dh * (1.0 - zh)
        keep = dh * zh
    else:
        dhn = dh
        keep = dh * 0.0
    if RELU:
        dx = tl.where(hn > 0.0, dhn, 0.0)
    else:
        dx = dhn * (1.0 - hn * hn)
    return dx, keep
