"""The fast CPU step computes what ``Recurrent``'s generic step does, and steps aside when it cannot."""

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.cells import LSTMCell, SimpleRNNCell
from rnnkit.ops.fast_step import (
    StepRunner,
    call_reason,
    fast_step,
    lstm_buffers,
    lstm_fused_weights,
    lstm_step_into,
)


def generic_step(layer, x_t, state):
    """``Recurrent.step``'s own path, one cell at a time (the reference)."""
    y, parts = x_t, []
    for l, cell in enumerate(layer.cell_list):
        s = None if state is None else (state[0][l] if len(state) == 1 else tuple(p[l] for p in state))
        y, s = cell(y, s)
        parts.append((s,) if isinstance(s, torch.Tensor) else s)
    return y, tuple(torch.stack(p, 0) for p in zip(*parts))


CONFIGS = [("lstm", {}), ("gru", {}), ("rnn", {}), (LSTMCell(5, 6, bias=False), {})]


@pytest.mark.parametrize("cell, opts", CONFIGS, ids=["lstm", "gru", "rnn", "lstm-nobias"])
@pytest.mark.parametrize("B", [1, 3])
def test_matches_generic_step_over_several_steps(cell, opts, B):
    torch.manual_seed(0)
    layer = Recurrent(cell, 5, 6, num_layers=2, **opts).double()
    state = ref_state = None
    with torch.no_grad():
        for _ in range(4):
            x = torch.randn(B, 5, dtype=torch.float64)
            got = fast_step(layer, x, state)
            assert got is not None
            y, state = got
            y_ref, ref_state = generic_step(layer, x, ref_state)
            torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
            for a, b in zip(state, ref_state):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_relu_rnn_and_float32():
    torch.manual_seed(1)
    layer = Recurrent(SimpleRNNCell(4, 3, nonlinearity="relu"), 4, 3, num_layers=3)
    x = torch.randn(2, 4)
    with torch.no_grad():
        y, (h,) = fast_step(layer, x, None)
        y_ref, (h_ref,) = generic_step(layer, x, None)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)


def test_lstm_step_into_is_torch_lstm_cell():
    torch.manual_seed(2)
    cell = torch.nn.LSTMCell(3, 4)
    ours = LSTMCell(3, 4)
    ours.load_state_dict(cell.state_dict())
    w, b = lstm_fused_weights(ours)
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    h_out, c_out = torch.empty(2, 4), torch.empty(2, 4)
    with torch.no_grad():
        buf = lstm_buffers(2, 3, 4, x)
        buf.xh.copy_(torch.cat([x, h], 1))
        lstm_step_into(buf, c, w.t(), b, h_out, c_out)
        h_ref, c_ref = cell(x, (h, c))
    torch.testing.assert_close(h_out, h_ref)
    torch.testing.assert_close(c_out, c_ref)


def test_states_are_fresh_and_weight_changes_are_seen():
    torch.manual_seed(3)
    layer = Recurrent("lstm", 2, 3).eval()
    x = torch.randn(1, 2)
    with torch.no_grad():
        _, s1 = fast_step(layer, x, None)
        kept = s1[0].clone()
        _, s2 = fast_step(layer, x, s1)
        assert torch.equal(s1[0], kept) and s2[0].data_ptr() != s1[0].data_ptr()
        layer.cells[0].weight_hh.mul_(2)  # in place: a new _version
        y, _ = fast_step(layer, x, s1)
        torch.testing.assert_close(y, generic_step(layer, x, s1)[0])
        other = Recurrent("lstm", 2, 3)
        layer.load_state_dict(other.state_dict())
        y, _ = fast_step(layer, x, s1)
        torch.testing.assert_close(y, generic_step(other, x, s1)[0])
        layer.double()
        y, _ = fast_step(layer, x.double(), None)
        torch.testing.assert_close(y, generic_step(layer, x.double(), None)[0])


def test_steps_aside_where_it_would_differ():
    x = torch.randn(1, 2)
    layer = Recurrent("lstm", 2, 3)
    assert fast_step(layer, x, None) is None  # gradients enabled and parameters require them
    with torch.no_grad():
        assert fast_step(Recurrent("lstm", 2, 3, layer_norm=True), x, None) is None
        assert fast_step(Recurrent("mingru", 2, 3), x, None) is None
        assert fast_step(Recurrent("gru", 2, 3, zoneout=0.1), x, None) is None
        assert fast_step(Recurrent("lstm", 2, 3, num_layers=2, dropout=0.5), x, None) is None  # training
        assert fast_step(Recurrent("lstm", 2, 3, num_layers=2, dropout=0.5).eval(), x, None) is not None
        assert fast_step(layer, x.double(), None) is None
        assert fast_step(layer.bfloat16(), x.bfloat16(), None) is None
    assert "gradients" in call_reason(Recurrent("gru", 2, 3), x, torch.float32)
    with pytest.raises(ValueError, match="rnn, lstm and gru"):
        StepRunner(Recurrent("minlstm", 2, 3))
