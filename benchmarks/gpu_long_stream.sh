#!/usr/bin/env bash
# Issue 8 on a GPU, in about 6 minutes: the fused scan and graph-captured decoding, checked and timed.
#
#   bash benchmarks/gpu_long_stream.sh [OUT_DIR]        (default: $OUT, else /tmp/gpu_long_stream)
#
# 0. tiles of the fused greedy kernels (gpu_long_checks.py fused_greedy_tiles): each checked, then timed;
#    the fastest that passed is exported as RNNKIT_DECODE_TILES for the steps below (set it to skip);
# 1. tilings of the scan kernel against accelerated-scan (benchmarks/gpu_scan_sweep.py); the fastest
#    is exported as RNNKIT_SCAN_CONFIG for the steps below (set it beforehand to skip the sweep;
#    SCAN_SWEEP=segments sweeps only segment lengths around the default, about a minute);
# 2. GPU-only checks (benchmarks/gpu_long_checks.py): 100k steps against the float64 scan, bf16,
#    "auto" picking triton-scan, graph-replayed and fused greedy equal to eager greedy, the replay's own cost,
#    the CUDA-graph stream against step();
# 3. the CUDA rows of `rnnkit bench speed --long --stream` (benchmarks/gpu_long_rows.py)
#    -> $OUT_DIR/bench_long_gpu.json, saved after each group; then
#    `python -m rnnkit.bench.long_stream --from-json $OUT_DIR/bench_long_gpu.json` here writes them
#    into docs/BENCHMARKS.md;
# 4. the kernel tests compiled for the GPU (the same files run under TRITON_INTERPRET=1 on a CPU).
# Every step's output goes to $OUT_DIR/log.txt; a failed step is logged and the next one runs.
# accelerated-scan, when installed, is timed beside the fused scan; its CUDA kernel is compiled first.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu_long_stream "$@"

if [ -z "${RNNKIT_DECODE_TILES:-}" ]; then
    run_step "0. fused greedy tiles" 150 "$PY" benchmarks/gpu_long_checks.py fused_greedy_tiles /tmp/best_decode_tiles
    [ -s /tmp/best_decode_tiles ] && export RNNKIT_DECODE_TILES=$(cat /tmp/best_decode_tiles)
fi
echo "RNNKIT_DECODE_TILES=${RNNKIT_DECODE_TILES:-} (empty: triton_decode's default)" | tee -a "$LOG"
if [ -z "${RNNKIT_SCAN_CONFIG:-}" ]; then
    sweep_args=()
    [ "${SCAN_SWEEP:-}" = segments ] && sweep_args=(--segments-only)
    run_step "1. scan kernel tilings" 200 "$PY" benchmarks/gpu_scan_sweep.py /tmp/best_scan_config "${sweep_args[@]}"
    [ -s /tmp/best_scan_config ] && export RNNKIT_SCAN_CONFIG=$(cat /tmp/best_scan_config)
fi
echo "RNNKIT_SCAN_CONFIG=${RNNKIT_SCAN_CONFIG:-} (empty: scan_config's default)" | tee -a "$LOG"
run_step "2. GPU-only checks" 150 "$PY" benchmarks/gpu_long_checks.py
run_step "3. CUDA rows of rnnkit bench speed --long --stream" 180 \
    "$PY" benchmarks/gpu_long_rows.py "$OUT_DIR/bench_long_gpu.json" 10
run_step "4. tests on the GPU" 150 "$PY" -m pytest -q -p no:cacheprovider tests/ops/test_triton_scan.py \
    tests/layers/test_scan_masked.py tests/decoding/test_graphs.py tests/decoding/test_fused_greedy.py tests/decoding/test_ban_fused.py \
    tests/layers/test_stream.py
