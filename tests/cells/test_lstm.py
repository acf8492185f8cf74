import pytest
import torch
import torch.nn.functional as F
from cell_checks import check_cell, check_torch_cell_parity

from rnnkit.cells import LSTMCell


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_lstm_cell(bias):
    check_torch_cell_parity(LSTMCell(4, 6, bias=bias), torch.nn.LSTMCell(4, 6, bias=bias))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_cell_contract(layer_norm):
    check_cell(LSTMCell(3, 4, layer_norm=layer_norm, forget_bias=1.0))


def test_parameter_names_are_torchs():
    names = set(dict(LSTMCell(3, 4).named_parameters()))
    assert names == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}


def test_forget_bias_init():
    cell = LSTMCell(3, 4, forget_bias=1.0)
    assert torch.equal(cell.bias_ih[4:8], torch.ones(4)) and torch.equal(cell.bias_hh[4:8], torch.zeros(4))
    assert not torch.equal(cell.bias_ih[:4], torch.ones(4))  # the other gates keep torch's init
    with pytest.raises(ValueError, match="bias=True"):
        LSTMCell(3, 4, bias=False, forget_bias=1.0)


def test_layer_norm_equations():
    torch.manual_seed(0)
    cell = LSTMCell(3, 4, layer_norm=True).double()
    with torch.no_grad():
        for ln in (cell.ln_ih, cell.ln_hh, cell.ln_c):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, 4, 4))
    y, (h1, c1) = cell(x, (h, c))

    def ln(m, v):
        return F.layer_norm(v, v.shape[-1:], m.weight, m.bias)

    gates = ln(cell.ln_ih, x @ cell.weight_ih.T) + ln(cell.ln_hh, h @ cell.weight_hh.T) + cell.bias_ih + cell.bias_hh
    i, f, g, o = gates.chunk(4, 1)
    c_ref = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h_ref = o.sigmoid() * ln(cell.ln_c, c_ref).tanh()
    torch.testing.assert_close(c1, c_ref)
    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(y, h_ref)


def test_sizes_are_validated():
    with pytest.raises(ValueError, match="hidden_size must be an int > 0, got 0"):
        LSTMCell(3, 0)
