# Shared set-up of the GPU scripts (sourced, not run): `source benchmarks/gpu_env.sh DEFAULT_OUT [OUT_DIR]`.
# Goes to the repository root, sets OUT_DIR (argument, else $OUT, else DEFAULT_OUT) and PY, runs the
# working tree through PYTHONPATH=src (installs nothing), compiles kernels for the GPU (no
# interpreter), and records the device in $OUT_DIR/gpu.txt.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR=${2:-${OUT:-$1}}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
unset TRITON_INTERPRET
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"
