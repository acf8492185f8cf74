"""Registration of the fused backends: order, lazy triton import, and what explain() says."""

import subprocess
import sys

import torch

from rnnkit import Recurrent
from rnnkit.layers.backends import available_backends, get_backend


def test_registered_below_torch_and_triton_first():
    names = [b.name for b in available_backends()]
    assert names.index("torch") < names.index("triton-persistent") < names.index("triton-fused") \
        < names.index("cpu-fused") < names.index("loop")


def test_importing_and_running_on_the_cpu_never_imports_triton():
    code = ("import sys, torch, rnnkit; l = rnnkit.Recurrent('lstm', 2, 4, layer_norm=True); "
            "l(torch.randn(1, 3, 2)); l.explain(); print('triton' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_triton_backends_decline_cpu_layers_and_say_why():
    layer = Recurrent("lstm", 4, 8, layer_norm=True)
    for name in ("triton-persistent", "triton-fused"):
        assert get_backend(name).supports(layer) == "no CUDA device (the layer is on the CPU)"
    assert "'triton-fused' cannot: no CUDA device" in layer.explain()


def test_subclassed_cells_are_left_to_the_loop():
    from rnnkit.cells import LSTMCell

    class MyLSTM(LSTMCell):  # may change the step: no fused kernel may assume its equations
        pass

    layer = Recurrent(MyLSTM(4, 8, layer_norm=True), 4, 8, layer_norm=True)
    for name in ("cpu-fused", "triton-fused"):
        assert "the fused kernels cover only rnn, lstm and gru cells, not MyLSTM" in get_backend(name).supports(layer)
    assert layer.backend == "loop"


def test_float16_is_declined_on_the_cpu():
    layer = Recurrent("gru", 4, 8, layer_norm=True).to(torch.float16)
    assert "takes float32 and float64" in get_backend("cpu-fused").supports(layer)
