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


class _Stacks(torch.nn.Module):
    """Every configuration's layer from a zero state and, given ``h0`` (and ``c0``), from that state too:
    one program holds all the calls, each its own ``rnnkit::rnn`` operator and so its own translation,
    checked by one export (an ONNX export costs seconds of fixed overhead: the two states, then the six
    configurations, used to be an export each). ``states`` holds each layer's ``n_state[i]`` tensors in
    turn; a layer given none runs from the zero state only."""

    def __init__(self, layers: list[Recurrent], n_state: list[int]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.n_state = n_state

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        results: list[torch.Tensor] = []
        given = iter(states)
        for layer, n in zip(self.layers, self.n_state):
            out, final = layer(x, lengths)
            results += [out, *as_tuple(final)]
            if n:
                state = tuple(next(given) for _ in range(n))
                given_out, given_final = layer(x, lengths, layer._pack_state(state))
                results += [given_out, *as_tuple(given_final)]
        return tuple(results)


def _all_inputs(layers: list[Recurrent], n_state: list[int], B: int,
                T: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """``x`` and ``lengths`` for every layer (all take 3 features), then each layer's ``n_state`` states."""
    g = torch.Generator().manual_seed(B * 100 + T)
    x = torch.randn(B, T, 3, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    states = [torch.randn(layer.num_layers * layer.num_directions, B, 5, generator=g)
              for layer, n in zip(layers, n_state) for _ in range(n)]
    return x, lengths, states


def test_onnx_translation_runs_in_onnxruntime_like_the_loop(tmp_path: Path) -> None:
    """Every configuration's outputs and final states from a zero state and, for lstm and gru, from a
    given initial state (``h0``, ``c0``; rnn's initial state is the same input of ONNX's node as gru's
    ``h0``), at the traced shape and at other batch sizes and numbers of steps."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from torch.export import Dim

    from rnnkit.cli.export_onnx import export_onnx

    layers = [_layer(*config) for config in CONFIGS]
    n_state = [0 if config[0] == "rnn" else layer.cell_list[0].state_size for layer, config in zip(layers, CONFIGS)]
    # each configuration's outputs in turn: outputs, h[, c]; twice with a state
    n_out = [(1 + layer.cell_list[0].state_size) * (2 if n else 1) for layer, n in zip(layers, n_state)]
    input_names = ["x", "lengths"] + [f"{kind}0_{i}" for i, n in enumerate(n_state) for kind in "hc"[:n]]
    x, lengths, states = _all_inputs(layers, n_state, 3, 6)
    batch = Dim("batch", min=1)
    dynamic = ({0: batch, 1: Dim("steps", min=1)}, {0: batch}, tuple({1: batch} for _ in states))  # *states
    with torch.no_grad():
        for layer in layers:
            layer.backend = "onnx"
        program = torch.export.export(_Stacks(layers, n_state), (x, lengths, *states), dynamic_shapes=dynamic)
    path = tmp_path / "rnn.onnx"
    export_onnx(program, (x, lengths, *states), path, input_names=input_names, output_names=["outputs"],
                metadata={"note": "test"}, dims={"x": {0: "batch", 1: "steps"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == input_names
    assert len(session.get_outputs()) == sum(n_out)
    for layer in layers:
        layer.backend = "loop"
    for B, T in ((3, 6), (5, 11), (1, 1)):  # the traced shape, then other batch sizes and numbers of steps
        x, lengths, states = _all_inputs(layers, n_state, B, T)
        got = session.run(None, dict(zip(names, [t.numpy() for t in (x, lengths, *states)])))
        with torch.no_grad():
            expected = _Stacks(layers, n_state)(x, lengths, *states)
        assert len(got) == len(expected) == sum(n_out)
        first = 0
        for config, n in zip(CONFIGS, n_out):
            for k in range(n):
                where = f"{config}, output {k} at B={B}, T={T}"
                torch.testing.assert_close(torch.from_numpy(got[first + k]), expected[first + k], rtol=1e-5,
                                           atol=1e-5, msg=lambda m, where=where: f"{where}: {m}")
            first += n
