"""The ``export_loop`` backend: the loop over time as torch's scan operator, so that an export records
one step, not one copy per step, and the number of steps stays free."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers import Recurrent
from rnnkit.layers.export_loop import ExportLoopBackend


@pytest.mark.parametrize(("cell", "options"), [("lstm", {"layer_norm": True}), ("gru", {"layer_norm": True}),
                                                ("rnn", {}), ("lstm", {"zoneout": 0.2, "recurrent_dropout": 0.3})])
@pytest.mark.parametrize("with_state", [False, True])
def test_it_computes_what_the_loop_computes(cell: str, options: dict, with_state: bool) -> None:
    """Outputs (zero past each length) and final states (each sequence's last valid step), both
    directions, two layers, with and without lengths and an initial state."""
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 5, num_layers=2, bidirectional=True, **options).eval()
    x = torch.randn(3, 7, 3)
    n_state = 2 if cell == "lstm" else 1
    state = tuple(torch.randn(4, 3, 5) for _ in range(n_state)) if with_state else None
    if state is not None and n_state == 1:
        state = state[0]
    for lengths in (torch.tensor([7, 2, 5]), None):
        with torch.no_grad():
            layer.backend = "loop"
            want = layer(x, lengths, state)
            layer.backend = "export_loop"
            got = layer(x, lengths, state)
        torch.testing.assert_close(got.outputs, want.outputs, rtol=1e-6, atol=1e-6)
        for a, b in zip(got.state if isinstance(got.state, tuple) else (got.state,),
                        want.state if isinstance(want.state, tuple) else (want.state,)):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_it_is_for_export_only_and_never_chosen_by_auto() -> None:
    layer = Recurrent("lstm", 3, 5, layer_norm=True)
    assert "eval mode under torch.no_grad() only" in str(ExportLoopBackend().supports(layer))
    with pytest.raises(ValueError, match="export_loop"):
        layer.backend = "export_loop"  # training mode
    layer.eval()
    with torch.no_grad():
        assert layer.backend != "export_loop"  # auto prefers the loop (and faster ones)
        layer.backend = "export_loop"
        assert layer.backend == "export_loop"


def test_torch_export_records_one_step_and_leaves_the_steps_free() -> None:
    torch.manual_seed(0)
    layer = Recurrent("lstm", 3, 4, layer_norm=True, bidirectional=True).eval()

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = layer

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.rnn(x, lengths).outputs

    module = Outputs().eval()
    batch, steps = torch.export.Dim("batch", min=1), torch.export.Dim("steps", min=1)
    torch.compiler.reset()  # what rnnkit's export does first: other exports' steps in dynamo's cache add guards
    with torch.no_grad():
        layer.backend = "export_loop"
        program = torch.export.export(module, (torch.randn(2, 6, 3), torch.tensor([6, 4])),
                                      dynamic_shapes={"x": {0: batch, 1: steps}, "lengths": {0: batch}})
        layer.backend = "loop"
        for t in (1, 3, 40):
            x, lengths = torch.randn(3, t, 3), torch.tensor([t, 1, max(1, t - 2)])
            torch.testing.assert_close(program.module()(x, lengths), module(x, lengths), rtol=1e-5, atol=1e-5)
    # one scan per direction, however many steps: the graph does not grow with T
    scans = [n for n in program.graph.nodes if n.op == "call_function" and "scan" in str(n.target)]
    assert len(scans) == 2
