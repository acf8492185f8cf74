r"""Greedy decoding of a token LSTM in ``L`` (or ``L + 1``) Triton kernels per token, for CUDA graphs.

Replayed eagerly from a CUDA graph, greedy decoding at batch 1 still runs about 45 small kernels per
token (the embedding, each step's products and pointwise ops, the head, the log-softmax, the
arg-max, the bookkeeping, the state copies), and on an H200 they cost 54 µs per token for a 1-layer
H=512 LSTM (docs/BENCHMARKS.md). Here a token is ``L`` launches, or ``L + 1`` with a separate head:

* :func:`_lstm_layer` (each layer below the top): program ``(j, b)`` computes hidden units
  ``j·BU .. j·BU+BU`` of batch row ``b`` — the four gate rows of ``W_ih x + W_hh h + b`` as
  matrix-vector products over blocks of ``BK`` columns, then ``c' = f c + i g``, ``h' = o tanh(c')``
  — reading the layer's input (the embedding row of the fed token for layer 0, the layer below's new
  ``h`` above it) and the layer's old state, writing its new state to other buffers (other programs
  still read the old);
* :func:`_lstm_top` (the top layer, with the head fused in): the same, and then each program's share
  of the head, ``W[:, units] h[units]`` for the whole vocabulary, written to a buffer of partial
  logits. Every program then takes a ticket from a counter (an atomic add); the program that draws
  the last ticket — every other program has written its share by then — sums the shares in a fixed
  order (so the result does not depend on which program came last) and does what :func:`_head_choose`
  does. Nothing waits on anything, so there is no grid-wide barrier and no deadlock, in Triton's
  interpreter too (which runs the programs one after another). The release and acquire follow
  CUTLASS's semaphore: a CTA barrier, then one thread's acquire-release atomic at GPU scope; the last
  program reads the shares past L1 (``.cg``);
* :func:`_head_choose` (``fused_head`` off: one program after the top layer): the head ``W h + b``
  over the vocabulary in blocks, an online maximum, arg-max (the lowest index among ties, as
  ``torch.argmax``) and log-sum-exp, then the bookkeeping of ``decoding/greedy.py`` (a finished row is
  fed ``eos``, outputs ``PAD_ID`` and adds nothing to its score; the length counts the eos), the new
  state copied over the old, and ``t + 1``.

Everything lives in static buffers, so ``decoding/fused_greedy.py`` captures ``k`` tokens in one CUDA
graph. Sums run in another order than torch's, so a near-tie between two tokens may break the other
way (as in the C++ loop of ``ops/cpu_stream.py``). With ``TRITON_INTERPRET=1`` the kernels run on CPU
tensors, which the tests use.
"""

from __future__ import annotations

import os
from typing import Any

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
def _lstm_units(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H, j, b,
                FROM_TOKENS: tl.constexpr, HAS_BIAS: tl.constexpr, BU: tl.constexpr, BK: tl.constexpr):
    """Hidden units ``j·BU ..`` of batch row ``b``: their new ``h`` and ``c`` stored; returns ``h``
    (float32) and the units' indices and mask."""
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
    return h, ru, um


@triton.jit
def _lstm_layer(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H,
                FROM_TOKENS: tl.constexpr, HAS_BIAS: tl.constexpr, BU: tl.constexpr, BK: tl.constexpr):
    _lstm_units(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H, tl.program_id(0),
                tl.program_id(1).to(tl.int64), FROM_TOKENS, HAS_BIAS, BU, BK)


@triton.jit
def _choose_row(b, best, best_i, m, s, t, tokens, finished, lengths, scores, out, OUT_COLS, max_length, eos, pad):
    """Row ``b``'s bookkeeping for its arg-max ``best_i`` (logit ``best``; log-sum-exp ``m + log s``)."""
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


@triton.jit
def _online_max(acc, v0, best, best_i, m, s):
    """One block of logits (``-inf`` outside the vocabulary) folded into the running arg-max and
    log-sum-exp; an earlier block keeps a tie."""
    blk_max = tl.max(acc, 0)
    blk_i = tl.argmax(acc, 0, tie_break_left=True) + v0
    better = blk_max > best
    best_i = tl.where(better, blk_i, best_i)
    best = tl.maximum(best, blk_max)
    m_new = tl.maximum(m, blk_max)
    s = s * tl.exp(m - m_new) + tl.sum(tl.exp(acc - m_new), 0)
    return best, best_i, m_new, s


@triton.jit
def _swap_state(h_in, c_in, h_out, c_out, N_STATE, BS: tl.constexpr):
    """The new state becomes the state the next token reads (read past L1: other programs wrote it)."""
    for i0 in range(0, N_STATE, BS):
        ri = i0 + tl.arange(0, BS)
        sm = ri < N_STATE
        tl.store(h_in + ri, tl.load(h_out + ri, mask=sm, cache_modifier=".cg"), mask=sm)
        tl.store(c_in + ri, tl.load(c_out + ri, mask=sm, cache_modifier=".cg"), mask=sm)


@triton.jit
def _choose_rows(h_top, w_head, b_head, part, nj, tokens, finished, lengths, scores, out, t, B, V, H, OUT_COLS,
                 max_length, eos, pad, HAS_BIAS: tl.constexpr, SHARES: tl.constexpr, BV: tl.constexpr,
                 BK: tl.constexpr, NJ: tl.constexpr):
    """Every row's logits over the vocabulary in blocks — ``W h + b`` from the top layer's new ``h``,
    or (``SHARES``) the sum of the ``nj`` programs' partial logits in ``part`` (read past L1) plus
    ``b`` — folded into the arg-max and log-sum-exp, then the row's bookkeeping (:func:`_choose_row`)."""
    for b in range(0, B):
        best = -float("inf")
        best_i = 0
        m = -float("inf")
        s = 0.0
        for v0 in range(0, V, BV):
            rv = v0 + tl.arange(0, BV)
            vm = rv < V
            if SHARES:
                rj = tl.arange(0, NJ)
                shares = tl.load(part + (b * nj + rj[:, None]) * V + rv[None, :],
                                 mask=(rj < nj)[:, None] & vm[None, :], other=0.0, cache_modifier=".cg")
                acc = tl.sum(shares, 0)
            else:
                acc = tl.zeros([BV], dtype=tl.float32)
                for k0 in range(0, H, BK):
                    rk = k0 + tl.arange(0, BK)
                    km = rk < H
                    hv = tl.load(h_top + b * H + rk, mask=km, other=0.0).to(tl.float32)
                    acc = _gate_dot(acc, w_head, rv, vm, hv, rk, km, H)
            if HAS_BIAS:
                acc += tl.load(b_head + rv, mask=vm, other=0.0).to(tl.float32)
            acc = tl.where(vm, acc, -float("inf"))
            best, best_i, m, s = _online_max(acc, v0, best, best_i, m, s)
        _choose_row(b, best, best_i, m, s, t, tokens, finished, lengths, scores, out, OUT_COLS, max_length, eos,
                    pad)


@triton.jit
def _head_choose(h_top, w_head, b_head, tokens, finished, lengths, scores, out, t_ptr,
                 h_in, c_in, h_out, c_out, B, V, H, N_STATE, OUT_COLS, max_length, eos, pad,
                 HAS_BIAS: tl.constexpr, BV: tl.constexpr, BK: tl.constexpr, BS: tl.constexpr):
    t = tl.load(t_ptr)
    _choose_rows(h_top, w_head, b_head, h_top, 1, tokens, finished, lengths, scores, out, t, B, V, H, OUT_COLS,
                 max_length, eos, pad, HAS_BIAS, False, BV, BK, 1)
    _swap_state(h_in, c_in, h_out, c_out, N_STATE, BS)
    tl.store(t_ptr, t + 1)


@triton.jit
def _lstm_top(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H,
              w_head, b_head, part, count, finished, lengths, scores, out, t_ptr, all_h_in, all_c_in, all_h_out,
              all_c_out, B, V, N_STATE, OUT_COLS, max_length, eos, pad,
              FROM_TOKENS: tl.constexpr, HAS_BIAS: tl.constexpr, HEAD_BIAS: tl.constexpr, BU: tl.constexpr,
              BK: tl.constexpr, BV: tl.constexpr, NJ: tl.constexpr, BS: tl.constexpr):
    j = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    nj = tl.num_programs(0)
    h, ru, um = _lstm_units(x_src, tok, w_ih, w_hh, bias, h_in, c_in, h_out, c_out, I, H, j, b,
                            FROM_TOKENS, HAS_BIAS, BU, BK)
    for v0 in range(0, V, BV):  # this program's share of the head: W[:, units] @ h[units]
        rv = v0 + tl.arange(0, BV)
        vm = rv < V
        w = tl.load(w_head + rv[:, None] * H + ru[None, :], mask=vm[:, None] & um[None, :], other=0.0)
        tl.store(part + (b * nj + j) * V + rv, tl.sum(w.to(tl.float32) * h[None, :], 1), mask=vm)
    tl.debug_barrier()  # every thread's stores before the one thread's release
    ticket = tl.atomic_add(count, 1, sem="acq_rel", scope="gpu")
    if ticket == nj * tl.num_programs(1) - 1:  # the last program: every share is written
        tl.debug_barrier()
        t = tl.load(t_ptr)
        _choose_rows(h_out, w_head, b_head, part, nj, tok, finished, lengths, scores, out, t, B, V, H, OUT_COLS,
                     max_length, eos, pad, HEAD_BIAS, True, BV, BK, NJ)
        _swap_state(all_h_in, all_c_in, all_h_out, all_c_out, N_STATE, BS)
        tl.store(t_ptr, t + 1)
        tl.atomic_xchg(count, 0)  # ready for the next token's launch


# Tiles: hidden units per program and columns per block of the layer kernels; vocabulary rows and
# columns per block of the head; whether the head runs inside the top layer's kernel (``fused_head``,
# ``L`` launches per token, else ``L + 1``); tokens captured per CUDA graph (``per_graph``). The tests
# shrink the tiles to cross every block edge. ``RNNKIT_DECODE_TILES="bu,bk,bv,head_bk,fused_head,per_graph"``
# overrides them (benchmarks/gpu_long_checks.py times a few on a GPU).
FIELDS = ("bu", "bk", "bv", "head_bk", "fused_head", "per_graph")
DEFAULT_TILES = {"bu": 8, "bk": 128, "bv": 128, "head_bk": 128, "fused_head": 1, "per_graph": 16}


def tiles_from_env(env: str | None = None) -> dict[str, int]:
    """``DEFAULT_TILES``, or what ``RNNKIT_DECODE_TILES`` (or ``env``) says."""
    env = os.environ.get("RNNKIT_DECODE_TILES") if env is None else env
    if not env:
        return dict(DEFAULT_TILES)
    try:
        values = [int(v) for v in env.split(",")]
    except ValueError:
        values = []
    if len(values) != len(FIELDS):
        raise ValueError(f"RNNKIT_DECODE_TILES must be '{','.join(FIELDS)}' (integers), got {env!r}")
    tiles = dict(zip(FIELDS, values))
    for name in ("bu", "bk", "bv", "head_bk"):
        if tiles[name] < 1 or tiles[name] & (tiles[name] - 1):
            raise ValueError(f"RNNKIT_DECODE_TILES: {name} must be a power of 2, got {tiles[name]}")
    if tiles["fused_head"] not in (0, 1) or tiles["per_graph"] < 1:
        raise ValueError(f"RNNKIT_DECODE_TILES: fused_head must be 0 or 1 and per_graph at least 1, got {env!r}")
    return tiles


TILES = tiles_from_env()


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


def top_shares(H: int, bu: int) -> int:
    """How many programs (blocks of hidden units) share the top layer: the rows of the partial logits."""
    return triton.cdiv(H, bu)


def top_step(x_src: Tensor, tok: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor | None, h_in: Tensor,
             c_in: Tensor, h_out: Tensor, c_out: Tensor, *, w_head: Tensor, b_head: Tensor | None, part: Tensor,
             count: Tensor, finished: Tensor, lengths: Tensor, scores: Tensor, out: Tensor, t: Tensor,
             state: tuple[Tensor, Tensor, Tensor, Tensor], max_length: int, eos: int, pad: int, from_tokens: bool,
             bu: int, bk: int, bv: int, bs: int = 1024) -> None:
    """The top layer's step with the head, the arg-max and the bookkeeping fused in (``L`` launches per
    token). ``part``: float32 ``(B, top_shares(H, bu), V)``; ``count``: int32 ``(1,)``, zero; ``state``:
    every layer's ``(h_in, c_in, h_out, c_out)``, swapped by the last program; ``tok`` is both the
    token fed (layer 0) and where the next token goes."""
    B, H = h_in.shape
    I = w_ih.shape[1]
    V = w_head.shape[0]
    nj = top_shares(H, bu)
    if part.shape != (B, nj, V) or count.dtype.is_floating_point:
        raise ValueError(f"top_step: part must be (B, {nj}, V) and count an integer tensor")
    kw: dict[str, Any] = {"FROM_TOKENS": from_tokens, "HAS_BIAS": bias is not None, "HEAD_BIAS": b_head is not None,
                          "BU": bu, "BK": bk, "BV": min(bv, triton.next_power_of_2(V)),
                          "NJ": triton.next_power_of_2(nj), "BS": bs}
    _lstm_top[(nj, B)](x_src, tok, w_ih, w_hh, bias if bias is not None else w_hh, h_in, c_in, h_out, c_out, I, H,
                       w_head, b_head if b_head is not None else w_head, part, count, finished, lengths, scores, out,
                       t, *state, B, V, state[0].numel(), out.shape[1], max_length, eos, pad, **kw)
