"""A row of length 0 with a carried state passes that state through (layers/recurrent.py): chunked
inference over a batch whose sequences end in different chunks equals one pass, on every backend."""

import pytest
import torch
from recurrent_checks import as_tuple, assert_states_close

from rnnkit import Recurrent
from rnnkit.layers.backends import get_backend
from rnnkit.layers.fused_backends import cell_reason

CONFIGS = {
    "rnn": ("rnn", {}),
    "gru": ("gru", {}),
    "lstm": ("lstm", {}),
    "mingru": ("mingru", {}),
    "minlstm": ("minlstm", {}),
    "lstm-layer-norm": ("lstm", {"layer_norm": True}),
    "lstm-2-layers": ("lstm", {"num_layers": 2}),
    "mingru-2-layers": ("mingru", {"num_layers": 2}),
}
BACKENDS = ["torch", "cpu-fused", "scan", "loop", "onnx", "export_loop"]  # all that run on the CPU
# the second sequence ends in chunk 2, the third in chunk 1, the fourth in chunk 0. Rows of length 0 leave the
# batch and two or more stay in every chunk: export_loop's scan runs through torch.compile, which compiles once
# more for a batch of 1
LENGTHS = torch.tensor([20, 15, 9, 3])


def layer_for(config: str, backend: str, dtype: torch.dtype = torch.float64) -> Recurrent:
    """A layer in eval mode forced onto ``backend`` (skips where it cannot run there: cpu-fused
    without a C++ compiler)."""
    cell, options = CONFIGS[config]
    torch.manual_seed(0)
    layer = Recurrent(cell, 5, 8, **options).to(dtype).eval()
    with torch.no_grad():  # onnx and export_loop run inference only
        why = get_backend(backend).supports(layer)
        if why is not None:
            pytest.skip(f"{backend} cannot run {config} here: {why}")
        layer.backend = backend
    return layer


def runs_on(config: str, backend: str) -> bool:
    """Whether ``backend`` computes this configuration at all (cpu-fused: where its kernel builds)."""
    cell, options = CONFIGS[config]
    layer = Recurrent(cell, 5, 8, **options).eval()
    if backend == "cpu-fused":
        return cell_reason(layer) is None
    with torch.no_grad():
        return get_backend(backend).supports(layer) is None


def random_state(layer: Recurrent, B: int):
    rows = layer.num_layers * layer.num_directions
    parts = [torch.randn(rows, B, layer.hidden_size, dtype=layer.dtype) for _ in range(layer._cell0().state_size)]
    return parts[0] if len(parts) == 1 else tuple(parts)


@pytest.mark.parametrize("config, backend", [(c, b) for c in CONFIGS for b in BACKENDS if runs_on(c, b)])
def test_chunks_with_the_state_carried_equal_one_pass(config, backend):
    dtype, tol = (torch.float32, 1e-5) if backend == "onnx" else (torch.float64, 1e-10)  # onnx: float32 only
    layer = layer_for(config, backend, dtype)
    x = torch.randn(4, 20, 5, dtype=dtype)
    h0 = random_state(layer, 4)
    with torch.no_grad():
        full = layer(x, LENGTHS, h0)
        state, outs = h0, []
        for s in range(0, 20, 7):
            chunk = x[:, s:s + 7]
            if backend == "export_loop":  # its torch.compile'd scan compiles again for a slice after a whole x
                chunk = chunk.contiguous()
            n = (LENGTHS - s).clamp(0, chunk.shape[1])  # [7, 7, 7, 3], [7, 7, 2, 0], [6, 1, 0, 0]
            out = layer(chunk, n, state)
            outs.append(out.outputs)
            state = out.state
        assert layer.backend == backend
    torch.testing.assert_close(torch.cat(outs, 1), full.outputs, rtol=tol, atol=tol)
    assert_states_close(state, full.state, rtol=tol, atol=tol)


@pytest.mark.parametrize("cell", ["gru", "lstm", "mingru"])
def test_all_zero_lengths_return_the_initial_state_and_zero_outputs(cell):
    layer = Recurrent(cell, 5, 8, num_layers=2).double()
    h0 = random_state(layer, 3)
    out = layer(torch.randn(3, 4, 5, dtype=torch.float64), torch.zeros(3, dtype=torch.long), h0)
    assert out.outputs.shape == (3, 4, 8) and not out.outputs.any()
    for got, given in zip(as_tuple(out.state), as_tuple(h0)):
        assert torch.equal(got, given) and got is not given


@pytest.mark.parametrize("cell, backend", [("lstm", "torch"), ("gru", "loop"), ("minlstm", "scan")])
def test_empty_rows_pass_their_state_and_its_gradient_through(cell, backend):
    torch.manual_seed(1)
    layer = Recurrent(cell, 5, 8, bidirectional=True, backend=backend).double()
    x = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    h0 = tuple(p.requires_grad_() for p in as_tuple(random_state(layer, 4)))
    lengths = torch.tensor([0, 6, 0, 2])
    out = layer(x, lengths, h0[0] if len(h0) == 1 else h0)
    alone = layer(x[[1, 3]], lengths[[1, 3]], tuple(p[:, [1, 3]] for p in h0) if len(h0) == 2 else h0[0][:, [1, 3]])
    torch.testing.assert_close(out.outputs[[1, 3]], alone.outputs)
    assert not out.outputs[[0, 2]].any()
    for got, given, ran in zip(as_tuple(out.state), h0, as_tuple(alone.state)):
        assert torch.equal(got[:, [0, 2]], given[:, [0, 2]].detach())
        torch.testing.assert_close(got[:, [1, 3]], ran)
    sum(p.sum() for p in as_tuple(out.state)).backward()
    for given in h0:
        assert torch.equal(given.grad[:, [0, 2]], torch.ones_like(given[:, [0, 2]]))
    assert not x.grad[[0, 2]].any() and x.grad[[1, 3]].any()


@pytest.mark.parametrize("lengths, state, message", [
    (torch.tensor([4, 0]), False, r"between 1 and T=4 .* got min 0 .*drop empty sequences \(or pass state="),
    (torch.tensor([4, -1]), True, r"lengths must be between 0 and T=4 .* got min -1 and max 4"),
    (torch.tensor([5, 0]), True, r"lengths must be between 0 and T=4 .* got min 0 and max 5"),
])
def test_lengths_out_of_range_are_refused(lengths, state, message):
    layer = Recurrent("gru", 5, 8)
    h0 = torch.zeros(1, 2, 8) if state else None
    with pytest.raises(ValueError, match=message):
        layer(torch.randn(2, 4, 5), lengths, h0)
