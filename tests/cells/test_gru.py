import pytest
import torch
import torch.nn.functional as F
from cell_checks import check_cell, check_torch_cell_parity

from rnnkit.cells import GRUCell


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_gru_cell(bias):
    check_torch_cell_parity(GRUCell(4, 6, bias=bias), torch.nn.GRUCell(4, 6, bias=bias))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_cell_contract(layer_norm):
    check_cell(GRUCell(3, 4, layer_norm=layer_norm))


def test_layer_norm_equations():
    torch.manual_seed(0)
    cell = GRUCell(3, 4, layer_norm=True).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    y, h1 = cell(x, h)
    xp = F.layer_norm(x @ cell.weight_ih.T, (12,), cell.ln_ih.weight, cell.ln_ih.bias) + cell.bias_ih
    hp = F.layer_norm(h @ cell.weight_hh.T, (12,), cell.ln_hh.weight, cell.ln_hh.bias) + cell.bias_hh
    r = (xp[:, :4] + hp[:, :4]).sigmoid()
    z = (xp[:, 4:8] + hp[:, 4:8]).sigmoid()
    n = (xp[:, 8:] + r * hp[:, 8:]).tanh()
    torch.testing.assert_close(h1, (1 - z) * n + z * h)
    assert y is h1
