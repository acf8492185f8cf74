"""Stream (layers/stream.py): a held state stepped in place computes what Recurrent.step computes."""

import copy
import pickle

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.layers import Stream
from rnnkit.ops import cpu_stream

needs_cpp = pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here")


def run_both(layer, stream, xs, state=None):
    """Step ``stream`` and ``layer.step`` side by side over ``xs`` (T, B, I); returns both outputs."""
    ys, refs = [], []
    for x in xs:
        ys.append(stream(x))
        y, state = layer.step(x, state)
        refs.append(y)
    return torch.stack(ys), torch.stack(refs), state


@needs_cpp
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["f32", "f64"])
def test_lstm_stream_steps_in_cpp_like_step(dtype, tol):
    torch.manual_seed(0)
    layer = Recurrent("lstm", 6, 20, num_layers=2).to(dtype).eval()
    h0, c0 = torch.randn(2, 3, 20, dtype=dtype), torch.randn(2, 3, 20, dtype=dtype)
    stream = layer.stream(batch_size=3, state=(h0, c0))
    assert stream.backend == "cpp" and stream.reason is None
    xs = torch.randn(15, 3, 6, dtype=dtype)
    with torch.no_grad():
        ys, refs, (h, c) = run_both(layer, stream, xs, (h0, c0))
    torch.testing.assert_close(ys, refs, rtol=tol, atol=tol)
    sh, sc = stream.state
    torch.testing.assert_close(sh, h, rtol=tol, atol=tol)
    torch.testing.assert_close(sc, c, rtol=tol, atol=tol)
    stream.reset()
    with torch.no_grad():
        ys, refs, _ = run_both(layer, stream, xs[:3])
    torch.testing.assert_close(ys, refs, rtol=tol, atol=tol)


def small_lstm_stream(seed):
    """A 4 -> 8 LSTM in eval mode, a batch-1 stream over it and one input step."""
    torch.manual_seed(seed)
    layer = Recurrent("lstm", 4, 8).eval()
    return layer, layer.stream(), torch.randn(1, 4)


@needs_cpp
def test_outputs_and_state_copies_are_not_overwritten_by_later_steps():
    layer, stream, x = small_lstm_stream(1)
    with torch.no_grad():
        y1 = stream(x)
        h1, _ = stream.state
        kept_y, kept_h = y1.clone(), h1.clone()
        stream(x)
        stream(x)
    assert torch.equal(y1, kept_y) and torch.equal(h1, kept_h)


@needs_cpp
def test_stream_follows_weight_changes_and_dtype_changes():
    layer, stream, x = small_lstm_stream(2)
    with torch.no_grad():
        stream(x)
        state = stream.state
        layer.cell_list[0].weight_hh.mul_(-1.0)
        y_ref, _ = layer.step(x, state)
        torch.testing.assert_close(stream(x), y_ref)
        layer.double()  # the held state is float32: one generic step converts it, then C++ again
        state = stream.state
        y_ref, _ = layer.step(x.double(), state)
        torch.testing.assert_close(stream(x.double()), y_ref)
        assert stream.state[0].dtype == torch.float64
        y_ref, _ = layer.step(x.double(), stream.state)
        torch.testing.assert_close(stream(x.double()), y_ref)


@needs_cpp
def test_gradients_take_the_generic_step_and_then_cpp_continues():
    torch.manual_seed(3)
    layer = Recurrent("lstm", 4, 8).eval()
    stream = layer.stream()
    xs = torch.randn(4, 1, 4)
    y = stream(xs[0])  # grad enabled, parameters require grad: layer.step, a graph
    assert y.requires_grad
    y.sum().backward()
    assert layer.cell_list[0].weight_ih.grad is not None
    state = stream.state
    with torch.no_grad():
        ys, refs, _ = run_both(layer, stream, xs[1:], state)
    torch.testing.assert_close(ys, refs)
    y = stream(xs[0])  # and back to a graph, from the state the C++ steps left
    assert y.requires_grad
    y.sum().backward()


def test_other_cells_and_large_batches_use_layer_step():
    torch.manual_seed(4)
    for layer, B in ((Recurrent("gru", 5, 7, num_layers=2).eval(), 2), (Recurrent("rnn", 5, 7).eval(), 1),
                     (Recurrent("lstm", 5, 7).eval(), cpu_stream.MAX_BATCH + 1)):
        stream = Stream(layer, batch_size=B)
        assert stream.backend == "step" and stream.reason
        xs = torch.randn(5, B, 5)
        with torch.no_grad():
            ys, refs, state = run_both(layer, stream, xs)
        torch.testing.assert_close(ys, refs)
        got = stream.state
        torch.testing.assert_close(got if isinstance(got, torch.Tensor) else got[0],
                                   state if isinstance(state, torch.Tensor) else state[0])


@needs_cpp
@pytest.mark.parametrize("precision, most", [("bfloat16", 2e-2), ("int8", 5e-2)])
def test_reduced_precision_stream_is_close_to_full_precision(precision, most):
    torch.manual_seed(5)
    layer = Recurrent("lstm", 16, 64, num_layers=2).eval()
    full, low = layer.stream(), layer.stream(precision=precision)
    assert low.backend == "cpp" and precision in repr(low)
    xs = torch.randn(30, 1, 16)
    with torch.no_grad():
        a = torch.stack([full(x) for x in xs])
        b = torch.stack([low(x) for x in xs])
        y = torch.empty(1, 64)
        low.reset()
        c = torch.stack([low(x, out=y).clone() for x in xs])
    gap = (a - b).abs().max().item()
    assert 0 < gap < most
    assert torch.equal(b, c)


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="one direction"):
        Recurrent("lstm", 3, 4, bidirectional=True).stream()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        Recurrent("lstm", 3, 4).stream(batch_size=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        Recurrent("lstm", 3, 4).stream(precision="fp8")
    with pytest.raises(ValueError, match="needs the C\\+\\+ stream"):
        Recurrent("gru", 3, 4).stream(precision="bfloat16")
    with pytest.raises(ValueError, match="needs the C\\+\\+ stream"):
        Recurrent("lstm", 3, 4).double().stream(precision="bfloat16")
    with pytest.raises(ValueError, match="precision='int8' needs the C\\+\\+ stream"):
        Recurrent("gru", 3, 4).stream(precision="int8")
    with pytest.raises(ValueError, match="state must be"):
        Recurrent("lstm", 3, 4).stream(batch_size=2, state=(torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))
    stream = Recurrent("lstm", 3, 4).eval().stream(batch_size=2)
    with pytest.raises(ValueError, match=r"\(batch_size, input_size\) = \(2, 3\)"):
        stream(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(batch_size, input_size\)"):
        stream([[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("cell, precision", [("lstm", "full"), ("gru", "full"),
                                             pytest.param("lstm", "int8", marks=needs_cpp)])
def test_input_of_another_dtype_is_refused_as_forward_does(cell, precision):
    stream = Recurrent(cell, 3, 4).eval().stream(batch_size=2, precision=precision)
    with torch.no_grad():
        for dtype in (torch.int64, torch.float64):  # was cast to float32 silently
            with pytest.raises(ValueError, match=f"x_t is {dtype} but the layer's parameters are torch.float32"):
                stream(torch.ones(2, 3, dtype=dtype))
    h = stream.state if cell == "gru" else stream.state[0]
    assert not h.any()  # a refused call leaves the state where it was


@needs_cpp
def test_backend_names_the_path_the_last_call_took():
    layer = Recurrent("lstm", 3, 4, recurrent_dropout=0.5)  # in training mode the noise needs layer.step
    stream = layer.stream()
    assert stream.backend == "step" and "backend='step'" in repr(stream)  # was "cpp"
    with torch.no_grad():
        stream(torch.ones(1, 3))
        assert stream.backend == "step"  # was "cpp"
        layer.eval()
        assert stream.backend == "step"  # the last call's
        stream(torch.ones(1, 3))
        assert stream.backend == "cpp"
    stream(torch.ones(1, 3))  # recording gradients
    assert stream.backend == "step"
    assert layer.eval().stream().backend == "cpp"  # before any call: what a call under no_grad takes


@needs_cpp
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_reduced_precision_refuses_training_noise_and_gradients(precision):
    layer = Recurrent("lstm", 3, 4, num_layers=2, dropout=0.5)
    stream = layer.stream(precision=precision)
    with torch.no_grad(), pytest.raises(ValueError, match="inference in C\\+\\+ only"):
        stream(torch.zeros(1, 3))  # training mode, dropout between layers
    layer.eval()
    with pytest.raises(ValueError, match="gradients"):
        stream(torch.zeros(1, 3))
    with torch.no_grad():
        assert stream(torch.zeros(1, 3)).shape == (1, 4)


@needs_cpp
def test_parameters_replaced_by_assign_are_seen_by_step_and_stream():
    torch.manual_seed(6)
    a, b = Recurrent("lstm", 4, 8).eval(), Recurrent("lstm", 4, 8).eval()
    x = torch.randn(1, 4)
    stream = a.stream()
    with torch.no_grad():
        a.step(x)
        stream(x)
        a.load_state_dict(b.state_dict(), assign=True)  # new Parameter objects, old ones untouched
        want, _ = b.step(x)
        torch.testing.assert_close(a.step(x)[0], want)
        stream.reset()
        torch.testing.assert_close(stream(x), want)


def test_out_receives_y_on_either_path():
    torch.manual_seed(7)
    for layer in (Recurrent("lstm", 4, 8).eval(), Recurrent("gru", 4, 8).eval()):
        a, b = layer.stream(batch_size=2), layer.stream(batch_size=2)
        out = torch.empty(2, 8)
        xs = torch.randn(3, 2, 4)
        with torch.no_grad():
            for x in xs:
                got = a(x, out=out)
                assert got is out
                torch.testing.assert_close(out, b(x))
            out_t = torch.empty(8, 2).t()  # not contiguous: written all the same
            torch.testing.assert_close(a(xs[0], out=out_t), b(xs[0]))
            before = a.state
            with pytest.raises(ValueError, match="out must be a tensor of y_t's shape"):
                a(xs[0], out=torch.empty(3, 8))
            after = a.state  # a refused call leaves the state where it was
            for u, v in zip(before if isinstance(before, tuple) else (before,),
                            after if isinstance(after, tuple) else (after,)):
                assert torch.equal(u, v)


@pytest.fixture
def eager_graphs(monkeypatch):
    """The CUDA-graph path on the CPU: capture runs the two warm-ups, and 'replay' runs the body."""
    from rnnkit.layers import stream as stream_mod

    captured = []

    def fake_capture(fn):
        fn(warmup=True)
        fn(warmup=True)
        captured.append(fn)
        return lambda: fn(warmup=False)

    monkeypatch.setattr(stream_mod, "graph_reason", lambda layer: None)
    monkeypatch.setattr(stream_mod, "capture", fake_capture)
    return captured


@pytest.mark.parametrize("cell", ["gru", "lstm", "mingru"])
def test_graph_path_replays_one_step_over_static_buffers(eager_graphs, cell):
    torch.manual_seed(8)
    layer = Recurrent(cell, 5, 12, num_layers=2).eval()
    if cell == "lstm":  # the CPU would take the C++ path: make it unavailable here
        layer = Recurrent(cell, 5, 12, num_layers=2, layer_norm=True).eval()
    stream = layer.stream(batch_size=cpu_stream.MAX_BATCH + 1 if cell == "lstm" else 2)
    assert stream.backend == "graph" and stream.reason is None
    B = stream.batch_size
    xs = torch.randn(6, B, 5)
    with torch.no_grad():
        ys, refs, state = run_both(layer, stream, xs)  # the warm-ups did not move the state
    torch.testing.assert_close(ys, refs)
    first = [s[0] if isinstance(s, tuple) else s for s in (stream.state, state)]
    torch.testing.assert_close(first[0], first[1])
    assert len(eager_graphs) == 1  # captured once, replayed six times


def test_graph_is_captured_again_when_a_parameter_is_replaced_and_kept_on_reset(eager_graphs):
    torch.manual_seed(9)
    layer, other = Recurrent("gru", 4, 8).eval(), Recurrent("gru", 4, 8).eval()
    stream = layer.stream()
    x = torch.randn(1, 4)
    with torch.no_grad():
        stream(x)
        layer.cell_list[0].weight_hh.mul_(0.5)  # in place: the graph reads the new values as they are
        state = stream.state
        torch.testing.assert_close(stream(x), layer.step(x, state)[0])
        assert len(eager_graphs) == 1
        layer.load_state_dict(other.state_dict(), assign=True)  # new storage: capture again
        state = stream.state
        torch.testing.assert_close(stream(x), other.step(x, state)[0])
        assert len(eager_graphs) == 2
        stream.reset()  # zeros into the same buffers: the graph stays
        torch.testing.assert_close(stream(x), other.step(x)[0])
        assert len(eager_graphs) == 2
    y = stream(x)  # gradients: the eager step, then a fresh capture without them
    assert y.requires_grad
    with torch.no_grad():
        state = stream.state
        torch.testing.assert_close(stream(x), other.step(x, state)[0])
    assert len(eager_graphs) == 3


def test_graph_stream_backend_follows_the_last_call(eager_graphs):
    stream = Recurrent("gru", 3, 4).eval().stream(batch_size=2)
    assert stream.backend == "graph"
    stream(torch.ones(2, 3))  # recording gradients: layer.step
    assert stream.backend == "step"
    with torch.no_grad():
        stream(torch.ones(2, 3))
    assert stream.backend == "graph"


def test_a_failed_capture_leaves_the_stream_eager(monkeypatch):
    from rnnkit.layers import stream as stream_mod

    def refuse(fn):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(stream_mod, "graph_reason", lambda layer: None)
    monkeypatch.setattr(stream_mod, "capture", refuse)
    torch.manual_seed(10)
    layer = Recurrent("gru", 3, 6).eval()
    stream = layer.stream()
    xs = torch.randn(3, 1, 3)
    with torch.no_grad():
        ys, refs, _ = run_both(layer, stream, xs)
    torch.testing.assert_close(ys, refs)
    assert stream.backend == "step" and "capture failed" in stream.reason


def test_graph_step_body_warmup_leaves_the_state():
    from rnnkit.layers.stream import GraphStep

    torch.manual_seed(11)
    layer = Recurrent("lstm", 3, 5).eval()
    parts = (torch.randn(1, 2, 5), torch.randn(1, 2, 5))
    before = tuple(p.clone() for p in parts)
    step = GraphStep(layer, (2, 3), parts)
    step.x.copy_(torch.randn(2, 3))
    with torch.no_grad():
        step.body(warmup=True)
        assert all(torch.equal(a, b) for a, b in zip(parts, before))
        y_ref, (h, c) = layer.step(step.x, before)
        step.body()
    torch.testing.assert_close(step.y, y_ref)
    torch.testing.assert_close(parts[0], h)
    torch.testing.assert_close(parts[1], c)


@pytest.mark.parametrize("precision", ["full", "int8"])
def test_copies_and_pickles_step_on_their_own(precision):
    if precision != "full" and cpu_stream.load_library() is None:
        pytest.skip("no C++ compiler here")
    torch.manual_seed(8)
    layer = Recurrent("lstm", 4, 8).eval()
    xs = torch.randn(6, 1, 4)
    with torch.no_grad():
        for make in (copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))):
            stream = layer.stream(precision=precision)
            for x in xs[:3]:
                stream(x)
            twin = make(stream)
            before = stream.state[0].clone()
            ys = [twin(x) for x in xs[3:]]
            assert torch.equal(stream.state[0], before)  # the twin's steps leave the original alone
            want = [stream(x) for x in xs[3:]]
            torch.testing.assert_close(torch.stack(ys), torch.stack(want))
