#!/usr/bin/env bash
# Issue 7 on a GPU, in about 6 minutes: the fused Triton recurrent kernels checked, then timed against cuDNN.
#
#   bash benchmarks/gpu_speed.sh [OUT_DIR]        (default: $OUT, else /tmp/gpu_speed)
#
# 1. GPU-only checks at I=H=512 (benchmarks/gpu_speed_checks.py): triton-fused and triton-persistent
#    against the loop, fp32 and bf16, and what "auto" picks;
# 2. `rnnkit bench speed --gpu`'s rows (benchmarks/gpu_speed_rows.py) -> $OUT_DIR/bench_gpu.json, saved
#    after each batch size; then `python -m rnnkit.bench.gpu --from-json $OUT_DIR/bench_gpu.json` here
#    writes the bench:gpu section of docs/BENCHMARKS.md with the device's name;
# 3. the kernel tests compiled for the GPU (the same files run under TRITON_INTERPRET=1 on a CPU).
# Every step's output goes to $OUT_DIR/log.txt; a failed step is logged and the next one runs.
# Installs nothing: runs the working tree through PYTHONPATH=src.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu_speed "$@"

run_step "1. GPU-only checks at I=H=512" 120 "$PY" benchmarks/gpu_speed_checks.py
run_step "2. rnnkit bench speed --gpu" 240 "$PY" benchmarks/gpu_speed_rows.py "$OUT_DIR/bench_gpu.json" 10
run_step "3. kernel tests on the GPU" 180 "$PY" -m pytest -q -p no:cacheprovider tests/ops/test_triton_rnn.py \
    tests/layers/test_fused_backends.py
