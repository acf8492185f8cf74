"""Bad input gets a ValueError that says what to do."""

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.cells import GRUCell


@pytest.fixture
def lstm():
    return Recurrent("lstm", 3, 4, num_layers=2)


def test_unknown_cell():
    with pytest.raises(ValueError, match=r"unknown cell 'tcn': use one of \['gru', 'lstm', 'mingru', 'minlstm', "
                                         r"'rnn'\] or pass a Cell instance"):
        Recurrent("tcn", 3, 4)


@pytest.mark.parametrize("kwargs,message", [
    ({"hidden_size": 0}, "hidden_size must be an int > 0, got 0"),
    ({"input_size": -1}, "input_size must be an int > 0, got -1"),
    ({"num_layers": 0}, "num_layers must be an int > 0, got 0"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\), got 1.0"),
    ({"zoneout": -0.1}, "zoneout must be a probability"),
    ({"recurrent_dropout": 2}, "recurrent_dropout must be a probability"),
])
def test_bad_construction(kwargs, message):
    args = {"input_size": 3, "hidden_size": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        Recurrent("gru", args.pop("input_size"), args.pop("hidden_size"), **args)


def test_options_the_cell_cannot_take():
    with pytest.raises(ValueError, match="layer_norm is available for 'rnn', 'lstm' and 'gru', not 'mingru'"):
        Recurrent("mingru", 3, 4, layer_norm=True)
    with pytest.raises(ValueError, match="MinLSTMCell does not have; use dropout or zoneout instead"):
        Recurrent("minlstm", 3, 4, weight_drop=0.2)
    with pytest.raises(ValueError, match="the cell is \\(3, 5\\) but Recurrent got input_size=3, hidden_size=4"):
        Recurrent(GRUCell(3, 5), 3, 4)
    with pytest.raises(ValueError, match="needs a cell built with layer_norm=True"):
        Recurrent(GRUCell(3, 4), 3, 4, layer_norm=True)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"x must be \(batch, time, features\) batch-first, got \(5, 3\); add a batch"):
        lstm(torch.randn(5, 3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="x has 7 features per step but the layer was built with input_size=3"):
        lstm(torch.randn(2, 5, 7))


def test_wrong_dtype(lstm):
    with pytest.raises(ValueError, match="x is torch.float64 but the layer's parameters are torch.float32"):
        lstm(torch.randn(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x is torch.bfloat16 but the layer's parameters are torch.float32"):
        lstm(torch.randn(2, 5, 3).bfloat16())


def test_half_input_is_taken_under_autocast(lstm):
    # as nn.LSTM takes it: under autocast a layer before this one may hand over bfloat16
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = lstm(x.bfloat16()).outputs
        want = lstm(x.bfloat16().float()).outputs
    torch.testing.assert_close(got, want)
    assert got.dtype in (torch.bfloat16, torch.float32) and got.shape == (2, 5, lstm.hidden_size)


@pytest.mark.parametrize("lengths,message", [
    (torch.tensor([5, 0]), "lengths must be between 1 and T=5 .* got min 0"),
    (torch.tensor([6, 2]), "lengths must be between 1 and T=5 .* max 6"),
    (torch.tensor([5, 2, 1]), r"lengths must be a \(batch,\) = \(2,\) tensor"),
    (torch.tensor([[5, 2]]), r"lengths must be a \(batch,\) = \(2,\) tensor"),
    ([5, 2, 1], r"lengths must be a \(batch,\) = \(2,\) tensor .* got \(3,\)"),
    ("52", r"lengths must be a \(batch,\) = \(2,\) tensor .* got str"),
    (torch.tensor([5.0, 2.0]), "lengths must be an integer tensor"),
])
def test_bad_lengths(lstm, lengths, message):
    with pytest.raises(ValueError, match=message):
        lstm(torch.randn(2, 5, 3), lengths)


@pytest.mark.parametrize("state", [
    torch.zeros(2, 2, 4),  # LSTM needs (h, c)
    (torch.zeros(2, 2, 4), torch.zeros(1, 2, 4)),
    (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)),
])
def test_bad_state(lstm, state):
    with pytest.raises(ValueError, match=r"state must be a tuple of 2 tensors \(h, c\), each .* = \(2, 2, 4\)"):
        lstm(torch.randn(2, 5, 3), state=state)


def test_bidirectional_step():
    layer = Recurrent("gru", 3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="step\\(\\) runs one direction only; .* call forward\\(x\\) instead"):
        layer.step(torch.randn(2, 3))


def test_bad_step_input(lstm):
    with pytest.raises(ValueError, match=r"x_t must be \(batch, input_size\) = \(B, 3\), got \(2, 1, 3\)"):
        lstm.step(torch.randn(2, 1, 3))
    with pytest.raises(ValueError, match=r"state must be a tuple of 2 tensors"):
        lstm.step(torch.randn(2, 3), torch.zeros(2, 2, 4))


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_step_refuses_input_of_another_dtype_as_forward_does(cell, dtype):
    layer = Recurrent(cell, 3, 4, num_layers=2)
    x = torch.ones(2, 3, dtype=dtype)  # was cast silently, token ids included
    with pytest.raises(ValueError, match=f"x is {dtype} but the layer's parameters are torch.float32"):
        layer(x.unsqueeze(1))
    message = f"x_t is {dtype} but the layer's parameters are torch.float32; convert one of them"
    with pytest.raises(ValueError, match=message):  # training mode: the generic step
        layer.step(x)
    with torch.no_grad(), pytest.raises(ValueError, match=message):  # inference: the fast step where there is one
        layer.eval().step(x)


def test_step_takes_half_input_under_autocast(lstm):
    # as forward does: under autocast a layer before this one may hand over bfloat16
    x = torch.randn(2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = lstm.step(x.bfloat16())
        want, _ = lstm.step(x.bfloat16().float())
    torch.testing.assert_close(got, want)


def test_lengths_as_a_list_of_ints(lstm):
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(lstm(x, [5, 2]).outputs, lstm(x, torch.tensor([5, 2])).outputs)


def test_lengths_as_numpy_integers(lstm):
    """A list of numpy ints (what indexing a numpy array gives) and an integer numpy array were refused with
    "lengths must be a (batch,) tensor ... got list", though a list of ints is taken."""
    np = pytest.importorskip("numpy")
    x = torch.randn(2, 5, 3)
    want = lstm(x, torch.tensor([5, 2])).outputs
    for lengths in ([np.int64(5), np.int64(2)], np.array([5, 2]), np.array([5, 2], dtype=np.int32)):
        torch.testing.assert_close(lstm(x, lengths).outputs, want)
    with pytest.raises(ValueError, match=r"lengths must be a \(batch,\) = \(2,\) tensor .* got ndarray"):
        lstm(x, np.array([5.0, 2.0]))  # floats: no silent rounding
    with pytest.raises(ValueError, match=r"lengths must be a \(batch,\) = \(2,\) tensor .* got list"):
        lstm(x, [True, True])


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_an_integer_state_is_refused_not_cast(lstm, dtype):
    state = (torch.ones(2, 2, 4, dtype=dtype), torch.ones(2, 2, 4, dtype=dtype))
    with pytest.raises(ValueError, match=rf"state is {dtype}, but a recurrent state holds the layer's floats"):
        lstm(torch.randn(2, 5, 3), state=state)
    with pytest.raises(ValueError, match=rf"state is {dtype}"):
        lstm.step(torch.randn(2, 3), state)
    double = tuple(s.double() for s in state)  # another float dtype is still taken, as before
    assert lstm(torch.randn(2, 5, 3), state=double).outputs.dtype == torch.float32


def test_rates_may_be_numpy_numbers():
    import numpy as np

    layer = Recurrent("gru", 3, 4, dropout=np.float32(0.25), recurrent_dropout=np.float64(0.1), num_layers=2)
    assert layer.dropout == 0.25 and type(layer.dropout) is float and layer.recurrent_dropout == 0.1
    with pytest.raises(ValueError, match="dropout must be a probability"):
        Recurrent("gru", 3, 4, dropout="0.2")
