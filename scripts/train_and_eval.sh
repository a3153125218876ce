#!/usr/bin/env bash
# Train a generator from a config, export it as the shipped weights, and measure it against the peers, in one call.
# Resumes when the run folder has a checkpoint. On a lent GPU machine: EXTRA="--device auto --threads 16".
#   scripts/train_and_eval.sh [CONFIG] [RUN] [STEPS]
set -euo pipefail
config=${1:-configs/hifill-cpu.toml} run=${2:-runs/hifill-cpu} steps=${3:-}
weights=hrinpaint/weights/hifill.safetensors
hr=${HRINPAINT:-.venv/bin/hrinpaint}
resume=(); [ -f "$run/checkpoint.pt" ] && resume=(--resume)
# shellcheck disable=SC2086
"$hr" train "$config" --run "$run" "${resume[@]}" ${steps:+--steps "$steps"} ${EXTRA:-} --export "$weights"
"$hr" models "$weights"
"$hr" bench --data ../shared/data/eval/kodak --sizes 512 --masks medium,thick \
  --methods hifill+cra,telea+upsample,patchmatch+cra --peers opencv-telea --out "$run/bench-kodak"
