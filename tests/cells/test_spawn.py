"""Cell.spawn draws a user's cell afresh: the reverse direction and the layers above do not start as
copies of the first cell."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.cells import Cell


class LinearCell(Cell):
    """A user's cell built on an nn.Linear, with no reset_parameters of its own."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x_t, state=None):  # type: ignore[no-untyped-def]
        if state is None:
            state = x_t.new_zeros(x_t.shape[0], self.hidden_size)
        h = torch.tanh(self.lin(torch.cat([x_t, state], 1)))
        return h, h


class OwnWeightCell(LinearCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.gain = nn.Parameter(torch.ones(hidden_size))


def test_spawned_directions_and_layers_start_from_fresh_weights() -> None:
    torch.manual_seed(0)
    both = rnnkit.Recurrent(LinearCell(4, 4), 4, 4, bidirectional=True)
    assert not torch.equal(both.cells[0].lin.weight, both.cells[1].lin.weight)
    stacked = rnnkit.Recurrent(LinearCell(4, 4), 4, 4, num_layers=3)
    weights = [c.lin.weight for c in stacked.cells]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])


def test_a_cell_s_own_parameters_that_spawn_can_only_copy_are_named() -> None:
    with pytest.warns(UserWarning, match=r"copies its parameters \['gain'\].*reset_parameters"):
        rnnkit.Recurrent(OwnWeightCell(4, 4), 4, 4, bidirectional=True)
