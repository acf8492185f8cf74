"""The Triton recurrent kernels — one fused kernel per step, and the persistent kernel — equal the
generic loop for the same masks: outputs, final state and every gradient (1e-5 in float32).

Without CUDA the kernels run on the CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set
here before triton defines its @jit functions); with CUDA the same tests run the compiled kernels.
The interpreter is slow, so sizes are tiny (B <= 20, H <= 13, T = 3).
"""


import pytest
import torch

from triton_interpreter import use_triton_interpreter

use_triton_interpreter("rnnkit.ops.triton_cells", "rnnkit.ops.triton_rnn", "rnnkit.ops.triton_persistent")
from fused_checks import CONFIGS, check_engine  # noqa: E402

from rnnkit import Recurrent  # noqa: E402
from rnnkit.layers.backends import get_backend  # noqa: E402
from rnnkit.ops.triton_persistent import MAX_HIDDEN, PersistentEngine, persistent_reason  # noqa: E402
from rnnkit.ops.triton_rnn import TritonStepEngine  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# compiled on a GPU, float32 sums run in another order (FMA contraction, tiled dot products): the first
# H200 run differed from the loop by up to 2.3e-5 (a ReLU RNN); the interpreter matches to 1e-5
TOL = 1e-5 if DEVICE == "cpu" else 5e-5
ENGINES = {"fused": TritonStepEngine, "persistent": PersistentEngine}
# the interpreter's time grows with the steps (the fused engine launches once per step): 3 steps, lengths
# [3, 1], still carry the state over two steps and leave padded steps in the shorter sequence
STEPS = 3


@pytest.fixture(autouse=True)
def _ieee_matmul():
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # 1e-5 needs true float32 products on the GPU too
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_kernels_equal_the_loop(engine, config):
    check_engine(ENGINES[engine](), *config, tol=TOL, steps=STEPS, device=DEVICE)


@pytest.mark.parametrize("engine", ENGINES)
def test_odd_hidden_size_and_several_programs(engine):
    # H = 13 pads to a 16-wide block; B = 20 spans two batch tiles of the persistent kernel
    check_engine(ENGINES[engine](), "lstm", True, 0.3, 0.2, "tanh", tol=TOL, batch=20, steps=STEPS, hidden_size=13,
                 device=DEVICE)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bfloat16_keeps_float32_state(engine, cell):
    # bf16 inputs and weights, float32 state and gates: close to the float32 loop on the same weights
    check_engine(ENGINES[engine](), cell, True, 0.3, 0.2, "tanh", tol=6e-2, dtype=torch.bfloat16, steps=STEPS,
                 device=DEVICE)


@pytest.mark.parametrize("name", ["triton-fused", "triton-persistent"])
def test_backends_run_stacked_bidirectional_layers(name):
    """The registered backend's ``run`` (called directly: ``supports`` wants CUDA) over two
    bidirectional layers with lengths and an initial state equals the loop, gradients included."""
    torch.manual_seed(0)
    layer = Recurrent("lstm", 3, 5, num_layers=2, bidirectional=True, layer_norm=True).to(DEVICE).eval()
    x = torch.randn(2, STEPS, 3, device=DEVICE)
    lengths = torch.tensor([STEPS, 2], device=DEVICE)
    s0 = tuple(torch.randn(4, 2, 5, device=DEVICE, requires_grad=True) for _ in range(2))
    layer.backend = "loop"
    out, (h, c) = layer(x, lengths, s0)
    out2, (h2, c2) = get_backend(name).run(layer, x, lengths, s0)
    got, want = [out2, h2, c2], [out, h, c]
    for res in (got, want):
        res += torch.autograd.grad(sum(v.square().sum() for v in res), [*s0, *layer.parameters()])
    # float32 gradients summed through two layer-normed bidirectional layers: 1e-5 held on one machine
    # and not on another (5.5e-5 absolute, 2e-5 relative, in a weight gradient of magnitude ~3)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_persistent_kernel_says_where_it_stops():
    assert persistent_reason("lstm", MAX_HIDDEN) is None
    reason = persistent_reason("lstm", 4096)
    assert reason is not None and "hidden_size 4096 exceeds the persistent kernel's on-chip limit" in reason


@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
def test_auto_picks_the_triton_kernels_on_cuda():
    assert Recurrent("lstm", 8, 32, layer_norm=True).cuda().backend == "triton-persistent"
    big = Recurrent("lstm", 8, 512, recurrent_dropout=0.2).cuda()
    assert big.backend == "triton-fused" and "on-chip limit" in big.explain()
    assert Recurrent("lstm", 8, 512).cuda().backend == "torch"
