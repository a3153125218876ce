"""scripts/gpu_pack.sh and scripts/train_gpu.sh, 2 steps on the CPU with tiny networks on tiny crops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


def _run(*command: str) -> str:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_pack_then_train_two_steps_writes_eight_files_with_manifests(tile_photos, tmp_path):
    pack, out = tmp_path / "pack", tmp_path / "out"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "3", "--stage1-cases", "2"]
    options += ["--crop", "64", "--photo-side", "128", "--val-side", "48"]
    printed = _run("scripts/gpu_pack.sh", str(pack), *options)
    assert "fill: 3 cases" in printed and "stage1: 2 cases" in printed
    assert sorted(p.name for p in pack.iterdir()) == ["fill.npz", "pack.json", "stage1.npz", "val"]
    from hrinpaint.train.gpu import PackedPool

    pool = PackedPool(pack / "fill.npz")
    assert pool.images.shape == pool.prefills.shape == (3, 64, 64, 3) and pool.masks.any()
    assert np.abs(pool.prefills[~pool.masks].astype(int) - pool.images[~pool.masks]).mean() < 3  # JPEG-coded

    _run("scripts/train_gpu.sh", str(out), str(pack), "--steps", "2", "--tiny")
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 8 and all((out / f"{family}.safetensors").exists() for family in ("hifill", "zoom"))
    for family in ("hifill", "zoom", "pyramid", "shift"):
        manifest = json.loads((out / f"{family}.json").read_text())
        assert manifest["model"] == family and manifest["training"]["steps"] == 2
        assert "hole_psnr" in manifest["validation"]
    hifill = json.loads((out / "hifill.json").read_text())
    assert hifill["config"]["prefill"] == "patchmatch" and "gain_hole_psnr" in hifill["validation"]
