"""The CPU engines of ``FusedSequence`` — the compiled C++ step kernel and the torch-ops step —
equal the generic loop for the same masks: outputs, final state and every gradient."""

import pytest
import torch
from fused_checks import CONFIGS, check_engine, make_layer

from rnnkit import Recurrent
from rnnkit.ops import cpu_kernels
from rnnkit.ops.cpu_rnn import CppStepEngine, TorchStepEngine

needs_cpp = pytest.mark.skipif(cpu_kernels.unavailable_reason() is not None,
                               reason=f"C++ kernel unavailable: {cpu_kernels.unavailable_reason()}")


@needs_cpp
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_cpp_engine_equals_the_loop(config, dtype, tol):
    check_engine(CppStepEngine(), *config, tol=tol, dtype=dtype)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=lambda c: "-".join(map(str, c)))
def test_torch_engine_equals_the_loop(config):
    check_engine(TorchStepEngine(), *config, tol=1e-10, dtype=torch.float64)


@needs_cpp
def test_cpp_engine_rows_and_odd_sizes():
    check_engine(CppStepEngine(), "lstm", True, 0.3, 0.2, "tanh", tol=1e-5, batch=5, steps=7, hidden_size=13)


@needs_cpp
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cpu_fused_backend_is_the_loop_at_eval(cell):
    """Bidirectional, two layers, lengths, an initial state, layer norm: the backend equals the loop
    to 1e-10 in float64 (gradients of the state too), and its hand-written backward passes gradcheck."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 5, num_layers=2, bidirectional=True, layer_norm=True, zoneout=0.2).double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 4, 1])
    s0 = [torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True) for _ in range(layer.cells[0].state_size)]
    results = []
    for backend in ("loop", "cpu-fused"):
        layer.backend = backend
        layer.zero_grad()
        out, state = layer(x, lengths, s0[0] if len(s0) == 1 else tuple(s0))
        states = (state,) if isinstance(state, torch.Tensor) else state
        loss = out.square().sum() + sum(s.square().sum() for s in states)
        grads = torch.autograd.grad(loss, [*s0, *layer.parameters()])
        results.append([out, *states, *grads])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    xg = x[:2, :4].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: layer(v, torch.tensor([4, 2])).outputs, (xg,), fast_mode=True)


@needs_cpp
def test_a_retained_graph_gives_the_same_gradients_twice():
    # the C++ engine computes each backward pass's buffer addresses once: a second pass has new buffers
    torch.manual_seed(1)
    layer = Recurrent("lstm", 3, 5, layer_norm=True, backend="cpu-fused").double()
    loss = layer(torch.randn(2, 7, 3, dtype=torch.float64))[0].square().sum()
    first = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(layer.parameters()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@needs_cpp
def test_auto_picks_cpu_fused_where_torch_declines():
    assert Recurrent("lstm", 4, 8, layer_norm=True).backend == "cpu-fused"
    assert Recurrent("gru", 4, 8, zoneout=0.1).backend == "cpu-fused"
    assert Recurrent("rnn", 4, 8, recurrent_dropout=0.1).backend == "cpu-fused"
    assert Recurrent("lstm", 4, 8).backend == "torch"
    assert Recurrent("mingru", 4, 8).backend != "cpu-fused"
    assert Recurrent("lstm", 4, 8, layer_norm=True).to(torch.bfloat16).backend == "loop"


def test_without_a_compiler_auto_falls_back_to_the_loop(monkeypatch):
    monkeypatch.setenv("RNNKIT_NO_CPP", "1")
    layer = Recurrent("lstm", 4, 8, layer_norm=True)
    assert layer.backend == "loop"
    assert "'cpu-fused' cannot: RNNKIT_NO_CPP is set" in layer.explain()


@needs_cpp
def test_training_noise_is_drawn_and_differentiable():
    layer = make_layer("lstm", True, 0.5, 0.5, "tanh", weight_drop=0.5)
    layer.backend = "cpu-fused"
    x = torch.randn(4, 5, 3)
    a, b = layer(x).outputs, layer(x).outputs
    assert not torch.equal(a, b)  # fresh masks per forward
    a.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    layer.eval()
    torch.testing.assert_close(layer(x).outputs, layer(x).outputs)


@needs_cpp
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_saturated_gates_saturate_instead_of_turning_nan(cell):
    """Gate sums of hundreds (large weights, no layer norm): under -ffast-math the kernel's
    1/(1 + exp(-x)) turned into NaN once exp overflowed; exp's argument is clamped now."""
    torch.manual_seed(6)
    layer = Recurrent(cell, 8, 12, zoneout=0.1).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(40)
    x = torch.randn(2, 9, 8) * 3
    outs = []
    for backend in ("loop", "cpu-fused"):
        layer.backend = backend
        outs.append(layer(x).outputs)
    assert outs[0].abs().amax() > 0.99 and outs[1].isfinite().all()
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-4)
