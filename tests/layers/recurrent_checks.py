"""Checks every cell must pass inside ``Recurrent`` (a Keras ``run_layer_test`` for layers)."""

from __future__ import annotations

import torch

from rnnkit import Recurrent
from rnnkit.layers.backends import available_backends
from rnnkit.ops import cpu_kernels


def as_tuple(state):
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def assert_states_close(a, b, **tol) -> None:
    a, b = as_tuple(a), as_tuple(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, **tol)


def supported_backends(layer: Recurrent) -> list[str]:
    return [b.name for b in available_backends() if b.supports(layer) is None]


def cpu_fused_builds() -> bool:
    """Whether the ``cpu-fused`` backend's C++ kernel builds and loads here (no compiler, or
    ``RNNKIT_NO_CPP=1``, and it declines)."""
    return cpu_kernels.unavailable_reason() is None


def off_torch_cpu_backend() -> str:
    """What "auto" picks on the CPU for an rnn / lstm / gru layer that torch's op cannot run (layer
    norm, or recurrent dropout / zoneout in training): the fused C++ kernel, else the generic loop."""
    return "cpu-fused" if cpu_fused_builds() else "loop"


def check_backends_agree(layer: Recurrent, x: torch.Tensor, lengths, state=None, tol: float = 1e-10) -> None:
    """Every backend that supports ``layer`` gives the loop's outputs, final state and gradients."""
    requested = layer._requested
    results = {}
    for name in supported_backends(layer):
        layer.backend = name
        layer.zero_grad()
        out, st = layer(x, lengths, state)
        (out.square().sum() + sum(s.square().sum() for s in as_tuple(st))).backward()
        results[name] = (out, st, [p.grad.clone() for p in layer.parameters()])
    layer.backend = requested
    ref = results["loop"]
    for _name, (out, st, grads) in results.items():
        torch.testing.assert_close(out, ref[0], rtol=tol, atol=tol)
        assert_states_close(st, ref[1], rtol=tol, atol=tol)
        for g, g_ref in zip(grads, ref[2]):
            torch.testing.assert_close(g, g_ref, rtol=tol * 10, atol=tol * 10)


def check_step_equals_forward(layer: Recurrent, x: torch.Tensor) -> None:
    """``step()`` T times gives ``forward``'s outputs and final state."""
    out, state = layer(x)
    s, ys = None, []
    for x_t in x.unbind(1):
        y, s = layer.step(x_t, s)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), out, rtol=1e-6, atol=1e-6)
    assert_states_close(s, state, rtol=1e-6, atol=1e-6)


def check_padding_is_invisible(layer: Recurrent, x: torch.Tensor, lengths: torch.Tensor) -> None:
    """A zero-padded batch gives each sequence's own result; outputs past a length are zero."""
    out, state = layer(x, lengths)
    D = layer.num_directions
    for b, n in enumerate(lengths.tolist()):
        alone, s_alone = layer(x[b:b + 1, :n])
        torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=1e-6, atol=1e-6)
        assert (out[b, n:] == 0).all()
        for s, sa in zip(as_tuple(state), as_tuple(s_alone)):
            torch.testing.assert_close(s[:, b:b + 1], sa, rtol=1e-6, atol=1e-6)
        if D == 2:  # the reverse direction's state is its output at step 0 of the valid part
            H = layer.hidden_size
            torch.testing.assert_close(as_tuple(state)[0][-1, b], out[b, 0, H:], rtol=1e-6, atol=1e-6)


def check_layer(layer: Recurrent, *, batch_size: int = 3, steps: int = 5) -> None:
    """All of the above plus a float64 gradcheck of the whole layer, for one configuration."""
    torch.manual_seed(0)
    layer = layer.double().eval()
    x = torch.randn(batch_size, steps, layer.input_size, dtype=torch.float64)
    lengths = torch.tensor([steps] + [max(1, steps - 2 - b) for b in range(batch_size - 1)])
    check_backends_agree(layer, x, lengths)
    check_backends_agree(layer, x, None)
    check_padding_is_invisible(layer, x, lengths)
    if not layer.bidirectional:
        check_step_equals_forward(layer, x)
    xg = x[:2, :3].clone().requires_grad_()
    for name in supported_backends(layer):
        layer.backend = name
        assert torch.autograd.gradcheck(lambda v: layer(v, torch.tensor([3, 2])).outputs, (xg,), fast_mode=True)
    layer.backend = "auto"
