"""A whole recurrent sequence as one autograd op with a hand-written backward over time.

The driver below owns the time loop and the recurrent matrix products (``h_in @ W_hh^T`` forward,
``da @ W_hh`` backward, one ``dW_hh`` product for the whole sequence at the end); a *step engine*
does the pointwise work of one step — gates, layer norms, state update, zoneout — forward and
backward. Engines: ``cpu_rnn.TorchStepEngine`` (torch ops) and ``triton_rnn.TritonStepEngine``
(one fused Triton kernel per step). The forward saves the gate activations, so the backward never
replays the forward (as in cuDNN and Haste).

Equations (PyTorch gate order; ``xp`` = ``cell.project_input(x)``; ``m`` recurrent-dropout mask;
``LN`` optional; ``zh``, ``zc`` zoneout masks, 1 = keep the previous value):

    h_in = m ⊙ h_{t-1};  a = h_in W_hh^T;  s = LN_hh(a) (or a)
    LSTM: i,f,g,o = σ,σ,tanh,σ(xp_t + s); c' = f c_{t-1} + i g; h' = o tanh(LN_c(c'))
    GRU:  r,z = σ(xp_r + s_r + b_r), σ(xp_z + s_z + b_z); n = tanh(xp_n + r (s_n + b_n)); h' = n + z (h_{t-1} - n)
    RNN:  h' = φ(xp_t + s)
    h_t = h' + zh (h_{t-1} - h');  c_t = c' + zc (c_{t-1} - c')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

KINDS = {"lstm": 4, "gru": 3, "rnn": 1}  # gates per hidden unit
ACTS_PER_H = {"lstm": 5, "gru": 4, "rnn": 1}  # saved activations per hidden unit: ifgo c' | r z n s_n | h'


@dataclass
class Sequence:
    """Everything one direction of one layer needs, time-major; filled by the forward.

    Shapes: ``xp`` (T, B, G); ``w`` (G, H); ``h`` (T+1, B, H) with ``h[0] = h0``; ``c`` likewise
    (LSTM); ``hin`` (T+1, B, H) the masked ``h`` that enters the product, in ``w``'s dtype;
    ``acts`` (T, B, A·H); ``ahat`` (T, B, G) the normalised product (layer norm only); ``stats``
    (T, B, 4) = [1/σ of ``a``, mean and 1/σ of ``c'``, unused].
    """

    kind: str
    nonlinearity: str
    xp: Tensor
    w: Tensor
    b_hh: Tensor | None
    ln: tuple[Tensor, Tensor] | None
    ln_c: tuple[Tensor, Tensor] | None
    eps: float
    mask: Tensor | None
    zoneout: tuple[Tensor, Tensor | None] | None  # (zh, zc) keep-masks (T, B, H), training only
    h: Tensor
    c: Tensor | None
    hin: Tensor
    acts: Tensor
    ahat: Tensor | None
    stats: Tensor
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        T, B, G = self.xp.shape
        return T, B, G // KINDS[self.kind]


@dataclass
class Grads:
    """The backward's buffers: ``dxp`` (T, B, G), ``ds`` (T, B, G) the gradient of ``s`` (+ bias)
    (the same tensor as ``dxp`` except for GRU), ``da`` (T, B, G), ``dcn`` (T, B, H) the gradient of
    ``LN_c(c')`` (layer-norm LSTM); carried: ``dh`` the direct part of dL/dh_{t-1} (zoneout, GRU's
    z), ``dc`` dL/dc_{t-1}, ``dhin`` = da_{t+1} W_hh."""

    dxp: Tensor
    ds: Tensor
    da: Tensor
    dcn: Tensor | None
    dh: Tensor
    dc: Tensor | None
    dhin: Tensor
    sums: Tensor | None = None  # an engine's running (Σ ds, Σ ds x̂, Σ dcn, Σ dcn ĉ), float64, if it keeps them


class StepEngine(Protocol):
    """The pointwise part of one step; ``a`` (B, G) is ``hin[t] @ w.T``. An engine may also offer
    ``forward_sequence(seq)`` and ``backward_sequence(seq, grads, dh, dc)`` that do every step and
    product at once (a persistent kernel); the driver then calls those instead of its loop."""

    def forward_step(self, seq: Sequence, t: int, a: Tensor) -> None: ...

    def backward_step(self, seq: Sequence, g: Grads, t: int, dy: Tensor, dcy: Tensor | None) -> None: ...


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """State and activations are kept in float32 for half types, else in the input's own dtype."""
    return torch.promote_types(dtype, torch.float32)


def _run_forward(engine: StepEngine, seq: Sequence) -> None:
    T, B, H = seq.shape
    a = seq.xp.new_empty(B, seq.w.shape[0], dtype=seq.w.dtype)
    wt = seq.w.t()
    for t in range(T):
        torch.mm(seq.hin[t], wt, out=a)  # (B, G)
        engine.forward_step(seq, t, a)


class FusedSequence(torch.autograd.Function):
    """``(xp, h0, c0, w, b_hh, ln_w, ln_b, lnc_w, lnc_b) -> (h (T, B, H), c (T, B, H))`` for one
    direction; masks and options travel in ``cfg``. ``h`` and ``c`` are the per-step states (the
    caller picks the final state at each sequence's own length)."""

    @staticmethod
    def forward(ctx: Any, cfg: dict, xp: Tensor, h0: Tensor, c0: Tensor | None, w: Tensor, b_hh: Tensor | None,
                ln_w: Tensor | None, ln_b: Tensor | None, lnc_w: Tensor | None,
                lnc_b: Tensor | None) -> tuple[Tensor, Tensor]:
        seq = new_sequence(cfg, xp, h0, c0, w, b_hh, ln_w, ln_b, lnc_w, lnc_b)
        whole = getattr(cfg["engine"], "forward_sequence", None)  # a persistent kernel does all steps at once
        if whole is not None:
            whole(seq)
        else:
            _run_forward(cfg["engine"], seq)
        ctx.cfg, ctx.seq = cfg, seq
        ctx.c_given = c0 is not None
        h = seq.h[1:].to(xp.dtype)
        c = seq.c[1:].to(xp.dtype) if seq.c is not None else h.new_zeros(0)
        return h, c

    @staticmethod
    def backward(ctx: Any, dh_seq: Tensor, dc_seq: Tensor) -> tuple[Tensor | None, ...]:
        seq: Sequence = ctx.seq
        g = new_grads(seq)
        dh_seq = dh_seq.contiguous()
        dc_seq = dc_seq.contiguous()
        engine: StepEngine = ctx.cfg["engine"]
        T = seq.shape[0]
        dc_given = seq.c is not None and dc_seq.numel() > 0
        whole = getattr(engine, "backward_sequence", None)
        if whole is not None:
            whole(seq, g, dh_seq, dc_seq if dc_given else None)
            return (None, *finish_grads(seq, g, ctx.needs_input_grad[1:], ctx.c_given))
        for t in range(T - 1, -1, -1):
            engine.backward_step(seq, g, t, dh_seq[t], dc_seq[t] if dc_given else None)
            torch.mm(g.da[t].to(seq.w.dtype), seq.w, out=g.dhin)  # (B, H)
        return (None, *finish_grads(seq, g, ctx.needs_input_grad[1:], ctx.c_given))


def new_sequence(cfg: dict, xp: Tensor, h0: Tensor, c0: Tensor | None, w: Tensor, b_hh: Tensor | None,
                 ln_w: Tensor | None, ln_b: Tensor | None, lnc_w: Tensor | None, lnc_b: Tensor | None) -> Sequence:
    """Allocate the buffers of one direction and put the initial state in them."""
    kind = cfg["kind"]
    T, B, G = xp.shape
    H = G // KINDS[kind]
    acc = acc_dtype(xp.dtype)
    h = xp.new_empty(T + 1, B, H, dtype=acc)
    h[0] = h0
    c = None
    if kind == "lstm":
        c = xp.new_empty(T + 1, B, H, dtype=acc)
        c[0] = 0 if c0 is None else c0
    hin = xp.new_empty(T + 1, B, H, dtype=w.dtype)
    mask = cfg.get("mask")
    hin[0] = h0 if mask is None else h0 * mask
    layer_norm = ln_w is not None
    return Sequence(
        kind=kind, nonlinearity=cfg.get("nonlinearity", "tanh"), xp=xp, w=w, b_hh=b_hh,
        ln=(ln_w, ln_b) if layer_norm else None,  # type: ignore[arg-type]
        ln_c=(lnc_w, lnc_b) if lnc_w is not None else None,  # type: ignore[arg-type]
        eps=cfg.get("eps", 1e-5), mask=mask, zoneout=cfg.get("zoneout"), h=h, c=c, hin=hin,
        acts=xp.new_empty(T, B, ACTS_PER_H[kind] * H, dtype=acc),
        ahat=xp.new_empty(T, B, G, dtype=acc) if layer_norm else None,
        stats=xp.new_zeros(T, B, 4, dtype=acc))


def new_grads(seq: Sequence) -> Grads:
    T, B, H = seq.shape
    G = seq.xp.shape[2]
    acc = seq.acts.dtype
    dxp = seq.xp.new_empty(T, B, G, dtype=acc)
    return Grads(
        dxp=dxp, ds=seq.xp.new_empty(T, B, G, dtype=acc) if seq.kind == "gru" else dxp,
        da=seq.xp.new_empty(T, B, G, dtype=acc),
        dcn=seq.xp.new_empty(T, B, H, dtype=acc) if seq.ln_c is not None else None,
        dh=seq.xp.new_zeros(B, H, dtype=acc), dc=seq.xp.new_zeros(B, H, dtype=acc) if seq.c is not None else None,
        dhin=seq.xp.new_zeros(B, H, dtype=seq.w.dtype))


def finish_grads(seq: Sequence, g: Grads, needs: tuple[bool, ...], c_given: bool) -> tuple[Tensor | None, ...]:
    """The gradients of the inputs of ``FusedSequence`` once the time loop is done."""
    T, B, H = seq.shape
    G = seq.xp.shape[2]
    dhin = g.dhin.to(g.dh.dtype)
    dh0 = g.dh + (dhin if seq.mask is None else dhin * seq.mask)
    dc0 = g.dc if c_given else None
    dw = torch.mm(g.da.view(T * B, G).t(), seq.hin[:T].reshape(T * B, H).to(g.da.dtype)).to(seq.w.dtype)
    if g.sums is not None:
        ds_sum, ds_xhat, dcn_sum, dcn_chat = g.sums.split([G, G, H, H])
    else:
        ds_sum = g.ds.sum((0, 1))
        ds_xhat = (g.ds * seq.ahat).sum((0, 1)) if seq.ahat is not None else None
        if seq.ln_c is not None:
            c_new = seq.acts[..., 4 * H:]  # (T, B, H) c' before zoneout
            chat = (c_new - seq.stats[..., 1:2]) * seq.stats[..., 2:3]
            dcn_sum, dcn_chat = g.dcn.sum((0, 1)), (g.dcn * chat).sum((0, 1))  # type: ignore[union-attr, operator]
    db = ds_sum.to(seq.b_hh.dtype) if seq.b_hh is not None and needs[4] else None
    ln_w = ln_b = lnc_w = lnc_b = None
    if seq.ln is not None:
        ln_w, ln_b = ds_xhat.to(seq.ln[0].dtype), ds_sum.to(seq.ln[1].dtype)  # type: ignore[union-attr]
    if seq.ln_c is not None:
        lnc_w, lnc_b = dcn_chat.to(seq.ln_c[0].dtype), dcn_sum.to(seq.ln_c[1].dtype)
    dxp = g.dxp.to(seq.xp.dtype)
    return dxp, dh0.to(seq.xp.dtype), None if dc0 is None else dc0.to(seq.xp.dtype), dw, db, ln_w, ln_b, lnc_w, lnc_b
