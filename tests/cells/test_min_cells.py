"""minGRU and minLSTM (Feng et al. 2024): paper equations, and scan == sequential step loop."""

import pytest
import torch
from cell_checks import check_cell

from rnnkit.cells import MinGRUCell, MinLSTMCell
from rnnkit.cells.min_gru import g, log_g

MIN_CELLS = [MinGRUCell, MinLSTMCell]


def step_loop(cell, x, h=None):
    outs = []
    for x_t in x.unbind(1):
        y, h = cell(x_t, h)
        outs.append(y)
    return torch.stack(outs, 1), h


@pytest.mark.parametrize("cls", MIN_CELLS)
def test_cell_contract(cls):
    check_cell(cls(3, 4))


def test_min_gru_step_is_the_paper_equation():
    torch.manual_seed(0)
    cell = MinGRUCell(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    k, pre = (x @ cell.weight_ih.T + cell.bias_ih).chunk(2, 1)
    z = k.sigmoid()
    torch.testing.assert_close(cell(x, h)[0], (1 - z) * h + z * g(pre))


def test_min_lstm_step_is_the_paper_equation():
    torch.manual_seed(0)
    cell = MinLSTMCell(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    kf, ki, pre = (x @ cell.weight_ih.T + cell.bias_ih).chunk(3, 1)
    f, i = kf.sigmoid(), ki.sigmoid()
    torch.testing.assert_close(cell(x, h)[0], f / (f + i) * h + i / (f + i) * g(pre))


def test_g_and_log_g():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), g(x).log())


@pytest.mark.parametrize("cls", MIN_CELLS)
@pytest.mark.parametrize("with_state", [False, True])
def test_scan_equals_step_loop(cls, with_state):
    torch.manual_seed(1)
    cell = cls(3, 5)
    x = torch.randn(4, 33, 3)
    h0 = torch.randn(4, 5) if with_state else None
    out, h = cell.forward_sequence(x, h0)
    ref, h_ref = step_loop(cell, x, h0)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(out.sum(), list(cell.parameters()))
    grads_ref = torch.autograd.grad(ref.sum(), list(cell.parameters()))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", MIN_CELLS)
def test_scan_equals_step_loop_over_ten_thousand_steps(cls):
    torch.manual_seed(2)
    cell = cls(2, 3)
    with torch.no_grad():
        cell.weight_ih.mul_(8.0)  # saturated gates: the hard case for a log-space scan
        x = torch.randn(1, 10_000, 2)
        out, h = cell.forward_sequence(x)
        ref, h_ref = step_loop(cell, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", MIN_CELLS)
def test_scan_with_lengths(cls):
    torch.manual_seed(3)
    cell = cls(3, 4)
    x = torch.randn(3, 8, 3)
    lengths = torch.tensor([8, 2, 5])
    out, h = cell.forward_sequence(x, None, lengths)
    for b, n in enumerate(lengths.tolist()):
        ref, h_ref = step_loop(cell, x[b:b + 1, :n])
        torch.testing.assert_close(out[b:b + 1, :n], ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(h[b:b + 1], h_ref, rtol=1e-5, atol=1e-6)
        assert (out[b, n:] == 0).all()


@pytest.mark.parametrize("cls", MIN_CELLS)
def test_no_recurrent_weight_to_drop(cls):
    cell = cls(3, 4)
    assert not cell.recurrent_weight
    with pytest.raises(ValueError, match="no recurrent weight"):
        cell.step_projected(cell.project_input(torch.randn(2, 3)), None, h_mask=torch.ones(2, 4))
