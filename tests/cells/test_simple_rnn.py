import pytest
import torch
from cell_checks import check_cell, check_torch_cell_parity

from rnnkit.cells import SimpleRNNCell


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_matches_torch_rnn_cell(nonlinearity):
    check_torch_cell_parity(SimpleRNNCell(4, 6, nonlinearity=nonlinearity),
                            torch.nn.RNNCell(4, 6, nonlinearity=nonlinearity))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_cell_contract(layer_norm):
    check_cell(SimpleRNNCell(3, 4, layer_norm=layer_norm))


def test_spawn_keeps_options():
    cell = SimpleRNNCell(3, 4, nonlinearity="relu", bias=False, layer_norm=True)
    other = cell.spawn(8)
    assert (other.nonlinearity, other.bias, other.layer_norm) == ("relu", False, True)


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match=r"nonlinearity must be one of \('tanh', 'relu'\), got 'gelu'"):
        SimpleRNNCell(3, 4, nonlinearity="gelu")
