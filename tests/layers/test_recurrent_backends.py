"""Backend choice, forcing, explain(), and the registry other modules use to add fused kernels."""

import pytest
import torch
from recurrent_checks import off_torch_cpu_backend

from rnnkit import Recurrent
from rnnkit.layers import backends
from rnnkit.layers.backends import LoopBackend, available_backends, get_backend, register_backend

OFF_TORCH = "cpu-fused, else loop"  # rnn / lstm / gru that torch's op cannot run: see off_torch_cpu_backend


@pytest.mark.parametrize("cell,options,expected", [
    ("lstm", {}, "torch"),
    ("gru", {"num_layers": 2, "bidirectional": True, "dropout": 0.2}, "torch"),
    ("rnn", {"weight_drop": 0.3}, "torch"),
    ("mingru", {}, "scan"),
    ("minlstm", {"bidirectional": True}, "scan"),
    ("lstm", {"layer_norm": True}, OFF_TORCH),
    ("lstm", {"zoneout": 0.1}, OFF_TORCH),
    ("mingru", {"zoneout": 0.1}, "loop"),  # cpu-fused runs rnn, lstm and gru cells only
    ("gru", {"recurrent_dropout": 0.1}, OFF_TORCH),
])
def test_auto_picks_the_fastest_exact_backend(cell, options, expected):
    if expected == OFF_TORCH:
        expected = off_torch_cpu_backend()
    layer = Recurrent(cell, 3, 4, **options)
    assert layer.backend == expected
    assert layer.explain().startswith(f"Runs on '{expected}'")


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_zoneout_leaves_the_scan_in_evaluation_where_it_is_the_identity(cell):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 4, zoneout=0.2)
    assert layer.backend == "loop" and "zoneout (in training)" in layer.explain()
    layer.eval()
    assert layer.backend == "scan"
    x = torch.randn(2, 6, 3)
    out = layer(x, torch.tensor([6, 4])).outputs
    layer.backend = "loop"
    torch.testing.assert_close(out, layer(x, torch.tensor([6, 4])).outputs, atol=1e-6, rtol=1e-5)


def test_explain_names_the_reason_faster_ones_do_not_run(monkeypatch):
    monkeypatch.setenv("RNNKIT_NO_CPP", "1")  # cpu-fused declines, so the layer falls through to the loop
    layer = Recurrent("lstm", 3, 4, layer_norm=True)
    text = layer.explain()
    assert text.startswith("Runs on 'loop'")
    assert "'torch' cannot: torch's fused ops have no layer_norm" in text
    assert "'cpu-fused' cannot: RNNKIT_NO_CPP is set" in text
    assert "'scan' cannot: LSTMCell has no forward_sequence" in text
    monkeypatch.delenv("RNNKIT_NO_CPP")
    text = layer.explain()  # only the backends faster than the one chosen are explained
    assert "'torch' cannot: torch's fused ops have no layer_norm" in text
    assert ("'scan' cannot" in text) == (layer.backend == "loop")
    assert "requested" in Recurrent("lstm", 3, 4, backend="loop").explain()


@pytest.mark.parametrize("cell,options,backend,reason", [
    ("lstm", {"layer_norm": True}, "torch", "no layer_norm"),
    ("mingru", {}, "torch", "only rnn, lstm and gru"),
    ("lstm", {}, "scan", "no forward_sequence"),
    ("mingru", {"zoneout": 0.2}, "scan", "zoneout"),
])
def test_forcing_a_backend_that_cannot_run_is_an_error(cell, options, backend, reason):
    with pytest.raises(ValueError, match=f"backend='{backend}' cannot run this layer: .*{reason}"):
        Recurrent(cell, 3, 4, backend=backend, **options)
    layer = Recurrent(cell, 3, 4, **options)
    with pytest.raises(ValueError, match=reason):
        layer.backend = backend


def test_forced_backend_rechecked_when_the_mode_changes():
    layer = Recurrent("lstm", 3, 4, recurrent_dropout=0.2).eval()
    layer.backend = "torch"  # fine at eval, where recurrent dropout is the identity
    layer.train()
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layer(torch.randn(1, 2, 3))


def test_unknown_backend():
    listing = r"unknown backend 'cudnn': use 'auto' or one of \['torch', .*'loop', 'onnx', 'export_loop'\]"
    with pytest.raises(ValueError, match=listing):
        Recurrent("lstm", 3, 4, backend="cudnn")


def test_backend_can_change_after_loading():
    trained = Recurrent("gru", 3, 4, backend="torch")
    other = Recurrent("gru", 3, 4)
    other.load_state_dict(trained.state_dict())
    other.backend = "loop"
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(other(x).outputs, trained(x).outputs, rtol=1e-5, atol=1e-6)


class CountingBackend(LoopBackend):
    """A stand-in for a fused kernel: runs LSTMs only, counts its calls."""

    name = "counting"

    def __init__(self):
        self.calls = 0

    def supports(self, layer):
        return None if layer.cells[0].state_size == 2 else "it runs LSTMs only"

    def run(self, layer, x, lengths, state):
        self.calls += 1
        return super().run(layer, x, lengths, state)


@pytest.fixture
def counting():
    backend = CountingBackend()
    register_backend(backend, priority=400)
    yield backend
    backends._REGISTRY.pop("counting")


def test_a_registered_backend_is_tried_first(counting):
    assert [b.name for b in available_backends()][:2] == ["counting", "torch"]
    assert get_backend("counting") is counting
    layer = Recurrent("lstm", 3, 4)
    assert layer.backend == "counting"
    layer(torch.randn(2, 3, 3))
    assert counting.calls == 1
    gru = Recurrent("gru", 3, 4)
    assert gru.backend == "torch"
    assert "'counting' cannot: it runs LSTMs only" in gru.explain()


def test_register_backend_validates():
    with pytest.raises(ValueError, match="needs a str `name`"):
        register_backend(object(), 10)  # type: ignore[arg-type]
    bad = CountingBackend()
    bad.name = "auto"
    with pytest.raises(ValueError, match="reserved"):
        register_backend(bad, 10)
