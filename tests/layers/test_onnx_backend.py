"""The ``onnx`` backend (one ``rnnkit::rnn`` operator per stack) and its translation to ONNX's RNN / GRU /
LSTM nodes: the same outputs and final states as the loop, in torch and in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from recurrent_checks import as_tuple

from rnnkit import Recurrent
from rnnkit.layers.backends import get_backend

CONFIGS = [  # (cell, nonlinearity, bidirectional, num_layers, bias)
    ("lstm", "tanh", False, 1, True),
    ("lstm", "tanh", True, 2, True),
    ("gru", "tanh", True, 1, True),
    ("gru", "tanh", False, 2, False),
    ("rnn", "tanh", True, 2, True),
    ("rnn", "relu", False, 1, True),
]


def _layer(cell: str, nonlinearity: str, bidirectional: bool, num_layers: int, bias: bool) -> Recurrent:
    torch.manual_seed(0)
    kinds = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    if cell == "rnn":
        module: torch.nn.RNNBase = torch.nn.RNN(3, 5, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                                                bidirectional=bidirectional, batch_first=True)
    else:
        module = kinds[cell](3, 5, num_layers=num_layers, bias=bias, bidirectional=bidirectional, batch_first=True)
    return Recurrent.from_torch(module).eval()


def _inputs(layer: Recurrent, B: int, T: int, *, with_state: bool) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    g = torch.Generator().manual_seed(B * 100 + T)
    x = torch.randn(B, T, 3, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    rows = layer.num_layers * layer.num_directions
    state = tuple(torch.randn(rows, B, 5, generator=g) for _ in range(layer.cell_list[0].state_size))
    return x, lengths, state if with_state else ()


@pytest.mark.parametrize("config", CONFIGS)
def test_onnx_backend_equals_the_loop_in_torch(config: tuple) -> None:
    layer = _layer(*config)
    x, lengths, state = _inputs(layer, 4, 7, with_state=True)
    with torch.no_grad():
        layer.backend = "loop"
        ref_out, ref_state = layer(x, lengths, layer._pack_state(state))
        layer.backend = "onnx"
        out, st = layer(x, lengths, layer._pack_state(state))
        no_lengths, _ = layer(x)
        layer.backend = "loop"
        ref_no_lengths, _ = layer(x)
    torch.testing.assert_close(out, ref_out)
    for a, b in zip(as_tuple(st), as_tuple(ref_state)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(no_lengths, ref_no_lengths)


def test_onnx_backend_is_for_export_only_and_auto_never_picks_it() -> None:
    backend = get_backend("onnx")
    layer = Recurrent("lstm", 3, 5)
    assert "eval mode under torch.no_grad()" in str(backend.supports(layer))  # training mode
    layer.eval()
    assert "eval mode under torch.no_grad()" in str(backend.supports(layer))  # gradients enabled
    with torch.no_grad():
        assert backend.supports(layer) is None
        assert layer.backend != "onnx"
        assert "ONNX's recurrent operators have no layer_norm" in str(
            backend.supports(Recurrent("lstm", 3, 5, layer_norm=True).eval()))
        assert "compute only rnn, lstm and gru" in str(backend.supports(Recurrent("mingru", 3, 5).eval()))
        assert "exports float32 layers" in str(backend.supports(Recurrent("gru", 3, 5).double().eval()))
    with pytest.raises(ValueError, match="backend='onnx' cannot run this layer"):
        layer.backend = "onnx"


class _Stack(torch.nn.Module):
    """The layer from a zero state and, given ``h0`` (and ``c0``), from that state too: one program holds
    both calls, each its own ``rnnkit::rnn`` operator and so its own translation, checked by one export
    (an ONNX export costs seconds; the two cases used to be two exports of the same layer)."""

    def __init__(self, layer: Recurrent) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, h0: torch.Tensor | None = None,
                c0: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        out, final = self.layer(x, lengths)
        state = tuple(s for s in (h0, c0) if s is not None)
        if not state:
            return (out, *as_tuple(final))
        given_out, given_final = self.layer(x, lengths, self.layer._pack_state(state))
        return (out, *as_tuple(final), given_out, *as_tuple(given_final))


@pytest.mark.parametrize("config", CONFIGS)
def test_onnx_translation_runs_in_onnxruntime_like_the_loop(config: tuple, tmp_path: Path) -> None:
    """Outputs and final states from a zero state and, for lstm and gru, from a given initial state
    (``h0``, ``c0``; rnn's initial state is the same input of ONNX's node as gru's ``h0``)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from torch.export import Dim

    from rnnkit.cli.export_onnx import export_onnx

    with_state = config[0] != "rnn"
    layer = _layer(*config)
    x, lengths, state = _inputs(layer, 3, 6, with_state=with_state)
    batch = Dim("batch", min=1)
    dynamic = {"x": {0: batch, 1: Dim("steps", min=1)}, "lengths": {0: batch},
               **{name: {1: batch} for name, _ in zip(("h0", "c0"), state)}}
    with torch.no_grad():
        layer.backend = "onnx"
        program = torch.export.export(_Stack(layer), (x, lengths, *state), dynamic_shapes=dynamic)
    path = tmp_path / "rnn.onnx"
    n_out = (1 + layer.cell_list[0].state_size) * (2 if with_state else 1)  # outputs, h[, c]; twice with a state
    export_onnx(program, (x, lengths, *state), path, input_names=["x", "lengths", "h0", "c0"][:2 + len(state)],
                output_names=["outputs"], metadata={"note": "test"}, dims={"x": {0: "batch", 1: "steps"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(session.get_outputs()) == n_out
    layer.backend = "loop"
    for B, T in ((3, 6), (5, 11), (1, 1)):  # the traced shape, then other batch sizes and numbers of steps
        x, lengths, state = _inputs(layer, B, T, with_state=with_state)
        got = session.run(None, dict(zip(names, [t.numpy() for t in (x, lengths, *state)])))
        with torch.no_grad():
            expected = _Stack(layer)(x, lengths, *state)
        assert len(got) == len(expected) == n_out
        for a, b in zip(got, expected):
            torch.testing.assert_close(torch.from_numpy(a), b, rtol=1e-5, atol=1e-5)
