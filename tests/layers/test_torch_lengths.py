"""The torch backend with lengths and gradients on the CPU: it runs torch's fused op on runs of
equal batch instead of packing (whose backward grows with T^2 on the CPU). Same outputs, states and
gradients as the exact loop, and an autograd graph whose size does not grow with T."""

from __future__ import annotations

import pytest
import torch

from rnnkit import Recurrent


def _graph_size(t: torch.Tensor) -> int:
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return len(seen)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional, num_layers", [(False, 1), (True, 1), (True, 2), (False, 2)])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_the_loop_in_values_and_gradients(cell, bidirectional, num_layers, with_state):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 5, num_layers=num_layers, bidirectional=bidirectional, dropout=0.0)
    B, T = 6, 9
    lengths = torch.tensor([4, 9, 1, 4, 7, 2] if with_state else [4, 8, 1, 4, 7, 2])  # repeats; longest T or less
    x = torch.randn(B, T, 3)
    D = 2 if bidirectional else 1
    n_state = 2 if cell == "lstm" else 1
    state = tuple(torch.randn(num_layers * D, B, 5) for _ in range(n_state)) if with_state else None
    results = []
    for backend in ("torch", "loop"):
        layer.backend = backend
        xi = x.clone().requires_grad_(True)
        si = None if state is None else tuple(s.clone().requires_grad_(True) for s in state)
        s_arg = None if si is None else (si if n_state == 2 else si[0])
        out = layer(xi, lengths, s_arg)
        finals = out.state if isinstance(out.state, tuple) else (out.state,)
        w = torch.linspace(-1, 1, out.outputs.numel()).view_as(out.outputs)
        loss = (out.outputs * w).sum() + sum((f * (i + 2)).sum() for i, f in enumerate(finals))
        grads = torch.autograd.grad(loss, [xi, *layer.parameters(), *(si or ())])
        results.append((out.outputs.detach(), [f.detach() for f in finals], grads))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-4)
    assert (o1[2, 1:] == 0).all()  # zero past each length
    for a, b in zip(f1, f2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_same_as_packed_inference_and_the_graph_does_not_grow_with_time():
    torch.manual_seed(0)
    layer = Recurrent("lstm", 4, 6, bidirectional=True)
    sizes = []
    for T in (40, 160):
        x = torch.randn(5, T, 4)
        lengths = torch.tensor([T, T // 2, T, T // 4, T // 2])
        with torch.no_grad():  # no gradients: torch's packed op
            packed = layer(x, lengths)
        out = layer(x.requires_grad_(True), lengths)
        torch.testing.assert_close(out.outputs, packed.outputs, atol=1e-5, rtol=1e-4)
        for a, b in zip(out.state, packed.state):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
        sizes.append(_graph_size(out.outputs.sum() + out.state[0].sum()))
    assert sizes[0] == sizes[1], sizes  # three distinct lengths: the same pieces whatever T is
