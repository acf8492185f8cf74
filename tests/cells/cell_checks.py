"""Checks every cell must pass (the cell-level half of a Keras ``run_layer_test``)."""

from __future__ import annotations

import torch

from rnnkit.cells import Cell


def as_tuple(state):
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def check_cell(cell: Cell, batch_size: int = 3, steps: int = 4) -> None:
    """Shapes, forward == step_projected(project_input), None state == zeros, hoisted sequence
    projection == per-step projection, spawn, and gradcheck in float64."""
    torch.manual_seed(0)
    cell = cell.double()
    I, H = cell.input_size, cell.hidden_size
    x = torch.randn(batch_size, steps, I, dtype=torch.float64)

    y, state = cell(x[:, 0])
    assert y.shape == (batch_size, H)
    assert len(as_tuple(state)) == cell.state_size
    assert all(s.shape == (batch_size, H) for s in as_tuple(state))
    zeros = cell.initial_state(batch_size, dtype=torch.float64)
    y0, _ = cell(x[:, 0], zeros)
    torch.testing.assert_close(y, y0, rtol=0, atol=0)

    xp = cell.project_input(x)  # the whole sequence at once
    s_a = s_b = None
    for t in range(steps):
        ya, s_a = cell(x[:, t], s_a)
        yb, s_b = cell.step_projected(xp[:, t], s_b)
        torch.testing.assert_close(ya, yb, rtol=1e-12, atol=1e-12)

    other = cell.spawn(I + 2)
    assert type(other) is type(cell) and other.input_size == I + 2 and other.hidden_size == H
    assert other(torch.randn(2, I + 2, dtype=torch.float64))[0].shape == (2, H)

    def unrolled(x_in, *s0):
        s = s0 if len(s0) > 1 else s0[0]
        outs = []
        for x_t in x_in.unbind(1):
            y_t, s = cell(x_t, s)
            outs.append(y_t)
        return torch.stack(outs, 1)

    xg = torch.randn(2, 3, I, dtype=torch.float64, requires_grad=True)
    s0 = [torch.rand(2, H, dtype=torch.float64, requires_grad=True) for _ in range(cell.state_size)]
    assert torch.autograd.gradcheck(unrolled, (xg, *s0), fast_mode=True)
    params = [p for p in cell.parameters()]
    assert params, "a cell has parameters"
    unrolled(xg, *s0).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)


def check_torch_cell_parity(cell: Cell, ref: torch.nn.Module) -> None:
    """The cell and a ``torch.nn.*Cell`` with the same state_dict agree over several steps."""
    torch.manual_seed(1)
    ref.load_state_dict(cell.state_dict())
    x = torch.randn(5, 6, cell.input_size)
    s, r = None, None
    for x_t in x.unbind(1):
        y, s = cell(x_t, s)
        r = ref(x_t, r)
        r_h = r[0] if isinstance(r, tuple) else r
        torch.testing.assert_close(y, r_h, rtol=1e-5, atol=1e-6)
    for a, b in zip(as_tuple(s), as_tuple(r)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
