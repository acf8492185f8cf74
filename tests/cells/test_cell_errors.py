"""A cell called on its own names the bad argument instead of failing deep in a matrix product."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells import CELLS, make_cell


@pytest.fixture(params=sorted(CELLS))
def cell(request):
    return make_cell(request.param, 3, 4)


@pytest.mark.parametrize("x_t", [torch.randn(2, 5), torch.randn(2, 1, 3), torch.randn(3)])
def test_wrong_input_shape(cell, x_t):
    with pytest.raises(ValueError, match=r"x_t must be \(batch, input_size\) = \(B, 3\), got"):
        cell(x_t)


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_wrong_input_dtype(cell, dtype):
    with pytest.raises(ValueError, match=f"x_t is {dtype} but the cell's parameters are torch.float32"):
        cell(torch.ones(2, 3, dtype=dtype))


def test_wrong_state(cell):
    good = cell.initial_state(2)
    parts = (good,) if isinstance(good, torch.Tensor) else good
    for bad in (tuple(torch.zeros(3, 4) for _ in parts),  # another batch size
                tuple(torch.zeros(2, 5) for _ in parts),  # another hidden size
                (torch.zeros(2, 4),) * (len(parts) % 2 + 1)):  # (h, c) for a one-tensor state and back
        state = bad[0] if len(bad) == 1 else bad
        with pytest.raises(ValueError, match=r"state must be .* \(batch, hidden_size\) = \(2, 4\)"):
            cell(torch.randn(2, 3), state)


def test_valid_calls_are_unchanged(cell):
    torch.manual_seed(0)
    x, state = torch.randn(2, 3), cell.initial_state(2)
    y, new = cell(x, state)
    y_ref, new_ref = cell.step_projected(cell.project_input(x), state)  # the unchecked path
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    assert y.shape == (2, 4)


def test_negative_batch_size(cell):
    with pytest.raises(ValueError, match="batch_size must be an int >= 0, got -1"):
        cell.initial_state(-1)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_forward_sequence_checks_its_input(name):
    cell = make_cell(name, 3, 4)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, input_size\) = \(B, T, 3\), got \(2, 5, 5\)"):
        cell.forward_sequence(torch.randn(2, 5, 5))
    with pytest.raises(ValueError, match="lengths must be between 1 and T=5, got min 2 and max 6"):
        cell.forward_sequence(torch.randn(2, 5, 3), None, torch.tensor([6, 2]))
    with pytest.raises(ValueError, match=r"lengths must be \(2,\) int64"):
        cell.forward_sequence(torch.randn(2, 5, 3), None, torch.tensor([5.0, 2.0]))
    with pytest.raises(ValueError, match=r"state must be \(batch, hidden_size\) = \(2, 4\), got \(3, 4\)"):
        cell.forward_sequence(torch.randn(2, 5, 3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"lengths must be a \(2,\) int64 tensor, got list"):
        cell.forward_sequence(torch.randn(2, 5, 3), None, [5, 2])
    with pytest.raises(ValueError, match="x is torch.float64 but the cell's parameters are torch.float32"):
        cell.forward_sequence(torch.randn(2, 5, 3, dtype=torch.float64))
