# Shared set-up of the GPU scripts (sourced, not run): `source benchmarks/gpu_env.sh DEFAULT_OUT [OUT_DIR]`.
# Goes to the repository root, sets OUT_DIR (argument, else $OUT, else DEFAULT_OUT) and PY, runs the
# working tree through PYTHONPATH=src (installs nothing), compiles kernels for the GPU (no
# interpreter), and records the device in $OUT_DIR/log.txt, where every step's output goes too.
#
# `run_step NAME CAP CMD...` runs one step under `timeout`, its output teed into the log. A failed or
# timed-out step is logged with its exit status and the script goes on, so one run brings back
# everything that worked. With GPU_DEADLINE (seconds since the epoch) set, no step runs past it.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR=${2:-${OUT:-$1}}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/log.txt"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
unset TRITON_INTERPRET
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$LOG"
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cudnn', torch.backends.cudnn.version())" 2>&1 | tee -a "$LOG"

run_step() {
    local name=$1 cap=$2 left t0 rc
    shift 2
    if [ -n "${GPU_DEADLINE:-}" ]; then
        left=$((GPU_DEADLINE - $(date +%s)))
        [ "$left" -lt "$cap" ] && cap=$left
    fi
    echo "== $name (limit ${cap} s)" | tee -a "$LOG"
    if [ "$cap" -lt 10 ]; then
        echo "-- $name: skipped, the deadline is near" | tee -a "$LOG"
        return 0
    fi
    t0=$(date +%s)
    timeout "$cap" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    echo "-- $name: exit status $rc, $(($(date +%s) - t0)) s" | tee -a "$LOG"
    return 0
}
