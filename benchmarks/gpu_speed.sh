#!/usr/bin/env bash
# Issue 7 on a GPU, in about 8 minutes: the fused Triton recurrent kernels checked, then timed against cuDNN.
#
#   bash benchmarks/gpu_speed.sh [OUT_DIR]        (default: $OUT, else /tmp/gpu_speed)
#
# 1. the kernel tests compiled for the GPU (the same files run under TRITON_INTERPRET=1 on a CPU);
# 2. GPU-only checks at I=H=512: triton-fused and triton-persistent against the loop, fp32 and bf16,
#    and what "auto" picks;
# 3. `rnnkit bench speed --gpu`: writes the bench:gpu section of docs/BENCHMARKS.md with the device
#    name (a copy goes to $OUT_DIR/bench_gpu.md).
# Installs nothing: runs the working tree through PYTHONPATH=src.
set -euo pipefail
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu_speed "$@"

echo "== 1. kernel tests on the GPU"
timeout 240 "$PY" -m pytest -q -x -p no:cacheprovider tests/ops/test_triton_rnn.py \
    tests/layers/test_fused_backends.py 2>&1 | tee "$OUT_DIR/tests.txt"

echo "== 2. GPU-only checks at I=H=512 (and H=64 for the persistent kernel)"
timeout 150 "$PY" - <<'PYEOF' 2>&1 | tee "$OUT_DIR/checks.txt"
import torch
from rnnkit import Recurrent

torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(0)
for cell, H, backend in [("lstm", 512, "triton-fused"), ("gru", 512, "triton-fused"), ("rnn", 512, "triton-fused"),
                         ("lstm", 64, "triton-persistent"), ("gru", 64, "triton-persistent")]:
    layer = Recurrent(cell, H, H, layer_norm=True, num_layers=2, bidirectional=True).cuda().eval()
    x = torch.randn(8, 100, H, device="cuda")
    lengths = torch.tensor([100, 57, 1, 99, 100, 3, 80, 64])

    def run(dtype, b):
        layer.to(dtype)
        layer.backend = b
        layer.zero_grad()
        out, _ = layer(x.to(dtype), lengths)
        out.float().square().sum().backward()
        return out.float(), layer.cells[0].weight_hh.grad.float().clone()

    ref = run(torch.float32, "loop")
    for dtype in (torch.float32, torch.bfloat16):
        errs = {}
        for b in (backend, "loop"):
            out, grad = run(dtype, b)
            errs[b] = ((out - ref[0]).abs().max().item(), ((grad - ref[1]).abs().max() / ref[1].abs().max()).item())
        print(f"{cell} H={H} {dtype}: {backend} (out, rel grad) error vs the float32 loop "
              f"{errs[backend][0]:.1e}, {errs[backend][1]:.1e}; the {dtype} loop's {errs['loop'][0]:.1e}, "
              f"{errs['loop'][1]:.1e}")
        if dtype == torch.float32:
            assert max(errs[backend]) < 2e-4, (cell, H)
        else:  # float32 state: no worse than the bf16 loop (with some slack)
            assert errs[backend][0] <= max(2e-2, 1.5 * errs["loop"][0]), (cell, H)
for opts in [dict(layer_norm=True), dict(recurrent_dropout=0.25), dict(zoneout=0.1), {}]:
    for H in (64, 512, 4096):
        layer = Recurrent("lstm", 32, H, **opts).cuda().train()
        print(f"lstm H={H} {opts}: {layer.explain()}")
PYEOF

echo "== 3. rnnkit bench speed --gpu"
timeout 330 "$PY" -m rnnkit.cli.main bench speed --gpu --repeats 10 2>&1 | tee "$OUT_DIR/bench_gpu.md"
