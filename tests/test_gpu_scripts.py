"""scripts/gpu_pack.sh and scripts/train_gpu.sh, 2 steps on the CPU with tiny networks on tiny crops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")


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
    assert sorted(p.name for p in pack.iterdir()) == ["fill.npz", "pack.json", "photos.npz", "stage1.npz", "val"]
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


def test_a_packed_pools_augmented_batch_is_each_case_flipped_or_turned_alike(tile_photos, tmp_path):
    from hrinpaint.train.gpu import PackedPool

    pack = tmp_path / "pack"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "4", "--stage1-cases", "1"]
    _run("scripts/gpu_pack.sh", str(pack), *options, "--crop", "32", "--photo-side", "64", "--val-side", "32")
    plain, posed = PackedPool(pack / "fill.npz"), PackedPool(pack / "fill.npz", augment=True)
    for step in range(3):
        first, second = plain.batch(step, 4), posed.batch(step, 4)
        for index in range(4):
            poses = [torch.rot90(first.image[index], k, (1, 2)) for k in range(4)]
            poses += [pose.flip(2) for pose in poses]
            match = [k for k, pose in enumerate(poses) if torch.equal(pose, second.image[index])]
            assert match, "an augmented case is a pose of the plain one"
            k = match[0]
            for name in ("mask", "prefill"):
                turned = torch.rot90(getattr(first, name)[index], k % 4, (1, 2))
                assert torch.equal(turned.flip(2) if k >= 4 else turned, getattr(second, name)[index])
    changed = [not torch.equal(plain.batch(s, 4).image, posed.batch(s, 4).image) for s in range(3)]
    assert any(changed)


@pytest.mark.parametrize("kind", ["fill", "stage1"])
def test_fresh_cases_are_new_filled_cases_that_a_packed_pool_mixes_in(tile_photos, tmp_path, kind):
    import time

    from hrinpaint.train.gpu import FreshCases, PackedPool

    pack = tmp_path / "pack"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "3", "--stage1-cases", "3"]
    _run("scripts/gpu_pack.sh", str(pack), *options, "--crop", "32", "--photo-side", "64", "--val-side", "32")
    pool = PackedPool(pack / f"{kind}.npz")
    before = pool.images.copy()
    fresh = FreshCases(pack, kind, workers=1, crop=32, seed=3)
    try:
        cases, deadline = [], time.monotonic() + 120
        while len(cases) < 4 and time.monotonic() < deadline:
            cases += fresh.take(4 - len(cases))
            time.sleep(0.05)
        assert len(cases) == 4, "the process made no cases"
        for image, mask, prefill in cases:
            assert image.shape == prefill.shape == (32, 32, 3) and image.dtype == prefill.dtype == np.uint8
            assert mask.shape == (32, 32) and mask.any() and not mask.all()
            assert np.array_equal(prefill[~mask], image[~mask])  # a fill keeps every known pixel
            assert np.abs(prefill[mask].astype(int) - 0).mean() > 1  # the hole is filled, not left black
        assert len({case[0].tobytes() for case in cases}) == 4  # each case new
        pool.fresh = fresh
        deadline = time.monotonic() + 60
        while fresh.taken < 6 and time.monotonic() < deadline:
            pool.batch(fresh.taken, 2)
            time.sleep(0.05)
    finally:
        fresh.close()
    assert fresh.taken >= 6 and not np.array_equal(pool.images, before)  # the pool's oldest cases were replaced
    assert all(not process.is_alive() for process in fresh.processes)
