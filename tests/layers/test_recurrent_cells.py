"""The shared layer checks, run on every cell and the main option combinations."""

import pytest
import torch
from recurrent_checks import check_layer

from rnnkit import Recurrent
from rnnkit.cells import CELLS, Cell, LSTMCell

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


class LeakyCell(Cell):
    """A user's cell that only implements forward: h_t = (1 - a) h_{t-1} + a tanh(W [x_t, h_{t-1}])."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear = torch.nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x_t, state=None):
        h = torch.zeros(x_t.shape[0], self.hidden_size, dtype=x_t.dtype) if state is None else state
        h = 0.5 * h + 0.5 * torch.tanh(self.linear(torch.cat([x_t, h], 1)))
        return h, h


def test_a_user_cell_with_only_forward_runs_on_the_loop():
    layer = Recurrent(LeakyCell(3, 4), 3, 4, bidirectional=True, zoneout=0.2)
    assert layer.backend == "loop"
    check_layer(layer)
    with pytest.raises(ValueError, match="implement spawn\\(input_size\\)"):
        Recurrent(LeakyCell(3, 4), 3, 4, num_layers=2)
    with pytest.raises(ValueError, match="LeakyCell does not have"):
        Recurrent(LeakyCell(3, 4), 3, 4, recurrent_dropout=0.1)
