"""minGRU / minLSTM with ``lengths`` and ``bidirectional=True`` compute what their step loops do, on
every backend that runs them: the cells' log-space scan (``scan``), the generic loop (``loop``) and
the fused Triton scan (``triton-scan``, through Triton's interpreter on the CPU).

The reference runs ``cell.forward`` one step at a time over each sequence cut to its own length
(reversed for the backward direction), so padding never enters it.
"""

import importlib
import os
import sys

import pytest
import torch

if "triton" not in sys.modules and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # before triton defines its own @jit functions

from rnnkit import Recurrent  # noqa: E402
from rnnkit.layers.backends import get_backend  # noqa: E402


def triton_ready() -> bool:
    try:
        import triton
    except ImportError:
        return False
    if not (torch.cuda.is_available() or triton.knobs.runtime.interpret):
        return False
    if "rnnkit.ops.triton_scan" in sys.modules:
        importlib.reload(sys.modules["rnnkit.ops.triton_scan"])
    return True


BACKENDS = ["scan", "loop", pytest.param("triton-scan", marks=pytest.mark.skipif(
    not triton_ready(), reason="triton missing, or imported before TRITON_INTERPRET=1"))]


def step_loop(layer: Recurrent, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor):
    """Brute force: every sequence alone, every layer and direction one ``cell.forward`` at a time."""
    D, L = layer.num_directions, layer.num_layers
    B, T = x.shape[:2]
    outputs = torch.zeros(B, T, D * layer.hidden_size, dtype=x.dtype)
    finals = torch.zeros(L * D, B, layer.hidden_size, dtype=x.dtype)
    for i in range(B):
        n = int(lengths[i])
        inp = list(x[i, :n].unsqueeze(1).unbind(0))  # n steps of (1, I)
        for l in range(L):
            per_dir = []
            for d in range(D):
                cell, h = layer.cells[l * D + d], h0[l * D + d, i:i + 1]
                order = range(n) if d == 0 else range(n - 1, -1, -1)
                ys = [None] * n
                for t in order:
                    ys[t], h = cell(inp[t], h)
                per_dir.append(ys)
                finals[l * D + d, i] = h[0]
            inp = [torch.cat([per_dir[d][t] for d in range(D)], 1) for t in range(n)]
        outputs[i, :n] = torch.cat(inp, 0)
    return outputs, finals


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # the interpreter's numpy: σ(-1e3) = 0
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_bidirectional_masked_equals_step_loop(cell, backend):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    x[1, 4:] = 1e3  # padding with large values must not leak into anything
    lengths = torch.tensor([7, 4, 1])
    h0 = torch.randn(4, 3, 4, dtype=torch.float64)
    if backend == "triton-scan":  # float32 kernels; compiled on a GPU when there is one
        layer, x, h0 = layer.float(), x.float(), h0.float()
    ref_out, ref_h = step_loop(layer, x, lengths, h0)
    if backend == "triton-scan" and torch.cuda.is_available():
        layer, x, h0 = layer.cuda(), x.cuda(), h0.cuda()
    out, h = get_backend(backend).run(layer, x, lengths, (h0,))
    out, h = out.cpu(), (h[0].cpu(),)
    tol = {"rtol": 1e-5, "atol": 1e-6} if backend == "triton-scan" else {"rtol": 1e-9, "atol": 1e-10}
    torch.testing.assert_close(out, ref_out, **tol)
    torch.testing.assert_close(h[0], ref_h, **tol)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_auto_backend_through_forward_equals_step_loop(cell):
    torch.manual_seed(1)
    layer = Recurrent(cell, 2, 3, bidirectional=True).double()
    x = torch.randn(4, 6, 2, dtype=torch.float64)
    lengths = torch.tensor([2, 6, 5, 1])
    out, h = layer(x, lengths)  # whatever "auto" picks here
    ref_out, ref_h = step_loop(layer, x, lengths, torch.zeros(2, 4, 3, dtype=torch.float64))
    torch.testing.assert_close(out, ref_out, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(h, ref_h, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_masked_bidirectional_gradients_agree_between_scan_and_loop(cell):
    torch.manual_seed(2)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(3, 8, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([8, 3, 5])
    inputs = [x, *layer.parameters()]
    g = torch.randn(3, 8, 8, dtype=torch.float64)
    results = []
    for name in ("scan", "loop"):
        out, h = get_backend(name).run(layer, x, lengths, None)
        results.append(torch.autograd.grad((out * g).sum() + h[0].pow(2).sum(), inputs))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    assert results[0][0][1, 3:].abs().max() == 0  # padding gets no gradient
