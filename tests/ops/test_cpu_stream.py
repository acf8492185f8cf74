"""The C++ stream step (ops/cpu_stream.py) computes torch's LSTM step, on any thread count."""

import copy
import ctypes
import pickle
import threading

import pytest
import torch

from rnnkit import Recurrent
from rnnkit.ops import cpu_stream
from rnnkit.ops.fast_step import StepRunner, fast_step

pytestmark = pytest.mark.skipif(cpu_stream.load_library() is None, reason="no C++ compiler here")


def torch_step(layer, x, h0, c0):
    """Reference: ``torch.lstm_cell`` layer by layer."""
    hs, cs, inp = [], [], x
    for l, cell in enumerate(layer.cell_list):
        h, c = torch.lstm_cell(inp, (h0[l], c0[l]), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        hs.append(h)
        cs.append(c)
        inp = h
    return torch.stack(hs), torch.stack(cs)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request, monkeypatch):
    monkeypatch.setattr(cpu_stream, "BYTES_PER_THREAD", 1)  # even tiny layers use every thread here
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float64, 1e-13)], ids=["f32", "f64"])
@pytest.mark.parametrize("I, H, L, B", [(256, 256, 1, 1), (13, 100, 2, 3), (7, 33, 3, 8), (1, 1, 1, 2)])
def test_step_equals_torch_lstm_cell(threads, dtype, tol, I, H, L, B):
    torch.manual_seed(0)
    layer = Recurrent("lstm", I, H, num_layers=L).to(dtype)
    step = cpu_stream.StepLSTM(layer.cell_list)
    x = torch.randn(B, I, dtype=dtype)
    h0, c0 = torch.randn(L, B, H, dtype=dtype), torch.randn(L, B, H, dtype=dtype)
    with torch.no_grad():
        h1, c1 = step(x, h0, c0)
        h_ref, c_ref = torch_step(layer, x, h0, c0)
        torch.testing.assert_close(h1, h_ref, rtol=tol, atol=tol)
        torch.testing.assert_close(c1, c_ref, rtol=tol, atol=tol)
        h1, c1 = step(x, None, None)  # zeros
        zeros = torch.zeros(L, B, H, dtype=dtype)
        torch.testing.assert_close(h1, torch_step(layer, x, zeros, zeros)[0], rtol=tol, atol=tol)


def test_packing_puts_each_units_four_gates_side_by_side():
    H, K, U = 5, 3, 4
    Hp = cpu_stream.padded(H, U)
    w = torch.arange(4 * H * K, dtype=torch.float64).reshape(4 * H, K)
    p = cpu_stream.pack_gates(w, H, Hp, U)  # (nb, K, 4U)
    assert p.shape == (2, K, 4 * U)
    for j in range(2):
        for k in range(K):
            for g in range(4):
                for u in range(U):
                    unit = j * U + u
                    want = w[g * H + unit, k] if unit < H else 0.0
                    assert p[j, k, g * U + u] == want


def test_weight_changes_dtype_changes_and_copies_are_seen():
    torch.manual_seed(1)
    layer = Recurrent("lstm", 4, 6, num_layers=2)
    x = torch.randn(1, 4)
    with torch.no_grad():
        y0, _ = layer.step(x)
        layer.cell_list[1].weight_ih.mul_(2.0)  # in place: _version changes
        y1, (h1, c1) = layer.step(x)
        assert not torch.allclose(y0, y1)
        torch.testing.assert_close(h1, torch_step(layer, x, torch.zeros(2, 1, 6), torch.zeros(2, 1, 6))[0])
        clone = copy.deepcopy(layer)
        again = pickle.loads(pickle.dumps(layer))
        del layer
        for other in (clone, again):
            torch.testing.assert_close(other.step(x)[0], y1)
        clone.double()
        torch.testing.assert_close(clone.step(x.double())[0], y1.double(), rtol=1e-6, atol=1e-6)


def test_step_runner_takes_the_stream_up_to_max_batch_and_torch_above():
    torch.manual_seed(2)
    layer = Recurrent("lstm", 3, 5, num_layers=2).double()
    runner = StepRunner(layer)
    assert runner.stream is not None
    for B in (1, cpu_stream.MAX_BATCH, cpu_stream.MAX_BATCH + 1):
        x = torch.randn(B, 3, dtype=torch.float64)
        state = (torch.randn(2, B, 5, dtype=torch.float64), torch.randn(2, B, 5, dtype=torch.float64))
        with torch.no_grad():
            y, (h, c) = runner(x, state)
            h_ref, c_ref = torch_step(layer, x, *state)
        torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(y, h_ref[-1])


def test_threads_follow_the_weights_read_per_step(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert cpu_stream.threads_for(100 << 10) == 1  # a small layer: one core
    assert cpu_stream.threads_for(2 * cpu_stream.BYTES_PER_THREAD) == 2
    assert cpu_stream.threads_for(100 << 20) == 4  # never more than torch's count


def test_without_a_compiler_the_runner_steps_with_torch(monkeypatch):
    monkeypatch.setattr(cpu_stream, "load_library", lambda: None)
    layer = Recurrent("lstm", 3, 4)
    runner = StepRunner(layer)
    assert runner.stream is None
    with pytest.raises(RuntimeError, match="not available"):
        cpu_stream.StepLSTM(layer.cell_list)
    x = torch.randn(2, 3)
    with torch.no_grad():
        y, (h, c) = runner(x, None)
    torch.testing.assert_close(h, torch_step(layer, x, torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))[0])


def test_threads_stepping_their_own_layers_at_once_agree_with_torch(monkeypatch):
    """ctypes drops the GIL: four Python threads share (or are refused) the worker pool at once."""
    monkeypatch.setattr(cpu_stream, "BYTES_PER_THREAD", 1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(3)
        layers = [Recurrent("lstm", 8, 64, num_layers=2).double() for _ in range(4)]
        xs = [torch.randn(50, 1, 8, dtype=torch.float64) for _ in layers]
        errors: list[float] = []

        def run(layer, x):
            state = ref = None
            with torch.no_grad():
                for t in range(x.shape[0]):
                    _, state = fast_step(layer, x[t], state)
                    zeros = torch.zeros(2, 1, 64, dtype=torch.float64)
                    ref = torch_step(layer, x[t], *(ref if ref is not None else (zeros, zeros)))
                    errors.append(float((state[0] - ref[0]).abs().max()))

        workers = [threading.Thread(target=run, args=pair) for pair in zip(layers, xs)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert len(errors) == 200 and max(errors) < 1e-12
    finally:
        torch.set_num_threads(before)


def bf16_reference(layer, x, h0, c0, below=None):
    """``torch_step`` with the weights and the inputs ``[x; h]`` rounded to bfloat16 (what
    ``precision="bfloat16"`` promises); products and sums in float64 (``below``: unused, see
    :func:`int8_reference`)."""
    hs, cs, inp = [], [], x
    r = lambda t: t.bfloat16().double()  # noqa: E731
    for l, cell in enumerate(layer.cell_list):
        w = r(torch.cat([cell.weight_ih, cell.weight_hh], 1))
        g = r(torch.cat([inp, h0[l]], 1)) @ w.t() + (cell.bias_ih + cell.bias_hh).double()
        i, f, gg, o = g.chunk(4, 1)
        c = torch.sigmoid(f) * c0[l].double() + torch.sigmoid(i) * torch.tanh(gg)
        h = (torch.sigmoid(o) * torch.tanh(c)).float()
        hs.append(h)
        cs.append(c.float())
        inp = h
    return torch.stack(hs), torch.stack(cs)


def test_bfloat16_pairs_hold_each_rows_two_weights_side_by_side():
    nb, K, G = 2, 3, 8
    packed = torch.arange(nb * K * G, dtype=torch.float32).reshape(nb, K, G)  # small ints: exact in bf16
    pairs = cpu_stream.pack_pairs_bf16(packed).view(torch.bfloat16).float()
    assert pairs.shape == (nb, 2, G, 2)  # K=3 padded to 4
    for j in range(nb):
        for k in range(4):
            for r in range(G):
                want = packed[j, k, r] if k < K else 0.0
                assert pairs[j, k // 2, r, k % 2] == want


def test_bfloat16_needs_float32_cells_and_a_known_precision():
    layer = Recurrent("lstm", 3, 4)
    with pytest.raises(ValueError, match="precision must be one of"):
        cpu_stream.StepLSTM(layer.cell_list, precision="half")
    with pytest.raises(ValueError, match="float32 cells"):
        cpu_stream.StepLSTM(layer.double().cell_list, precision="bfloat16")


def test_bfloat16_without_avx512_bf16_computes_the_same(monkeypatch):
    """The portable build (no AVX512-BF16) spells the pairwise products out: same results."""
    torch.manual_seed(5)
    layer = Recurrent("lstm", 9, 40, num_layers=2)
    x, h0, c0 = torch.randn(2, 9), torch.randn(2, 2, 40), torch.randn(2, 2, 40)
    base = cpu_stream._isa_flags
    cpu_stream.load_library.cache_clear()
    cpu_stream._function.cache_clear()
    monkeypatch.setattr(cpu_stream, "_isa_flags", lambda: [f for f in base() if f != "-mavx512bf16"])
    try:
        assert not cpu_stream.has_avx512_bf16()
        with torch.no_grad():
            h1, c1 = cpu_stream.StepLSTM(layer.cell_list, precision="bfloat16")(x, h0, c0)
    finally:
        monkeypatch.setattr(cpu_stream, "_isa_flags", base)
        cpu_stream.load_library.cache_clear()
        cpu_stream._function.cache_clear()
    h_ref, c_ref = bf16_reference(layer, x, h0, c0)
    torch.testing.assert_close(h1, h_ref, rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(c1, c_ref, rtol=2e-5, atol=2e-5)


def int8_quant(v):
    """``precision="int8"``'s inputs as the kernel multiplies them (codes times the row's scale), float64."""
    q, t = cpu_stream.quantize_activations(v)
    return q.double() * t.double()


def int8_weights(w):
    """A weight ``(4H, K)`` quantized per row as ``quantize_rows`` promises, in float64."""
    m = w.detach().abs().amax(1, keepdim=True)
    s = torch.where(m > 0, m / 127, torch.ones_like(m))
    return torch.round(w.detach() / s).clamp(-127, 127).double() * s.double()


def int8_reference(layer, x, h0, c0, below):
    """``torch_step`` with ``precision="int8"``'s quantization (:func:`int8_quant`, :func:`int8_weights`),
    products and sums in float64. Layer ``l > 0`` reads ``below[l - 1]``, the kernel's own output of the
    layer under it (so both quantize the same inputs)."""
    hs, cs = [], []
    for l, cell in enumerate(layer.cell_list):
        inp = x if l == 0 else below[l - 1]
        g = int8_quant(inp) @ int8_weights(cell.weight_ih).t() + int8_quant(h0[l]) @ int8_weights(cell.weight_hh).t()
        i, f, gg, o = (g + (cell.bias_ih + cell.bias_hh).double()).chunk(4, 1)
        c = torch.sigmoid(f) * c0[l].double() + torch.sigmoid(i) * torch.tanh(gg)
        hs.append((torch.sigmoid(o) * torch.tanh(c)).float())
        cs.append(c.float())
    return torch.stack(hs), torch.stack(cs)


REDUCED = {  # precision: (reference, tolerance against it, most distance from float32, most bytes vs float32)
    "bfloat16": (bf16_reference, 2e-5, 1e-2, 0.55),
    "int8": (int8_reference, 1e-5, 5e-2, 0.3),
}


@pytest.mark.parametrize("precision", list(REDUCED))
@pytest.mark.parametrize("I, H, L, B", [(256, 256, 1, 1), (13, 100, 2, 3), (6, 33, 3, 8), (1, 1, 1, 2)])
def test_reduced_precision_step_computes_what_its_precision_promises(threads, precision, I, H, L, B):
    """bfloat16: weights and inputs rounded, float32 sums. int8: weights quantized per row, x and h
    per step, integer sums. Each checked against its float64 reference, and near float32."""
    reference, tol, most, smaller = REDUCED[precision]
    torch.manual_seed(7)
    layer = Recurrent("lstm", I, H, num_layers=L)
    step = cpu_stream.StepLSTM(layer.cell_list, precision=precision)
    full = cpu_stream.StepLSTM(layer.cell_list)
    x = torch.randn(B, I) * 3
    h0, c0 = torch.rand(L, B, H) * 2 - 1, torch.randn(L, B, H)
    h0[:, 0] = 0  # a row of zeros (int8: scale 1, every code 128)
    with torch.no_grad():
        h1, c1 = step(x, h0, c0)
        h_ref, c_ref = reference(layer, x, h0, c0, below=h1)
        torch.testing.assert_close(h1, h_ref, rtol=tol, atol=tol)
        torch.testing.assert_close(c1, c_ref, rtol=tol, atol=tol)
        h_full, _ = full(x, h0, c0)
        gap = (h1 - h_full).abs().max().item()
        assert 0 < gap < most  # rounded, not garbage (odd sizes pad their pairs / quads with zeros)
        if H > 1:  # a half or a quarter of the bytes per step, with the padding
            assert step.packed().nbytes < smaller * full.packed().nbytes


def test_int8_activations_are_quantized_within_half_a_step():
    v = torch.tensor([[0.5, -2.0, 1e-3, 0.0], [0.0, 0.0, 0.0, 0.0]])
    q, t = cpu_stream.quantize_activations(v)
    assert t[1, 0] == 1 and (q[1] == 0).all()
    assert q[0, 1] == -127 and t[0, 0] == torch.tensor(2.0) * (torch.tensor(1.0) / torch.tensor(127.0))
    assert ((q * t - v).abs() <= t / 2 + 1e-7).all()


def test_int8_rows_are_quantized_within_half_a_step():
    torch.manual_seed(8)
    packed = torch.randn(2, 7, 128)
    packed[1, :, 5] = 0  # a row of zeros
    q, scale, corr = cpu_stream.quantize_rows(packed)
    assert q.dtype == torch.int8 and q.shape == (2, 2, 128, 4)  # K=7 padded to 8 (two quads)
    w = q.transpose(2, 3).reshape(2, 8, 128)  # back to (nb, K, rows)
    assert (w[:, 7] == 0).all()
    err = (w[:, :7].float() * scale[:, None, :] - packed).abs()
    assert (err <= scale[:, None, :] / 2 + 1e-7).all()
    assert (w.abs() <= 127).all() and (w.abs().amax(1)[scale != 1] == 127).all()
    assert torch.equal(corr, w.sum(1).to(torch.int32) * 128)
    assert scale[1, 5] == 1


def test_int8_without_avx512_vnni_computes_the_same(monkeypatch):
    """The portable build (no AVX512-VNNI) spells the integer products out: the same results."""
    torch.manual_seed(9)
    layer = Recurrent("lstm", 9, 40, num_layers=2)
    x, h0, c0 = torch.randn(2, 9), torch.randn(2, 2, 40), torch.randn(2, 2, 40)
    with torch.no_grad():
        fast = cpu_stream.StepLSTM(layer.cell_list, precision="int8")(x, h0, c0)
    base = cpu_stream._isa_flags
    cpu_stream.load_library.cache_clear()
    cpu_stream._function.cache_clear()
    monkeypatch.setattr(cpu_stream, "_isa_flags", lambda: [f for f in base() if f != "-mavx512vnni"])
    try:
        assert not cpu_stream.has_avx512_vnni()
        with torch.no_grad():
            slow = cpu_stream.StepLSTM(layer.cell_list, precision="int8")(x, h0, c0)
    finally:
        monkeypatch.setattr(cpu_stream, "_isa_flags", base)
        cpu_stream.load_library.cache_clear()
        cpu_stream._function.cache_clear()
    torch.testing.assert_close(slow, fast, rtol=1e-6, atol=1e-6)


def test_int8_carries_nan_and_needs_float32_cells():
    layer = Recurrent("lstm", 5, 8)
    step = cpu_stream.StepLSTM(layer.cell_list, precision="int8")
    x = torch.randn(1, 5)
    x[0, 2] = float("nan")
    with torch.no_grad():
        h1, c1 = step(x, torch.zeros(1, 1, 8), torch.zeros(1, 1, 8))
    assert h1.isnan().all() and c1.isnan().all()  # as float32 would: no silent garbage
    with pytest.raises(ValueError, match="float32 cells"):
        cpu_stream.StepLSTM(layer.double().cell_list, precision="int8")


def test_writes_through_data_are_seen_by_the_step_and_the_stream():
    """Writes through ``p.data`` (old-style initialisation, averaging of weights) leave the version
    counter alone; the packed weights see them through their sampled elements."""
    torch.manual_seed(4)
    layer = Recurrent("lstm", 5, 7, num_layers=2).eval()
    stream = layer.stream(batch_size=1)
    x, zeros = torch.randn(1, 5), torch.zeros(2, 1, 7)
    with torch.no_grad():
        layer.step(x)
        stream(x)  # both packed now
        for write in (lambda p: p.data.copy_(torch.randn_like(p) * 0.5), lambda p: p.data.mul_(0.5)):
            for p in layer.parameters():
                version = p._version
                write(p)
                assert p._version == version  # unseen by the counter
            want = torch_step(layer, x, zeros, zeros)[0][-1]
            torch.testing.assert_close(layer.step(x)[0], want)
            stream.reset()
            torch.testing.assert_close(stream(x), want)
        h, c = stream.state  # mid-stream (no reset: the kernel itself finds its weights stale)
        for p in layer.parameters():
            p.data.copy_(torch.randn_like(p) * 0.5)
        torch.testing.assert_close(stream(x), torch_step(layer, x, h, c)[0][-1])


def test_the_sampled_elements_are_spread_over_strided_tensors_too():
    t = torch.arange(24.0).reshape(4, 6).t()  # not contiguous: element (i, j) sits at 6 j + i
    one = torch.tensor([7.0], dtype=torch.float64)  # held: the table holds addresses, not tensors
    table = cpu_stream.probe_table([t, torch.empty(0), one])
    n, rows = int(table[0]), table[1:].view(-1, 2).tolist()
    assert n == len(rows) == cpu_stream.PROBES + 1  # the empty tensor has none; one element once
    values = [ctypes.c_float.from_address(a).value if size == 4 else ctypes.c_double.from_address(a).value
              for a, size in rows]
    flat = t.flatten().tolist()
    assert values == [flat[0], flat[7], flat[15], flat[23], 7.0]  # first to last, in t's own order
    watch = cpu_stream.ParamsWatch()
    params = [torch.randn(3, 4), torch.randn(4)]
    assert watch.changed(params)  # nothing marked yet
    watch.mark(params)
    assert not watch.changed(params)
    params[0].data[2, 3] += 1  # the last element: sampled, the version counter untouched
    assert watch.changed(params)
    watch.mark(params)
    params[1].add_(1)  # in place: the counter
    assert watch.changed(params)
    watch.mark(params)
    assert watch.changed([params[0], params[1].clone()])  # another storage


@pytest.mark.parametrize("precision, dtype", [("full", torch.float32), ("full", torch.float64),
                                              ("bfloat16", torch.float32), ("int8", torch.float32)])
def test_saturated_gates_saturate_instead_of_turning_nan(precision, dtype):
    """Gate sums of hundreds: exp overflows, and under -ffast-math the vector reciprocal turned
    1/inf into NaN (h = NaN for sums past about -44). The kernels clamp exp's argument."""
    torch.manual_seed(5)
    layer = Recurrent("lstm", 16, 40, num_layers=2).to(dtype)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(60)
        x = torch.randn(3, 16, dtype=dtype)
        h0, c0 = torch.rand(2, 3, 40, dtype=dtype) * 2 - 1, torch.randn(2, 3, 40, dtype=dtype)
        h1, c1 = cpu_stream.StepLSTM(layer.cell_list, precision=precision)(x, h0, c0)
        h_ref, c_ref = torch_step(layer, x, h0, c0)
        assert h_ref.abs().amax() > 0.99  # saturated indeed
        assert h1.isfinite().all() and c1.isfinite().all()
        if precision == "full":
            torch.testing.assert_close(h1, h_ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(c1, c_ref, rtol=1e-5, atol=1e-5)
            x[1, 3] = float("nan")  # a NaN input still makes its row NaN, not a clamped value
            h1, _ = cpu_stream.StepLSTM(layer.cell_list, precision=precision)(x, h0, c0)
            assert h1[:, 1].isnan().all() and h1[:, [0, 2]].isfinite().all()


def test_a_layer_built_under_inference_mode_steps_and_sees_its_weights_change():
    """Inference tensors have no version counter (reading it raised); the sampled elements alone
    then tell the packed weights that a parameter changed."""
    torch.manual_seed(10)
    with torch.inference_mode():
        layer = Recurrent("lstm", 5, 7, num_layers=2).eval()
        x, zeros = torch.randn(2, 5), torch.zeros(2, 2, 7)
        stream = layer.stream(batch_size=2)
        torch.testing.assert_close(layer.step(x)[0], torch_step(layer, x, zeros, zeros)[0][-1])
        torch.testing.assert_close(stream(x), torch_step(layer, x, zeros, zeros)[0][-1])
        for p in layer.parameters():
            p.mul_(0.5)  # in place, no counter
        stream.reset()
        torch.testing.assert_close(layer.step(x)[0], torch_step(layer, x, zeros, zeros)[0][-1])
        torch.testing.assert_close(stream(x), torch_step(layer, x, zeros, zeros)[0][-1])


def test_the_watch_keeps_what_it_samples_alive():
    """Reassigning ``p.data`` frees the old storage; the watch holds it, so reading its samples
    stays safe, and the new storage counts as a change."""
    p = torch.nn.Parameter(torch.randn(64, 64))
    watch = cpu_stream.ParamsWatch()
    watch.mark([p])
    old = p.data_ptr()
    p.data = torch.randn(64, 64)
    assert p.data_ptr() != old and watch.changed([p])
    assert watch._probe(watch._address) == watch._digest  # the old storage, still readable, unchanged
