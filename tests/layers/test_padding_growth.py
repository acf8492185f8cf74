"""A relu state that grows over a long padding must not reach the outputs or the gradients: the
generic loop holds each state past its length, and the fused kernels hand such batches to it."""

from __future__ import annotations

import pytest
import torch
from recurrent_checks import cpu_fused_builds

import rnnkit
from rnnkit.cells import SimpleRNNCell

BACKENDS = ["torch", "loop"] + (["cpu-fused"] if cpu_fused_builds() else [])


def _growing_relu(num_layers: int = 1, bidirectional: bool = False) -> rnnkit.Recurrent:
    layer = rnnkit.Recurrent(SimpleRNNCell(3, 4, nonlinearity="relu"), 3, 4, num_layers=num_layers,
                             bidirectional=bidirectional)
    with torch.no_grad():
        for cell in layer.cells:
            cell.weight_hh.copy_(torch.eye(4) * 1.25)  # x1.25 a step: float32's inf by step ~400
            cell.bias_ih.fill_(0.1)
    return layer


@pytest.mark.parametrize("shape", [(1, False), (2, True)])
def test_a_long_padding_leaves_outputs_and_gradients_finite_and_equal_on_every_backend(shape) -> None:
    torch.manual_seed(0)
    layer = _growing_relu(*shape)
    x = torch.zeros(2, 600, 3)
    x[:, :30] = torch.randn(2, 30, 3)
    lengths = torch.tensor([30, 12])
    results = {}
    for backend in BACKENDS:
        layer.backend = backend
        x_ = x.clone().requires_grad_(True)
        out, state = layer(x_, lengths)
        (out.sum() + state.sum()).backward()
        grads = [p.grad.clone() for p in layer.parameters()]
        layer.zero_grad()
        assert torch.isfinite(out).all() and torch.isfinite(state).all(), backend
        assert all(torch.isfinite(g).all() for g in grads) and torch.isfinite(x_.grad).all(), backend
        assert not out[0, 30:].any() and not out[1, 12:].any(), backend
        results[backend] = (out[:, :30], state, grads, x_.grad)
    want = results["torch"]
    for backend, got in results.items():
        tol = {"rtol": 1e-4, "atol": 1e-3, "msg": backend}
        torch.testing.assert_close(got[0], want[0], **tol)
        torch.testing.assert_close(got[1], want[1], **tol)
        for g, w in zip(got[2], want[2]):
            torch.testing.assert_close(g, w, **tol)
        torch.testing.assert_close(got[3], want[3], **tol)


def test_in_training_with_recurrent_dropout_auto_stays_finite() -> None:
    """recurrent_dropout in training keeps torch's op out: auto picks the fused kernel (or the loop)."""
    torch.manual_seed(0)
    layer = rnnkit.Recurrent(SimpleRNNCell(3, 4, nonlinearity="relu"), 3, 4, recurrent_dropout=0.1)
    with torch.no_grad():
        layer.cells[0].weight_hh.copy_(torch.eye(4) * 1.25)
        layer.cells[0].bias_ih.fill_(0.1)
    x = torch.zeros(2, 600, 3)
    x[:, :40] = torch.randn(2, 40, 3)
    out, _ = layer.train()(x, torch.tensor([40, 15]))
    out.sum().backward()
    assert layer.backend != "torch"
    assert torch.isfinite(out).all() and torch.isfinite(layer.cells[0].weight_hh.grad).all()
