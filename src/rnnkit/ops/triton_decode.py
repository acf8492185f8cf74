r"""Greedy decoding of a token LSTM in two Triton kernels per token, for CUDA graphs.

Replayed eagerly from a CUDA graph, greedy decoding at batch 1 still runs about 45 small kernels per
token (the embedding, each step's products and pointwise ops, the head, the log-softmax, the
arg-max, the bookkeeping, the state copies), and on an H200 they cost 54 µs per token for a 1-layer
H=512 LSTM (docs/BENCHMARKS.md). Here a token is ``L + 1`` launches:

* :func:`_lstm_layer` (one per layer): program ``(j, b)`` computes hidden units ``j·BU .. j·BU+BU``
  of batch row ``b`` — the four gate rows of ``W_ih x + W_hh h + b`` as matrix-vector products over
  blocks of ``BK`` columns, then ``c' = f c + i g``, ``h' = o tanh(c')`` — reading the layer's input
  (the embedding row of the fed token for layer 0, the layer below's new ``h`` above it) and the
  layer's old state, writing its new state to other buffers (other programs still read the old);
* :func:`_head_choose` (one program): the head ``W h + b`` over the vocabulary in blocks, an online
  maximum, arg-max (the lowest index among ties, as ``torch.argmax``) and log-sum-exp, then the
  bookkeeping of ``decoding/greedy.py`` (a finished row is fed ``eos``, outputs ``PAD_ID`` and adds
  nothing to its score; the length counts the eos), the new state copied over the old, and ``t + 1``.

Everything lives in static buffers, so ``decoding/fused_greedy.py`` captures ``k`` tokens in one CUDA
graph. Sums run in another order than torch's, so a near-tie between two tokens may break the other
way (as in the C++ loop of ``ops/cpu_stream.py``). With ``TRITON_INTERPRET=1`` the kernels run on CPU
tensors, which the tests use.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from rnnkit.ops.triton_cells import sig, tanh


@triton.jit
def _gate_dot(acc, w, rows, rm, x, rk, km, K):
    """``acc += W[rows, rk] @ x[rk]`` for one block of columns."""
    tile = tl.load(w + rows[:, None] * K + rk[None, :], mask=rm[:, None] & km[None, :], other=0.0).to(tl.float32)
    return acc + tl.sum(tile * x[None, :], 1)


@triton.jit
def _gates_dot(a0, a1, a2, a3, w, ru, um, x, rk, km, K, H):
    """The four gates' ``W[g·H + ru, rk] @ x[rk]``, added to their accumulators."""
    a0 = _gate_dot(a0, w, ru, um, x, rk, km, K)
    a1 = _gate_dot(a1, w, H + ru, um, x, rk, km, K)
    a2 = _gate_dot(a2, w, 2 * H + ru, um, x, rk, km, K)
    a3 = _gate_dot(a3, w, 3 * H + ru, um, x, rk, km, K)
    return a0, a1, a2, a3


@triton.jit
def _lstm_layer(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H,
                FROM_TOKENS: tl.constexpr, HAS_BIAS: tl.constexpr, BU: tl.constexpr, BK: tl.constexpr):
    j = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    ru = j * BU + tl.arange(0, BU)
    um = ru < H
    if FROM_TOKENS:
        xrow = x_src + tl.load(tok + b) * I  # the embedding row of the token fed
    else:
        xrow = x_src + b * I  # the layer below's new h
    a0 = tl.zeros([BU], dtype=tl.float32)
    a1 = tl.zeros([BU], dtype=tl.float32)
    a2 = tl.zeros([BU], dtype=tl.float32)
    a3 = tl.zeros([BU], dtype=tl.float32)
    for k0 in range(0, I, BK):
        rk = k0 + tl.arange(0, BK)
        km = rk < I
        x = tl.load(xrow + rk, mask=km, other=0.0).to(tl.float32)
        a0, a1, a2, a3 = _gates_dot(a0, a1, a2, a3, w_ih, ru, um, x, rk, km, I, H)
    hrow = h_in + b * H
    for k0 in range(0, H, BK):
        rk = k0 + tl.arange(0, BK)
        km = rk < H
        hv = tl.load(hrow + rk, mask=km, other=0.0).to(tl.float32)
        a0, a1, a2, a3 = _gates_dot(a0, a1, a2, a3, w_hh, ru, um, hv, rk, km, H, H)
    if HAS_BIAS:  # b_ih + b_hh, summed once per decode
        a0 += tl.load(bias + ru, mask=um, other=0.0).to(tl.float32)
        a1 += tl.load(bias + H + ru, mask=um, other=0.0).to(tl.float32)
        a2 += tl.load(bias + 2 * H + ru, mask=um, other=0.0).to(tl.float32)
        a3 += tl.load(bias + 3 * H + ru, mask=um, other=0.0).to(tl.float32)
    c = sig(a1) * tl.load(c_in + b * H + ru, mask=um, other=0.0).to(tl.float32) + sig(a0) * tanh(a2)
    h = sig(a3) * tanh(c)
    tl.store(c_out + b * H + ru, c.to(c_out.dtype.element_ty), mask=um)
    tl.store(h_out + b * H + ru, h.to(h_out.dtype.element_ty), mask=um)


@triton.jit
def _head_choose(h_top, w_head, b_head, tokens, finished, lengths, scores, out, t_ptr,
                 h_in, c_in, h_out, c_out, B, V, H, N_STATE, OUT_COLS, max_length, eos, pad,
                 HAS_BIAS: tl.constexpr, BV: tl.constexpr, BK: tl.constexpr, BS: tl.constexpr):
    t = tl.load(t_ptr)
    for b in range(0, B):
        best = -float("inf")
        best_i = 0
        m = -float("inf")
        s = 0.0
        for v0 in range(0, V, BV):
            rv = v0 + tl.arange(0, BV)
            vm = rv < V
            acc = tl.zeros([BV], dtype=tl.float32)
            for k0 in range(0, H, BK):
                rk = k0 + tl.arange(0, BK)
                km = rk < H
                hv = tl.load(h_top + b * H + rk, mask=km, other=0.0).to(tl.float32)
                acc = _gate_dot(acc, w_head, rv, vm, hv, rk, km, H)
            if HAS_BIAS:
                acc += tl.load(b_head + rv, mask=vm, other=0.0).to(tl.float32)
            acc = tl.where(vm, acc, -float("inf"))
            blk_max = tl.max(acc, 0)
            blk_i = tl.argmax(acc, 0, tie_break_left=True) + v0
            better = blk_max > best  # strictly: an earlier block keeps a tie
            best_i = tl.where(better, blk_i, best_i)
            best = tl.maximum(best, blk_max)
            m_new = tl.maximum(m, blk_max)
            s = s * tl.exp(m - m_new) + tl.sum(tl.exp(acc - m_new), 0)
            m = m_new
        lp = best - (m + tl.log(s))  # the log-prob of the arg-max
        fin = tl.load(finished + b)
        live = (fin == 0) & (t < max_length)
        tl.store(scores + b, tl.load(scores + b) + tl.where(live, lp, 0.0))
        tl.store(out + b * OUT_COLS + t, tl.where(live, best_i, pad).to(tl.int64))
        ends = live & (best_i == eos)
        tl.store(lengths + b, tl.where(ends, t + 1, tl.load(lengths + b)))
        done = (fin != 0) | ends
        tl.store(finished + b, done.to(tl.int8))
        tl.store(tokens + b, tl.where(done, eos, best_i).to(tl.int64))
    for i0 in range(0, N_STATE, BS):  # the new state becomes the state the next token reads
        ri = i0 + tl.arange(0, BS)
        sm = ri < N_STATE
        tl.store(h_in + ri, tl.load(h_out + ri, mask=sm), mask=sm)
        tl.store(c_in + ri, tl.load(c_out + ri, mask=sm), mask=sm)
    tl.store(t_ptr, t + 1)


# Tile sizes: hidden units per program and columns per block of the layer kernel, vocabulary rows and
# columns per block of the head (not yet tuned on a GPU; the tests shrink them to cross every block edge).
TILES = {"bu": 8, "bk": 128, "bv": 128, "head_bk": 128}


def layer_step(x_src: Tensor, tok: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor | None, h_in: Tensor,
               c_in: Tensor, h_out: Tensor, c_out: Tensor, *, from_tokens: bool, bu: int, bk: int) -> None:
    """One LSTM layer's step for every batch row (grid: hidden blocks x batch); tiles as in ``TILES``."""
    B, H = h_in.shape
    I = w_ih.shape[1]
    _lstm_layer[(triton.cdiv(H, bu), B)](x_src, tok, w_ih, w_hh, bias if bias is not None else w_hh, h_in, c_in,
                                         h_out, c_out, I, H, FROM_TOKENS=from_tokens, HAS_BIAS=bias is not None,
                                         BU=bu, BK=bk)


def head_choose(h_top: Tensor, w_head: Tensor, b_head: Tensor | None, tokens: Tensor, finished: Tensor,
                lengths: Tensor, scores: Tensor, out: Tensor, t: Tensor, h_in: Tensor, c_in: Tensor,
                h_out: Tensor, c_out: Tensor, *, max_length: int, eos: int, pad: int, bv: int, bk: int,
                bs: int = 1024) -> None:
    """The head, the arg-max and the bookkeeping of one token, in one program; tiles as in ``TILES``."""
    B, H = h_top.shape
    V = w_head.shape[0]
    _head_choose[(1,)](h_top, w_head, b_head if b_head is not None else w_head, tokens, finished, lengths, scores,
                       out, t, h_in, c_in, h_out, c_out, B, V, H, h_in.numel(), out.shape[1], max_length, eos, pad,
                       HAS_BIAS=b_head is not None, BV=bv, BK=bk, BS=bs)
