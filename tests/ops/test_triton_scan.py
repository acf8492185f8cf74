"""The fused Triton scan equals the sequential recurrence and ``ops/scan.py``, values and gradients.

The kernels run on the CPU through Triton's interpreter (``TRITON_INTERPRET=1``, set here before
the kernels are defined); with CUDA the same tests run the compiled kernels on the GPU. The
interpreter is slow, so sizes are tiny and ``scan_config`` is shrunk to chunks of 8 steps by 4
channels: every test crosses chunk and channel-block boundaries.
"""


import pytest
import torch

from triton_interpreter import use_triton_interpreter

use_triton_interpreter("rnnkit.ops.triton_scan")
import rnnkit.ops.triton_scan as ts  # noqa: E402
from rnnkit import Recurrent  # noqa: E402
from rnnkit.cells import MinGRUCell, MinLSTMCell  # noqa: E402
from rnnkit.layers.backends import get_backend  # noqa: E402
from rnnkit.layers.scan_backends import TritonScanBackend  # noqa: E402
from rnnkit.ops.scan import linear_scan_log  # noqa: E402

REAL_SCAN_CONFIG = ts.scan_config  # before the fixture below shrinks it
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the interpreter on CPU tensors, else the GPU


@pytest.fixture(autouse=True)
def small_tiles_on_device(monkeypatch):
    monkeypatch.setattr(ts, "scan_config", lambda H, T: ts.ScanConfig(8, 4))
    torch.set_default_device(DEVICE)
    yield
    torch.set_default_device(None)  # not "cpu": that would leave a DeviceContext mode on every later call


def sequential(a, b, h0=None, lengths=None):
    """The recurrence one step at a time (float64); steps past a length keep h and output 0."""
    B, T, H = a.shape
    h = torch.zeros(B, H, dtype=a.dtype) if h0 is None else h0
    n = torch.full((B,), T) if lengths is None else lengths
    outs = []
    for t, (a_t, b_t) in enumerate(zip(a.unbind(1), b.unbind(1))):
        keep = (t < n).view(B, 1)
        h = torch.where(keep, a_t * h + b_t, h)
        outs.append(h * keep)
    return torch.stack(outs, 1), h


def grads(fn, inputs, g_out, g_last):
    out, last = fn(*inputs)
    return torch.autograd.grad((out * g_out).sum() + (last * g_last).sum(), inputs)


@pytest.mark.parametrize("segment", [0, 8, 16])
def test_linear_scan_matches_sequential_with_state_and_lengths(monkeypatch, segment):
    # 21 steps (3 chunks, the last one short) in one program, or in 3 or 2 segments along time; lengths
    # ending in the first, a middle and the last segment, and one empty sequence: outputs, final states
    # and every gradient (the interpreter's time grows with programs x chunks: 3 chunks are the fewest
    # that give a middle segment)
    monkeypatch.setattr(ts, "scan_config", lambda H, T: ts.ScanConfig(8, 4, segment=segment))
    torch.manual_seed(0)
    B, T, H = 4, 21, 6
    a = torch.rand(B, T, H).requires_grad_()
    b = torch.randn(B, T, H).requires_grad_()
    h0 = torch.randn(B, H).requires_grad_()
    lengths = torch.tensor([21, 5, 13, 0])
    out, last = ts.triton_linear_scan(a, b, h0, lengths)
    ref, ref_last = sequential(a.double(), b.double(), h0.double(), lengths)
    torch.testing.assert_close(out, ref.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(last, ref_last.float(), rtol=1e-5, atol=1e-6)
    g_out, g_last = torch.randn(B, T, H), torch.randn(B, H)
    got = grads(lambda a, b, h: ts.triton_linear_scan(a, b, h, lengths), (a, b, h0), g_out, g_last)
    want = grads(lambda a, b, h: sequential(a, b, h, lengths), (a, b, h0), g_out, g_last)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell_type, kind", [(MinGRUCell, "mingru"), (MinLSTMCell, "minlstm")])
def test_gated_scan_matches_log_space_scan_and_gradients(cell_type, kind):
    torch.manual_seed(1)
    B, T, H = 2, 13, 5  # 2 chunks (the second short) by 2 channel blocks
    cell = cell_type(3, H)
    xp = (cell.project_input(torch.randn(B, T, 3)) * 3).detach().requires_grad_()  # gates far from 0.5
    h0 = torch.randn(B, H, requires_grad=True)

    def reference(xp, h0):  # ops/scan.py (float64 log space) on the cell's own coefficients
        h = linear_scan_log(*cell.log_coefficients(xp), h0)
        return h, h[:, -1]

    out, last = ts.triton_gated_scan(xp, kind, h0)
    ref, ref_last = reference(xp, h0)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(last, ref_last, rtol=1e-5, atol=1e-6)
    g_out, g_last = torch.randn(B, T, H), torch.randn(B, H)
    got = grads(lambda x, h: ts.triton_gated_scan(x, kind, h), (xp, h0), g_out, g_last)
    want = grads(reference, (xp, h0), g_out, g_last)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_bfloat16_inputs_accumulate_in_float32():
    torch.manual_seed(2)
    cell = MinGRUCell(3, 4)
    xp = cell.project_input(torch.randn(2, 40, 3)).detach()
    out, last = ts.triton_gated_scan(xp.bfloat16(), "mingru")
    assert out.dtype == last.dtype == torch.bfloat16
    ref = linear_scan_log(*cell.log_coefficients(xp.bfloat16().float()))
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)  # one bf16 rounding per output


@pytest.mark.parametrize("segment", [0, 256])
def test_stable_over_long_sequences_with_saturated_gates(monkeypatch, segment):
    # Gates near 0 and 1, where a float32 log-space cumsum drifts; the linear-space carry does not.
    # (The interpreter allows ~1k steps here; benchmarks/gpu_long_stream.sh checks 100k on a GPU.)
    # the carry crosses 8 chunks, through the pipelined loop (num_stages=2), and 4 segments
    monkeypatch.setattr(ts, "scan_config", lambda H, T: ts.ScanConfig(128, 2, num_stages=2, segment=segment))
    torch.manual_seed(3)
    T = 1024
    k = torch.randn(1, T, 2) * 20
    a, b = torch.sigmoid(-k), torch.sigmoid(k) * (torch.rand(1, T, 2) + 0.5)
    out, last = ts.triton_linear_scan(a, b)
    ref, _ = sequential(a.double(), b.double())
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref.float(), rtol=1e-5, atol=1e-6)


def test_backend_matches_loop_bidirectional_stacked_with_lengths_and_state():
    torch.manual_seed(4)
    layer = Recurrent("minlstm", 3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(2, 11, 3)  # 2 chunks; the second sequence ends in the first
    lengths = torch.tensor([11, 6])
    state = torch.randn(4, 2, 4)
    out, h = TritonScanBackend().run(layer, x, lengths, (state,))  # supports() says CPU: call run directly
    ref_out, ref_h = get_backend("loop").run(layer, x, lengths, (state,))
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h[0], ref_h[0], rtol=1e-5, atol=1e-6)
    params = list(layer.parameters())
    g = torch.randn_like(out)
    got = torch.autograd.grad((out * g).sum() + h[0].sum(), params)
    want = torch.autograd.grad((ref_out * g).sum() + ref_h[0].sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_supports_says_why_not():
    torch.set_default_device("cpu")
    backend = TritonScanBackend()
    assert backend.supports(Recurrent("mingru", 3, 4)) == "no CUDA device (the layer is on the CPU)"
    assert "only mingru and minlstm" in backend.supports(Recurrent("lstm", 3, 4))
    assert "zoneout" in backend.supports(Recurrent("mingru", 3, 4, zoneout=0.1))
    assert "'triton-scan' cannot: no CUDA device" in Recurrent("minlstm", 3, 4).explain()


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match=r"\(B, T, 2H\)"):
        ts.triton_gated_scan(torch.zeros(1, 2, 5), "mingru")
    with pytest.raises(ValueError, match="b must have shape"):
        ts.triton_linear_scan(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="'mingru' or 'minlstm'"):
        ts.triton_gated_scan(torch.zeros(1, 2, 4), "gru")


def test_scan_config_reads_an_override_and_names_what_is_wrong(monkeypatch):
    monkeypatch.delenv("RNNKIT_SCAN_CONFIG", raising=False)
    assert REAL_SCAN_CONFIG(512, 4096) == ts.ScanConfig(32, 16, 2, 3)
    assert REAL_SCAN_CONFIG(3, 5) == ts.ScanConfig(8, 4, 2, 3)  # no wider than the data (powers of 2)
    monkeypatch.setenv("RNNKIT_SCAN_CONFIG", "64,32,4,1")
    assert REAL_SCAN_CONFIG(512, 4096) == ts.ScanConfig(64, 32, 4, 1)
    monkeypatch.setenv("RNNKIT_SCAN_CONFIG", "64,32,4,1,512")
    assert REAL_SCAN_CONFIG(512, 4096) == ts.ScanConfig(64, 32, 4, 1, 512)
    for bad, match in [("64,32", r"must be 'chunk,bh,num_warps,num_stages\[,segment\]'"), ("a,b,c,d", "integers"),
                       ("48,16,4,1", "chunk must be a power of 2"), ("64,16,3,1", "num_warps must be a power"),
                       ("64,16,4,0", "num_stages must be at least 1"), ("64,16,4,1,-1", "segment must be >= 0"),
                       ("64,16,4,1,8,9", "integers")]:
        monkeypatch.setenv("RNNKIT_SCAN_CONFIG", bad)
        with pytest.raises(ValueError, match=match):
            REAL_SCAN_CONFIG(512, 4096)


def test_segments_round_up_to_whole_chunks_and_cover_the_sequence():
    assert ts.ScanConfig(32, 16).segments(4096) == (4096, 1)  # 0: one program walks it all
    assert ts.ScanConfig(32, 16, segment=512).segments(4096) == (512, 8)
    assert ts.ScanConfig(32, 16, segment=500).segments(4096) == (512, 8)  # whole chunks
    assert ts.ScanConfig(32, 16, segment=512).segments(1000) == (512, 2)  # the last one short
    assert ts.ScanConfig(32, 16, segment=512).segments(300) == (300, 1)
    assert ts.ScanConfig(8, 4, segment=8).segments(0) == (1, 1)


@pytest.mark.parametrize("cell_type, kind", [(MinGRUCell, "mingru"), (MinLSTMCell, "minlstm")])
def test_segmented_gated_scan_equals_the_unsegmented_kernel(monkeypatch, cell_type, kind):
    # 3 segments of one chunk each (the last one short), the second sequence ending in the middle one
    torch.manual_seed(6)
    B, T, H = 2, 21, 5
    cell = cell_type(3, H)
    xp = (cell.project_input(torch.randn(B, T, 3)) * 3).detach().requires_grad_()
    h0 = torch.randn(B, H, requires_grad=True)
    g_out, g_last = torch.randn(B, T, H), torch.randn(B, H)
    results = []
    for segment in (0, 8):
        monkeypatch.setattr(ts, "scan_config", lambda H, T, s=segment: ts.ScanConfig(8, 4, segment=s))
        out, last = ts.triton_gated_scan(xp, kind, h0, torch.tensor([21, 12]))
        results.append((out, last, *torch.autograd.grad((out * g_out).sum() + (last * g_last).sum(), (xp, h0))))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
