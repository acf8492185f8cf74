#!/usr/bin/env bash
# Issue 8 on a GPU, in under 5 minutes: the fused scan and graph-captured decoding, checked and timed.
#
#   bash benchmarks/gpu_long_stream.sh [OUT_DIR]        (default: $OUT, else /tmp/gpu_long_stream)
#
# 1. the kernel tests compiled for the GPU (the same files run under TRITON_INTERPRET=1 on a CPU);
# 2. GPU-only checks: 100k steps against the float64 scan, bf16, "auto" picking triton-scan,
#    graph-replayed greedy equal to eager greedy;
# 3. a (CHUNK, BH) sweep of the scan kernel, to confirm or retune ops/triton_scan.scan_config;
# 4. `rnnkit bench speed --long --stream` figures -> $OUT/bench_long.md (paste into docs/BENCHMARKS.md).
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu_long_stream "$@"

echo "== 1. tests on the GPU"
timeout 150 "$PY" -m pytest -q -x -p no:cacheprovider tests/ops/test_triton_scan.py tests/layers/test_scan_masked.py \
    tests/decoding/test_graphs.py tests/ops/test_fast_step.py tests/layers/test_stream.py 2>&1 | tee "$OUT_DIR/tests.txt"

echo "== 2. GPU-only checks"
timeout 120 "$PY" - <<'EOF' 2>&1 | tee "$OUT_DIR/checks.txt"
import torch
from rnnkit import Recurrent
from rnnkit.decoding import greedy
from rnnkit.decoding.graphs import graph_decode
from rnnkit.models import LanguageModel
from rnnkit.models.one_to_many import DecoderState
from rnnkit.ops.scan import linear_scan_log
from rnnkit.ops.triton_scan import triton_gated_scan, triton_linear_scan

dev = "cuda"
torch.manual_seed(0)
T = 100_000  # saturated gates: where a float32 log-space scan would drift
k = torch.randn(2, T, 64, device=dev) * 20
a, b = torch.sigmoid(-k), torch.sigmoid(k) * (torch.rand(2, T, 64, device=dev) + 0.5)
a.requires_grad_(); b.requires_grad_()
h, last = triton_linear_scan(a, b)
ad, bd = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
ref = linear_scan_log(ad.log(), bd.log())
err = ((h.double() - ref).abs() / (ref.abs() + 1e-6)).max().item()
g = torch.randn_like(h)
ga, gb = torch.autograd.grad((h * g).sum(), (a, b))
rga, rgb = torch.autograd.grad((ref * g.double()).sum(), (ad, bd))
gerr = max((ga.double() - rga).abs().max().item(), (gb.double() - rgb).abs().max().item())
print(f"100k steps fp32: max rel err {err:.2e}, max grad err {gerr:.2e}")
assert err < 1e-4 and gerr < 1e-3 and torch.isfinite(h).all()

xp = torch.randn(4, 3000, 3 * 128, device=dev)
o32, _ = triton_gated_scan(xp, "minlstm")
o16, _ = triton_gated_scan(xp.bfloat16(), "minlstm")
print(f"bf16 vs fp32 (minLSTM, T=3000): max abs err {(o16.float() - o32).abs().max().item():.2e}")
assert (o16.float() - o32).abs().max() < 5e-2

for cell in ("mingru", "minlstm"):
    layer = Recurrent(cell, 32, 64, num_layers=2, bidirectional=True).to(dev)
    assert layer.backend == "triton-scan", layer.explain()
    x = torch.randn(5, 300, 32, device=dev)
    lengths = torch.tensor([300, 17, 1, 299, 150])
    out, hT = layer(x, lengths)
    layer.backend = "scan"
    ref_out, ref_h = layer(x, lengths)
    print(f"{cell} auto=triton-scan vs scan: {(out - ref_out).abs().max().item():.2e}")
    assert torch.allclose(out, ref_out, atol=1e-5) and torch.allclose(hT, ref_h, atol=1e-5)
print(Recurrent("mingru", 8, 8).to(dev).explain())

lm = LanguageModel(vocab_size=50, embed_dim=32, hidden_size=512, num_layers=1).to(dev).eval()
lm.__dict__["graph_step"] = True
zeros = torch.zeros(1, 1, 512, device=dev)
with torch.no_grad():
    eager = greedy(lm, DecoderState((zeros, zeros)), bos=1, eos=50, max_length=256)
    graphed = graph_decode(lm, DecoderState((zeros, zeros)), lambda lp: lp.argmax(-1), bos=1, eos=50, max_length=256)
assert graphed is not None, "capture failed"
assert torch.equal(eager.tokens, graphed.tokens) and torch.allclose(eager.scores, graphed.scores, atol=1e-4)
print("graph-replayed greedy == eager greedy (256 tokens)")

for cell in ("lstm", "gru"):  # Recurrent.stream on CUDA: one captured step, replayed
    layer = Recurrent(cell, 64, 512, num_layers=2).to(dev).eval()
    stream = layer.stream(batch_size=1)
    assert stream.backend == "graph", stream
    xs = torch.randn(50, 1, 64, device=dev)
    state, worst = None, 0.0
    with torch.no_grad():
        for x in xs:
            y = stream(x)
            ref, state = layer.step(x, state)
            worst = max(worst, (y - ref).abs().max().item())
    assert stream.backend == "graph" and worst < 1e-5, (stream, worst)
    print(f"{cell} stream replayed from a CUDA graph == step over 50 steps (max err {worst:.1e})")
EOF

echo "== 3. scan kernel (CHUNK, BH) sweep, B=16, C=512, T=4096, fp32, forward+backward"
timeout 90 "$PY" - <<'EOF' 2>&1 | tee "$OUT_DIR/sweep.txt"
import torch
import rnnkit.ops.triton_scan as ts

a = torch.rand(16, 4096, 512, device="cuda", requires_grad=True)
b = torch.rand(16, 4096, 512, device="cuda", requires_grad=True)
for chunk, bh in [(32, 32), (64, 16), (64, 32), (64, 64), (128, 16), (128, 32), (256, 16)]:
    ts.scan_config = lambda H, T, c=chunk, w=bh: (c, w)
    fn = lambda: ts.triton_linear_scan(a, b)[0].sum().backward()
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        fn()
    end.record()
    torch.cuda.synchronize()
    print(f"CHUNK={chunk:4d} BH={bh:3d}: {start.elapsed_time(end) / 20:.3f} ms")
EOF

echo "== 4. rnnkit bench speed --long --stream"
timeout 240 "$PY" - <<EOF 2>&1 | tee "$OUT_DIR/bench.txt"
from rnnkit.bench.long_stream import run_long_stream, to_markdown
report = run_long_stream(long=True, stream=True, repeats=5)
text = to_markdown(report)
open("$OUT_DIR/bench_long.md", "w").write(text + "\n")
print(text)
EOF
