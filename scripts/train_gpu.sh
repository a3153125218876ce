#!/usr/bin/env bash
# Trains the four families (hifill, zoom, pyramid, shift) on the pack from scripts/gpu_pack.sh, on the GPU when
# there is one, each fine-tuned from its shipped weights at the papers' resolution and batch size for an equal
# share of MINUTES (default 7: within 8 minutes of wall time with start-up and checks), checked at half and at the
# end of its time through its method as a user runs it against the default and the shipped weights (the pack's
# check photos, in processes meanwhile), and writes the better checkpoint as <family>.safetensors and its manifest
# (steps, seconds, data, the check) to OUT_DIR: 8 files. It ends with one line per family: its check.
# Runs with the project on PYTHONPATH, no install. Options after the folders go to
# `python -m hrinpaint.train.gpu train` (--steps N, --families hifill,zoom,
# --checks N, --check-workers N, --fresh-workers N, --tiny for the CPU test).
# GPU_TESTS=1 then runs the GPU tests (`pytest -m gpu tests/test_device.py -s`: every network method on CUDA against
# the CPU, with its times) in the same call, so one lent machine gives both; their failure sets the exit status.
# Usage: scripts/train_gpu.sh OUT_DIR [PACK_DIR] [options]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: scripts/train_gpu.sh OUT_DIR [PACK_DIR] [options]}"
pack="${2:-$repo/pack}"
shift $(( $# >= 2 ? 2 : 1 ))
python="${PYTHON:-python3}"
[ -f "$pack/fill.npz" ] || { echo "no training pack in $pack: build it with scripts/gpu_pack.sh" >&2; exit 1; }
cd "$repo"
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$python" -m hrinpaint.train.gpu train "$pack" "$out" \
  --minutes "${MINUTES:-7}" "$@"
if [ "${GPU_TESTS:-0}" = "1" ]; then
  PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$python" -m pytest -m gpu tests/test_device.py -s -q -p no:cacheprovider
fi
