"""The pointwise part of an LSTM / GRU / RNN step in torch ops, forward and hand-written backward.

Used by ``FusedSequence`` on the CPU (and wherever Triton is not available): with the input
projection hoisted and the gradient of ``W_hh`` computed as one product after the time loop, the
per-step work is a handful of in-place pointwise ops and no autograd graph (the generic loop
records ~20 autograd nodes per step). The equations are those of ``ops/fused_rnn.py``; layer norm
as Ba et al. 2016, §3.1 (``nn.LayerNorm`` over the G pre-activations, biased variance).
"""

from __future__ import annotations

from itertools import repeat

import torch
from torch import Tensor

from rnnkit.ops.fused_rnn import Grads, Sequence


def ln_forward(a: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x̂, mean, 1/σ) of ``a`` over its last dimension (biased variance, as ``nn.LayerNorm``)."""
    var, mean = torch.var_mean(a, -1, correction=0, keepdim=True)
    rs = torch.rsqrt(var + eps)
    return (a - mean) * rs, mean, rs


def ln_backward(dxhat: Tensor, xhat: Tensor, rs: Tensor) -> Tensor:
    """dL/da from dL/dx̂ (layer norm, Ba et al. 2016): rs (dx̂ - mean(dx̂) - x̂ mean(dx̂ x̂))."""
    m1 = dxhat.mean(-1, keepdim=True)
    m2 = (dxhat * xhat).mean(-1, keepdim=True)
    return rs * (dxhat - m1 - xhat * m2)


def _zone(seq: Sequence, t: int) -> tuple[Tensor, Tensor | None] | None:
    z = seq.zoneout
    if z is None:
        return None
    return z[0][t], None if z[1] is None else z[1][t]


class TorchStepEngine:
    """``StepEngine`` in torch ops (any device, any float dtype)."""

    def forward_step(self, seq: Sequence, t: int, a: Tensor) -> None:
        T, B, H = seq.shape
        s = a.to(seq.acts.dtype)
        if seq.ln is not None:
            ahat, _, rs = ln_forward(s, seq.eps)
            seq.ahat[t] = ahat  # type: ignore[index]
            seq.stats[t, :, 0:1] = rs
            s = torch.addcmul(seq.ln[1], ahat, seq.ln[0])
        acts = seq.acts[t]
        h_prev = seq.h[t]
        if seq.kind == "lstm":
            gates = acts[:, :4 * H]
            torch.add(seq.xp[t], s, out=gates)
            gates[:, :2 * H].sigmoid_()
            gates[:, 2 * H:3 * H].tanh_()
            gates[:, 3 * H:].sigmoid_()
            i, f, g, o = gates.chunk(4, 1)
            c_new = acts[:, 4 * H:]
            torch.addcmul(i * g, f, seq.c[t], out=c_new)  # type: ignore[index]
            cn = c_new
            if seq.ln_c is not None:
                chat, mean, rs = ln_forward(c_new, seq.eps)
                seq.stats[t, :, 1:2] = mean
                seq.stats[t, :, 2:3] = rs
                cn = torch.addcmul(seq.ln_c[1], chat, seq.ln_c[0])
            h_new = o * torch.tanh(cn)
        elif seq.kind == "gru":
            if seq.b_hh is not None:
                s = s + seq.b_hh
            xr, xz, xn = seq.xp[t].chunk(3, 1)
            sr, sz, sn = s.chunk(3, 1)
            r, z, n, sn_saved = acts.chunk(4, 1)
            torch.sigmoid(xr + sr, out=r)
            torch.sigmoid(xz + sz, out=z)
            torch.tanh(torch.addcmul(xn, r, sn), out=n)
            sn_saved.copy_(sn)
            h_new = torch.lerp(n, h_prev, z)  # n + z (h_prev - n)
        else:
            pre = seq.xp[t] + s
            h_new = torch.tanh(pre, out=acts) if seq.nonlinearity == "tanh" else torch.relu(pre)
            if seq.nonlinearity != "tanh":
                acts.copy_(h_new)
        zone = _zone(seq, t)
        if zone is None:
            seq.h[t + 1] = h_new
        else:
            torch.lerp(h_new, h_prev, zone[0], out=seq.h[t + 1])  # type: ignore[arg-type]
        if seq.c is not None:
            if zone is None:
                seq.c[t + 1] = c_new
            else:
                torch.lerp(c_new, seq.c[t], zone[1], out=seq.c[t + 1])  # type: ignore[arg-type]
        seq.hin[t + 1] = seq.h[t + 1] if seq.mask is None else seq.h[t + 1] * seq.mask

    def backward_step(self, seq: Sequence, g: Grads, t: int, dy: Tensor, dcy: Tensor | None) -> None:
        T, B, H = seq.shape
        dhin = g.dhin.to(g.dh.dtype)
        dh = g.dh + dy + (dhin if seq.mask is None else dhin * seq.mask)
        zone = _zone(seq, t)
        if zone is not None:
            dh_new = dh * (1 - zone[0])
            g.dh = dh * zone[0]
        else:
            dh_new, g.dh = dh, torch.zeros_like(dh)
        acts = seq.acts[t]
        if seq.kind == "lstm":
            i, f, gg, o, c_new = acts.chunk(5, 1)
            assert g.dc is not None and seq.c is not None
            dc: Tensor = g.dc if dcy is None else g.dc + dcy
            dc_keep: Tensor | None = None
            dc_new = dc
            if zone is not None and zone[1] is not None:
                dc_new, dc_keep = dc * (1 - zone[1]), dc * zone[1]
            if seq.ln_c is not None:
                chat = (c_new - seq.stats[t, :, 1:2]) * seq.stats[t, :, 2:3]
                tc = torch.tanh(torch.addcmul(seq.ln_c[1], chat, seq.ln_c[0]))
                dcn = dh_new * o * (1 - tc * tc)
                g.dcn[t] = dcn  # type: ignore[index]
                dc_new = dc_new + ln_backward(dcn * seq.ln_c[0], chat, seq.stats[t, :, 2:3])
            else:
                tc = torch.tanh(c_new)
                dc_new = dc_new + dh_new * o * (1 - tc * tc)
            g.dc = dc_new * f if dc_keep is None else torch.addcmul(dc_keep, dc_new, f)
            d = g.dxp[t]
            di, df, dg, do = d.chunk(4, 1)
            torch.mul(dc_new * gg, i * (1 - i), out=di)
            torch.mul(dc_new * seq.c[t], f * (1 - f), out=df)
            torch.mul(dc_new * i, 1 - gg * gg, out=dg)
            torch.mul(dh_new * tc, o * (1 - o), out=do)
        elif seq.kind == "gru":
            r, z, n, sn = acts.chunk(4, 1)
            h_prev = seq.h[t]
            g.dh = torch.addcmul(g.dh, dh_new, z)
            dn = dh_new * (1 - z) * (1 - n * n)
            dxr, dxz, dxn = g.dxp[t].chunk(3, 1)
            torch.mul(dn * sn, r * (1 - r), out=dxr)
            torch.mul(dh_new * (h_prev - n), z * (1 - z), out=dxz)
            dxn.copy_(dn)
            ds = g.ds[t]
            ds[:, :2 * H] = g.dxp[t, :, :2 * H]
            torch.mul(dn, r, out=ds[:, 2 * H:])
        else:
            h_new = acts
            deriv = 1 - h_new * h_new if seq.nonlinearity == "tanh" else (h_new > 0).to(h_new.dtype)
            torch.mul(dh_new, deriv, out=g.dxp[t])
        ds = g.ds[t]
        if seq.ln is not None:
            g.da[t] = ln_backward(ds * seq.ln[0], seq.ahat[t], seq.stats[t, :, 0:1])  # type: ignore[index]
        else:
            g.da[t] = ds


def _p(x: Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


class CppStepEngine:
    """``StepEngine`` calling the compiled kernels of ``ops/cpu_kernels.py`` (float32 / float64, CPU);
    one pass over each batch row per step, on the calling thread.
    The LSTM forward also saves ``tanh(LN_c(c'))`` so its backward needs no transcendental."""

    def __init__(self) -> None:
        from rnnkit.ops.cpu_kernels import load_library
        lib = load_library()
        if lib is None:
            raise RuntimeError("the fused CPU kernel is unavailable; see rnnkit.ops.cpu_kernels.unavailable_reason()")
        self.lib = lib

    def _fn(self, seq: Sequence, which: str):  # noqa: ANN202
        return getattr(self.lib, f"rnnkit_step_{which}_{'f64' if seq.acts.dtype == torch.float64 else 'f32'}")

    def _head(self, seq: Sequence) -> tuple[int, int, int, int, int]:
        T, B, H = seq.shape
        kind = {"lstm": 0, "gru": 1, "rnn": 2}[seq.kind]
        return kind, int(seq.nonlinearity == "relu"), int(seq.zoneout is not None), B, H

    def _fwd_args(self, seq: Sequence) -> list[tuple[tuple[int | float | None, ...], tuple[int | None, ...]]]:
        """Each step's kernel arguments before and after the address of ``a``, computed once per
        sequence by address arithmetic on its (T, ...) buffers instead of ~20 tensor views a step."""
        cached = seq.extra.get("cpp_fwd")
        if cached is not None:
            return cached
        T, B, H = seq.shape
        if seq.c is not None:  # tanh(LN_c(c')), saved for the backward
            seq.extra["tc"] = seq.acts.new_empty(T, B, H)
        head = (*self._head(seq), seq.eps)
        zh, zc = seq.zoneout or (None, None)
        ln_w, ln_b = seq.ln or (None, None)
        lnc_w, lnc_b = seq.ln_c or (None, None)
        c, tc, steps = seq.c, seq.extra.get("tc"), range(T)
        after = zip(_steps(seq.h, steps), _steps(c, steps), repeat(_p(seq.mask)), _steps(zh, steps),
                    _steps(zc, steps), repeat(_p(ln_w)), repeat(_p(ln_b)), repeat(_p(lnc_w)), repeat(_p(lnc_b)),
                    repeat(_p(seq.b_hh)), _steps(seq.h, steps, 1), _steps(c, steps, 1), _steps(seq.hin, steps, 1),
                    _steps(seq.acts, steps), _steps(seq.ahat, steps), _steps(seq.stats, steps), _steps(tc, steps))
        cached = seq.extra["cpp_fwd"] = [((*head, x), rest) for x, rest in zip(_steps(seq.xp, steps), after)]
        return cached

    def _bwd_args(self, seq: Sequence, g: Grads) -> list[tuple[tuple[int, ...], tuple[int | None, ...]]]:
        """Each step's backward kernel arguments before and after the incoming gradients of h and c,
        computed once per backward pass (``g``)."""
        cached = seq.extra.get("cpp_bwd")
        if cached is not None and cached[0] is g:
            return cached[1]
        T, B, H = seq.shape
        if g.sums is None:
            g.sums = seq.acts.new_zeros(2 * seq.xp.shape[2] + 2 * H, dtype=torch.float64)
        zh, zc = seq.zoneout or (None, None)
        c, tc, steps = seq.c, seq.extra.get("tc"), range(T)
        args: list[tuple[tuple[int, ...], tuple[int | None, ...]]] = list(zip(repeat(self._head(seq)), zip(
            repeat(_p(g.dhin)), repeat(_p(seq.mask)), repeat(_p(g.dh)), repeat(_p(g.dc)), _steps(seq.acts, steps),
            _steps(seq.ahat, steps), _steps(seq.stats, steps), _steps(seq.h, steps), _steps(c, steps),
            _steps(zh, steps), _steps(zc, steps), repeat(_p(None if seq.ln is None else seq.ln[0])),
            repeat(_p(None if seq.ln_c is None else seq.ln_c[0])), _steps(tc, steps), _steps(g.dxp, steps),
            _steps(g.ds, steps), _steps(g.da, steps), _steps(g.dcn, steps), repeat(_p(g.sums)))))
        seq.extra["cpp_bwd"] = (g, args)
        return args

    def forward_step(self, seq: Sequence, t: int, a: Tensor) -> None:
        before, after = self._fwd_args(seq)[t]
        self._fn(seq, "fwd")(*before, a.data_ptr(), *after)

    def backward_step(self, seq: Sequence, g: Grads, t: int, dy: Tensor, dcy: Tensor | None) -> None:
        before, after = self._bwd_args(seq, g)[t]
        self._fn(seq, "bwd")(*before, dy.data_ptr(), _p(dcy), *after)
        if t == 0:  # the backward's last step: its addresses need not outlive it (nor keep g alive)
            del seq.extra["cpp_bwd"]


def _steps(x: Tensor | None, steps: range, shift: int = 0) -> list[int | None]:
    """The address of ``x[t + shift]`` for each ``t`` of ``steps`` (None for each when ``x`` is None),
    without making the views."""
    if x is None:
        return [None] * len(steps)
    base, stride = x.data_ptr(), x.stride(0) * x.element_size()
    return [base + (t + shift) * stride for t in steps]
