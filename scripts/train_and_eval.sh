#!/usr/bin/env bash
# Train a network from a config, export it as the shipped weights of its family, and measure it against Telea and
# PatchMatch on Kodak at 512 px, in one call. Resumes when the run folder has a checkpoint.
# On a lent GPU machine: EXTRA="--device auto --threads 16". METHODS overrides the methods measured.
#   scripts/train_and_eval.sh [CONFIG] [RUN] [STEPS]
set -euo pipefail
config=${1:-configs/hifill-cpu.toml} run=${2:-runs/hifill-cpu} steps=${3:-}
hr=${HRINPAINT:-.venv/bin/hrinpaint}
python=${PYTHON:-.venv/bin/python}
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made steps several times slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# the family as the config resolves it (a config may take it from its base)
family=$("$python" -c 'import sys; from hrinpaint.train.config import load_config; print(load_config(sys.argv[1]).family)' "$config")
weights=hrinpaint/weights/$family.safetensors
case $family in
  shift) method=patchmatch+shift ;;  # a lifter: measured after the filler it follows
  *) method=$family+cra ;;
esac
resume=(); [ -f "$run/checkpoint.pt" ] && resume=(--resume)
# shellcheck disable=SC2086
"$hr" train "$config" --run "$run" "${resume[@]}" ${steps:+--steps "$steps"} ${EXTRA:-} --export "$weights"
"$hr" models "$weights"
"$hr" bench --data ../shared/data/eval/kodak --sizes 512 --masks medium,thick \
  --methods "${METHODS:-$method,telea+upsample,patchmatch+cra}" --peers opencv-telea --out "$run/bench-kodak"
