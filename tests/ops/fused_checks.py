"""Shared checks for the fused recurrent engines (CPU kernel, Triton per-step, Triton persistent):
each must give the generic loop's outputs, final state and gradients for the same masks.

The reference is the loop's own equations: ``cell.step_projected`` per step with the given
recurrent-dropout mask and weight, and zoneout as ``lerp(new, prev, keep_mask)`` per state tensor.
"""

from __future__ import annotations

import torch

from rnnkit import Recurrent
from rnnkit.cells import make_cell
from rnnkit.layers.fused_backends import noise, run_fused

CONFIGS = [  # (cell, layer_norm, recurrent_dropout, zoneout, nonlinearity)
    ("lstm", True, 0.4, 0.3, "tanh"),
    ("lstm", False, 0.0, 0.0, "tanh"),
    ("gru", True, 0.4, 0.3, "tanh"),
    ("gru", False, 0.0, 0.3, "tanh"),
    ("rnn", True, 0.4, 0.3, "tanh"),
    ("rnn", False, 0.4, 0.0, "relu"),
]


def make_layer(cell: str, layer_norm: bool, rd: float, zo: float, act: str, *, input_size: int = 3,
               hidden_size: int = 6, weight_drop: float = 0.0, dtype=torch.float32, device="cpu") -> Recurrent:
    """A training-mode layer with non-trivial weights (layer-norm gains and biases included)."""
    torch.manual_seed(0)
    opts = {"nonlinearity": act} if cell == "rnn" else {}
    c = make_cell(cell, input_size, hidden_size, layer_norm=layer_norm, **opts)
    layer = Recurrent(c, input_size, hidden_size, recurrent_dropout=rd, zoneout=zo, weight_drop=weight_drop)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0.0, 0.5)
    return layer.to(device=device, dtype=dtype).train()


def reference(layer: Recurrent, x: torch.Tensor, lengths, nz: dict) -> tuple[torch.Tensor, tuple]:
    """The generic loop over ``x`` with the masks in ``nz``; outputs (B, T, H) and the final state."""
    cell = layer.cells[0]
    xp = cell.project_input(x)
    state = cell.initial_state(x.shape[0], device=x.device, dtype=xp.dtype)
    zone = nz["zoneout"]
    ys, states = [], []
    for t, xp_t in enumerate(xp.unbind(1)):
        y, new = cell.step_projected(xp_t, state, h_mask=nz["mask"], weight_hh=nz["weight_hh"])
        if zone is not None:
            prev = (state,) if isinstance(state, torch.Tensor) else state
            now = (new,) if isinstance(new, torch.Tensor) else new
            kept = tuple(torch.lerp(n, p, z[t].to(n.dtype)) for n, p, z in zip(now, prev, zone))
            new = kept[0] if isinstance(new, torch.Tensor) else kept
            y = kept[0]
        state = new
        ys.append(y)
        states.append((state,) if isinstance(state, torch.Tensor) else tuple(state))
    out = torch.stack(ys, 1)
    if lengths is None:
        return out, states[-1]
    final = tuple(torch.stack([states[n - 1][k][b] for b, n in enumerate(lengths.tolist())])
                  for k in range(len(states[-1])))
    return out, final


def outputs_and_grads(layer: Recurrent, x: torch.Tensor, run) -> list[torch.Tensor]:
    """[outputs, *final state, dL/dx, dL/dparams...] for L = Σ out² + Σ state² (+ a cross term)."""
    x = x.detach().clone().requires_grad_()
    out, state = run(x)
    loss = out.float().square().sum() + sum(s.float().square().sum() for s in state) + out.float()[:, :, 0].sum()
    params = [p for p in layer.parameters()]
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    return [out, *state, *[torch.zeros_like(p) if g is None else g for g, p in zip(grads, [x, *params])]]


def check_engine(engine, cell: str, layer_norm: bool, rd: float, zo: float, act: str, *, tol: float,
                 dtype=torch.float32, batch: int = 2, steps: int = 4, hidden_size: int = 6, weight_drop: float = 0.3,
                 device="cpu") -> None:
    """``engine`` through ``run_fused`` equals ``reference`` for one set of drawn masks, with lengths."""
    layer = make_layer(cell, layer_norm, rd, zo, act, hidden_size=hidden_size, weight_drop=weight_drop,
                       dtype=dtype, device=device)
    x = torch.randn(batch, steps, 3, dtype=dtype, device=device)
    lengths = torch.tensor([steps] + [max(1, steps - 1 - b) for b in range(batch - 1)])
    nz = noise(layer, layer.cells[0], x)
    w = nz["weight_hh"]
    if w is not None:  # the dropped weight is a function of weight_hh: re-derive it inside each graph
        keep = (w != 0).to(w.dtype) / (1 - weight_drop)

    def masks() -> dict:
        return dict(nz, weight_hh=None if w is None else layer.cells[0].weight_hh * keep)

    got = outputs_and_grads(layer, x, lambda v: run_fused(layer.cells[0], v, lengths, None, engine, masks()))
    ref_layer = layer if dtype in (torch.float32, torch.float64) else layer.float()
    want = outputs_and_grads(ref_layer, x.to(ref_layer.dtype), lambda v: reference(ref_layer, v, lengths, masks()))
    if ref_layer is not layer:
        layer.to(dtype)
    for a, b in zip(got, want):
        torch.testing.assert_close(a.to(b.dtype), b, rtol=tol, atol=tol)
