#!/usr/bin/env bash
# Builds the GPU training pack in an ignored folder (default: pack/ at the repository root): the pools of 512 px
# crops with the default's fill cached (JPEG-coded) for the fillers' families and for shift, and the validation
# photos and the method check's. Small enough to travel with the working tree (33.5 MiB with the defaults; it
# prints the size).
# Options after the folder go to `python -m hrinpaint.train.gpu pack` (--fill-cases, --stage1-cases, --crop,
# --data, --val-data, ...).
# Usage: scripts/gpu_pack.sh [PACK_DIR] [options]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
pack="${1:-$repo/pack}"
shift || true
python="${PYTHON:-python}"
cd "$repo"
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
  "$python" -m hrinpaint.train.gpu pack "$pack" "$@"
