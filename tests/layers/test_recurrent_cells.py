"""The shared layer checks, run on every cell and the main option combinations."""

import pytest
import torch
from recurrent_checks import check_layer

from rnnkit import Recurrent
from rnnkit.cells import CELLS, LSTMCell

CELL_NAMES = sorted(CELLS)


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_cell(cell, bidirectional):
    check_layer(Recurrent(cell, 3, 4, num_layers=2, bidirectional=bidirectional))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_layer_norm_cells(cell):
    check_layer(Recurrent(cell, 3, 4, num_layers=2, layer_norm=True))


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_zoneout_at_eval(cell):
    check_layer(Recurrent(cell, 3, 4, zoneout=0.3, bidirectional=True))


def test_a_cell_instance_is_layer_zero():
    cell = LSTMCell(3, 4, forget_bias=1.0)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True)
    assert layer.cells[0] is cell
    assert [c.input_size for c in layer.cells] == [3, 3, 8, 8]
    assert all(c.forget_bias == 1.0 for c in layer.cells)
    assert not torch.equal(layer.cells[1].weight_hh, cell.weight_hh)  # fresh weights per direction
    check_layer(layer)


def test_bfloat16_runs_on_every_backend():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 3)
    for cell in CELL_NAMES:
        layer = Recurrent(cell, 3, 4, bidirectional=True)
        ref = layer(x, torch.tensor([6, 4])).outputs
        layer = layer.bfloat16()
        out = layer(x.bfloat16(), torch.tensor([6, 4])).outputs
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
