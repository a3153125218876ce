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
    options += ["--crop", "64", "--photo-side", "128", "--val-side", "48", "--check-photos", "2", "--check-side", "96"]
    printed = _run("scripts/gpu_pack.sh", str(pack), *options)
    assert "fill: 3 cases" in printed and "stage1: 2 cases" in printed
    names = ["check.npz", "fill.npz", "pack.json", "photos.npz", "stage1.npz", "val"]
    assert sorted(p.name for p in pack.iterdir()) == names
    from hrinpaint.train.gpu import PackedPool

    pool = PackedPool(pack / "fill.npz")
    assert pool.images.shape == pool.prefills.shape == (3, 64, 64, 3) and pool.masks.any()
    # the known pixels are the photo's exactly (a fill is stored as its hole's box, pasted on the hole only)
    assert np.array_equal(pool.prefills[~pool.masks], pool.images[~pool.masks])
    assert np.abs(pool.prefills[pool.masks].astype(int) - pool.images[pool.masks]).mean() > 3  # filled, not copied

    printed = _run("scripts/train_gpu.sh", str(out), str(pack), "--steps", "2", "--tiny", "--check-workers", "2")
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 8 and all((out / f"{family}.safetensors").exists() for family in ("hifill", "zoom"))
    for family in ("hifill", "zoom", "pyramid", "shift"):
        manifest = json.loads((out / f"{family}.json").read_text())
        assert manifest["model"] == family and manifest["training"]["steps"] in (1, 2)
        # checked twice (steps 1 and 2) through the method on the check's 2 photos x 2 hole kinds; the best kept
        check = manifest["validation"]["check"]
        assert [c["step"] for c in check["candidates"]] == [1, 2] and check["photos"] == 2 and check["exact"]
        assert check["gain"] == max(c["gain"] for c in check["candidates"])
        best = [c["step"] for c in check["candidates"] if c["gain"] == check["gain"]][-1]  # of equals the later
        assert manifest["training"]["steps"] == best
        for kind in ("object", "thick"):
            scores = check["trained"][kind]
            assert np.isfinite(scores["hole_psnr"]) and scores["better"] + scores["worse"] <= 2
            assert len(scores["bands"]) == 4
        assert f"{family} at step 2: over the default; trained object" in printed
    # by default each network keeps its own prefill (the shipped ones' is Telea's; shift's a Telea stage 1)
    assert json.loads((out / "hifill.json").read_text())["config"]["prefill"] == "telea"
    assert json.loads((out / "shift.json").read_text())["training"]["prefill"] == "telea+upsample"


def test_the_gpu_run_fine_tunes_the_shipped_networks_on_their_own_prefill_unless_told(tile_photos, tmp_path):
    from hrinpaint.fillers.network import batch_prefill, shipped_weights
    from hrinpaint.train.gpu import PackedPool, _telea_batches, family_config

    pack = tmp_path / "pack"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "3", "--stage1-cases", "2"]
    _run("scripts/gpu_pack.sh", str(pack), *options, "--crop", "32", "--photo-side", "64", "--check-photos", "0")
    for family, side in (("hifill", 256), ("shift", 192)):
        shipped = json.loads(shipped_weights(f"{family}.json").read_text())
        own = family_config(family, pack, 60.0, 10, tiny=False)
        assert own.init == str(shipped_weights(f"{family}.safetensors")) and own.data.crop == side
        assert own.model == shipped["config"] and own.losses.band == 0  # the shipped network as it was trained
        told = family_config(family, pack, 60.0, 10, tiny=False, prefill="patchmatch", crop=512)
        assert told.losses.band == 3.0 and told.data.crop == 512  # the loss on the band the filler keeps
        assert told.model.get("prefill") == ("patchmatch" if family == "hifill" else None)
        assert family_config(family, pack, 60.0, 10, tiny=False, band=2.0).losses.band == 2.0  # --band
    pool = PackedPool(pack / "fill.npz")
    cached = pool.batch(0, 3)
    pool.keep_prefill = False
    assert pool.batch(0, 3).prefill is None  # the trainer makes its own
    pool.transform = _telea_batches(family_config("hifill", pack, 60.0, 10, tiny=True))
    telea = pool.batch(0, 3)
    assert torch.equal(telea.prefill, batch_prefill(cached.image, cached.mask, "telea"))
    assert not torch.equal(telea.prefill, cached.prefill)
    shift = PackedPool(pack / "stage1.npz")
    shift.keep_prefill, shift.transform = False, _telea_batches(family_config("shift", pack, 60.0, 10, tiny=True))
    stage1 = shift.batch(0, 2)
    known = stage1.mask.expand_as(stage1.image) < 0.5
    assert torch.equal(stage1.prefill[known], stage1.image[known]) and not torch.equal(stage1.prefill, stage1.image)
    from hrinpaint.nn.pyramid import PyramidConfig, PyramidGenerator
    from hrinpaint.train.pyramid import made_prefill

    tiny = family_config("pyramid", pack, 60.0, 10, tiny=True)
    pool.transform = _telea_batches(tiny)
    made = pool.batch(0, 3)  # each level's Telea fill made on the batch threads, as the trainer would make it
    assert [tuple(level.shape[-2:]) for level in made.level_prefills] == [(8, 8), (16, 16), (32, 32)]
    generator = PyramidGenerator(PyramidConfig(**tiny.model)).eval()
    with torch.no_grad():
        ahead = generator(made.image, made.mask, made_prefill(made.level_prefills)).image
        own = generator(made.image, made.mask, lambda image, mask: batch_prefill(image, mask, "telea")).image
    assert torch.equal(ahead, own)


def test_a_timed_run_is_checked_at_half_and_at_the_end_of_its_time_and_exports_the_better(tile_photos, tmp_path):
    from hrinpaint.train.gpu import train_families

    pack, out = tmp_path / "pack", tmp_path / "out"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "3", "--stage1-cases", "2"]
    options += ["--crop", "64", "--photo-side", "128", "--check-photos", "1", "--check-side", "64"]
    _run("scripts/gpu_pack.sh", str(pack), *options)
    lines: list[str] = []
    manifests = train_families(pack, out, minutes=0.25, tiny=True, log=lines.append, families=("hifill",))
    check = manifests["hifill"]["validation"]["check"]
    steps = [candidate["step"] for candidate in check["candidates"]]
    assert len(steps) == 2 and 0 < steps[0] < steps[1]  # the time split in two, the cosine over the whole
    assert any("planning" in line for line in lines)  # the pace measured once warm, the steps planned
    chosen = max(reversed(check["candidates"]), key=lambda candidate: candidate["gain"])
    assert manifests["hifill"]["training"]["steps"] == chosen["step"] and check["exact"]
    written = json.loads((out / "hifill.json").read_text())
    assert written["training"]["steps"] == chosen["step"] and written["validation"]["check"]["gain"] == check["gain"]


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
    wide = PackedPool(pack / "fill.npz", augment=True)
    wide.threads = 5  # more threads make more batches ahead, and the same batches
    for step in (0, 1, 2, 7):
        made, same = wide.batch(step, 4), posed.batch(step, 4)
        assert torch.equal(made.image, same.image) and torch.equal(made.mask, same.mask)
    assert sorted(key[0] for key in wide._ahead) == [8, 9, 10, 11, 12]


@pytest.mark.parametrize(("kind", "filled"), [("fill", True), ("stage1", True), ("fill", False)])
def test_fresh_cases_are_new_filled_cases_that_a_packed_pool_mixes_in(tile_photos, tmp_path, kind, filled):
    import time

    from hrinpaint.train.gpu import FreshCases, PackedPool

    pack = tmp_path / "pack"
    options = ["--data", str(tile_photos), "--val-data", str(tile_photos), "--fill-cases", "3", "--stage1-cases", "3"]
    _run("scripts/gpu_pack.sh", str(pack), *options, "--crop", "32", "--photo-side", "64", "--val-side", "32")
    pool = PackedPool(pack / f"{kind}.npz")
    before = pool.images.copy()
    fresh = FreshCases(pack, kind, workers=1, crop=32, seed=3, filled=filled)
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
            if filled:
                assert np.abs(prefill[mask].astype(int) - 0).mean() > 1  # the hole is filled, not left black
            else:  # a run that makes its own prefill: the photo stands in, no PatchMatch spent
                assert np.array_equal(prefill, image)
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


def test_blobs_store_round_trips_each_image_alone_and_all_together(tmp_path):
    from hrinpaint.train import blobs

    def ramps(height: int, width: int) -> np.ndarray:  # red across, green down, blue flat: smooth, RGB-distinct
        rows, cols = np.mgrid[0:height, 0:width]
        return np.stack([cols * 255 // width, rows * 255 // height, np.full_like(rows, 40)], -1).astype(np.uint8)

    smooth = [ramps(32, 48), ramps(40, 24)]
    np.savez(tmp_path / "store.npz", **blobs.joined([blobs.encode(image, 95) for image in smooth]))
    with np.load(tmp_path / "store.npz") as stored:
        every, second = blobs.split(stored), blobs.decode_at(stored, 1)
    assert [image.shape for image in every] == [(32, 48, 3), (40, 24, 3)]
    assert np.array_equal(every[1], second)  # the one decoded alone is the same image
    for image, back in zip(smooth, every, strict=True):  # JPEG at 95: close, and RGB order kept (not BGR)
        assert np.abs(back.astype(int) - image).mean() < 3
        assert np.abs(back.astype(int) - image[..., ::-1]).mean() > 20
