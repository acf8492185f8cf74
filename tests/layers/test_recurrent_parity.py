"""Parity with torch.nn.RNN / LSTM / GRU through ``Recurrent.from_torch``, on every backend."""

import pytest
import torch
from recurrent_checks import as_tuple, assert_states_close, cpu_fused_builds, supported_backends
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit import Recurrent
from rnnkit.data.batch import lengths_to_mask

MODULES = {"rnn_tanh": lambda **k: nn.RNN(**k), "rnn_relu": lambda **k: nn.RNN(nonlinearity="relu", **k),
           "lstm": lambda **k: nn.LSTM(**k), "gru": lambda **k: nn.GRU(**k)}


def torch_reference(module, x, lengths, state):
    if lengths is None:
        return module(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, st = module(packed, state)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], st


@pytest.mark.parametrize("kind", sorted(MODULES))
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False), (3, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_matches_torch_nn(kind, num_layers, bidirectional, with_lengths):
    torch.manual_seed(num_layers)
    module = MODULES[kind](input_size=3, hidden_size=4, num_layers=num_layers, bidirectional=bidirectional,
                           batch_first=True).double()
    layer = Recurrent.from_torch(module)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([4, 6, 1]) if with_lengths else None
    D = 2 if bidirectional else 1
    state = tuple(torch.randn(num_layers * D, 3, 4, dtype=torch.float64) for _ in range(2 if kind == "lstm" else 1))
    state = state if kind == "lstm" else state[0]

    ref_out, ref_state = torch_reference(module, x, lengths, state)
    ref_grads = torch.autograd.grad(ref_out.square().sum() + as_tuple(ref_state)[0].sum(), list(module.parameters()))
    backends = ["torch", "cpu-fused", "loop"] if cpu_fused_builds() else ["torch", "loop"]
    assert supported_backends(layer) == backends
    for backend in backends:
        layer.backend = backend
        out, st = layer(x, lengths, state)
        torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
        assert_states_close(st, ref_state, rtol=1e-5, atol=1e-5)
        grads = torch.autograd.grad(out.square().sum() + as_tuple(st)[0].sum(), list(layer.parameters()))
        for g, g_ref in zip(grads, ref_grads):  # same parameter order as torch's _flat_weights
            torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5)


def test_float32_parity_and_copy_of_options():
    torch.manual_seed(0)
    module = nn.LSTM(5, 7, num_layers=2, dropout=0.25, bias=True, batch_first=False)
    layer = Recurrent.from_torch(module)
    assert (layer.num_layers, layer.dropout, layer.hidden_size, layer.input_size) == (2, 0.25, 7, 5)
    module.eval()
    layer.eval()
    x = torch.randn(4, 9, 5)
    ref_out, ref_state = module(x.transpose(0, 1))  # the torch module is time-first here
    out, st = layer(x)
    torch.testing.assert_close(out, ref_out.transpose(0, 1), rtol=1e-5, atol=1e-5)
    assert_states_close(st, ref_state, rtol=1e-5, atol=1e-5)


def test_no_bias_module():
    module = nn.GRU(3, 4, bias=False, batch_first=True)
    layer = Recurrent.from_torch(module)
    assert layer.backend == "torch" and "cells.0.bias_ih" not in layer.state_dict()
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x).outputs, module(x)[0], rtol=1e-5, atol=1e-6)


def test_state_dict_is_the_same_whatever_the_backend():
    torch.manual_seed(0)
    a = Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, backend="torch")
    b = Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, backend="loop")
    assert list(a.state_dict()) == list(b.state_dict())
    assert "cells.3.weight_hh" in a.state_dict()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(a(x).outputs, b(x).outputs, rtol=1e-5, atol=1e-6)


def test_from_torch_rejects_other_modules():
    with pytest.raises(ValueError, match="from_torch takes torch.nn.RNN, LSTM or GRU, got Linear"):
        Recurrent.from_torch(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="proj_size"):
        Recurrent.from_torch(nn.LSTM(2, 3, proj_size=2))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru"])
def test_every_backend_under_bfloat16_autocast_stays_near_float32(cell):
    """Under ``torch.autocast`` the input projection comes out in bfloat16; every backend must still
    read it as such (the fused C++ kernel once read its bytes as float32: errors near 1)."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 4, 6, num_layers=2, bidirectional=True).train()
    x, lengths = torch.randn(3, 7, 4), torch.tensor([7, 3, 5])
    ref, _ = layer(x, lengths)
    for backend in supported_backends(layer):
        layer.backend = backend
        layer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, state = layer(x, lengths, None)
            out.float().square().sum().backward()
        torch.testing.assert_close(out.float(), ref, atol=0.05, rtol=0, msg=f"backend {backend}")
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm"])
def test_nan_padding_reaches_no_output_and_no_gradient_on_any_backend(cell):
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 5, 4), torch.tensor([3, 5])
    x[0, 3:] = float("nan")
    layer = Recurrent(cell, 4, 6, bidirectional=True)
    for backend in supported_backends(layer):
        layer.backend = backend
        layer.zero_grad()
        out, _ = layer(x, lengths)
        out.square().sum().backward()
        assert torch.equal(out[0, 3:], torch.zeros_like(out[0, 3:])), backend
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters()), backend


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru", "minlstm"])
def test_finite_padding_changes_nothing_on_any_backend(cell):
    """On a CPU ``Recurrent`` leaves finite padding as it is (only NaN or inf is masked): every backend
    must then give the outputs, final state and gradients of zero padding, in both directions."""
    torch.manual_seed(0)
    lengths = torch.tensor([3, 7, 5])
    zero = torch.randn(3, 7, 4) * lengths_to_mask(lengths, 7).unsqueeze(-1)
    junk = torch.where(lengths_to_mask(lengths, 7).unsqueeze(-1), zero, 1e3 * torch.randn(3, 7, 4))
    layer = Recurrent(cell, 4, 6, num_layers=2, bidirectional=True)
    for backend in supported_backends(layer):
        layer.backend = backend
        results = []
        for x in (zero, junk):
            layer.zero_grad()
            x = x.clone().requires_grad_()
            out, state = layer(x, lengths)
            h = state[0] if isinstance(state, tuple) else state
            (out.square().sum() + h.square().sum()).backward()
            results.append((out, h, [p.grad.clone() for p in layer.parameters()], x.grad))
        (o0, h0, g0, x0), (o1, h1, g1, x1) = results
        torch.testing.assert_close(o1, o0, msg=f"outputs, backend {backend}")
        torch.testing.assert_close(h1, h0, msg=f"state, backend {backend}")
        for a, b in zip(g1, g0, strict=True):
            torch.testing.assert_close(a, b, msg=f"gradients, backend {backend}")
        torch.testing.assert_close(x1, x0, msg=f"input gradients, backend {backend}")
        assert torch.equal(x1 * ~lengths_to_mask(lengths, 7).unsqueeze(-1), torch.zeros_like(x1)), backend
