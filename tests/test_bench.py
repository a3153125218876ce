"""Benchmark pieces: seeds, photo search, contact sheets, the worker's time limit."""

from pathlib import Path

import numpy as np
import pytest

from hrinpaint.errors import InputError
from hrinpaint.eval.bench import BenchConfig, find_photos, mask_seed, side_by_side
from hrinpaint.eval.worker import Worker


def test_mask_seed_is_stable_and_distinct():
    photo = Path("/data/kodim01.png")
    assert mask_seed(photo, "thick", 512, 0) == mask_seed(Path("/other/kodim01.png"), "thick", 512, 0)
    assert mask_seed(photo, "thick", 512, 0) != mask_seed(photo, "box", 512, 0)
    assert mask_seed(photo, "thick", 512, 1) == mask_seed(photo, "thick", 512, 0) + 1


def test_find_photos_is_recursive_sorted_and_limited(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.png", "1.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_photos(str(tmp_path))] == ["1.jpg", "2.png"]
    assert len(find_photos(str(tmp_path), limit=1)) == 1
    with pytest.raises(InputError, match="no photos"):
        find_photos(str(tmp_path / "b" / "missing"))


def test_config_rejects_unknown_peers_and_masks(tmp_path):
    with pytest.raises(InputError, match="unknown peer"):
        BenchConfig(data=str(tmp_path), peers=("nope",))
    with pytest.raises(InputError, match="unknown mask kind"):
        BenchConfig(data=str(tmp_path), masks=("nope",))


def test_side_by_side_shows_whole_images_and_a_full_resolution_crop_of_the_hole():
    truth = np.random.default_rng(0).random((600, 900, 3), dtype=np.float32)
    mask = np.zeros((600, 900), bool)
    mask[400:450, 700:760] = True
    holed = np.where(mask[:, :, None], 0.0, truth).astype(np.float32)
    filled = np.where(mask[:, :, None], 0.5, truth).astype(np.float32)
    sheet = side_by_side(holed, truth, mask, {"a": filled}, tile=120)
    assert sheet.dtype == np.uint8 and sheet.shape[0] == 120 + 120 + 4
    assert sheet.shape[1] == 3 * 180 + 2 * 4  # input, truth, a: each as wide as the scaled photo
    crop_of_result = sheet[124:, 2 * 184 : 2 * 184 + 180]
    assert (np.abs(crop_of_result.astype(int) - 128) <= 1).all(axis=-1).sum() >= 50 * 60 * 0.9  # the hole, 1:1


def test_worker_times_out_and_recovers():
    image = np.zeros((8, 8, 3), np.float32)
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:4] = True
    with Worker() as worker:
        slow = worker.run("telea+upsample", np.zeros((3000, 3000, 3), np.float32), np.eye(3000, dtype=bool), 512, 0.01)
        assert slow.status == "timeout"
        fine = worker.run("telea+upsample", image, mask, 512, 60)
        assert fine.status == "ok" and fine.image.shape == image.shape and fine.time_s > 0
        broken = worker.run("telea+upsample", image, np.ones((8, 8), bool), 512, 60)
        assert broken.status == "error" and "whole image" in broken.message


def test_bench_weights_go_to_network_fillers_only(tmp_path):
    from hrinpaint.eval.worker import filler_weights

    path = str(tmp_path / "variant.safetensors")
    assert filler_weights("zoom+cra", path) == {"weights": path}
    assert filler_weights("hifill", path) == {"weights": path}
    assert filler_weights("telea+cra", path) is None  # Telea takes no weights
    assert filler_weights("zoom+cra", None) is None
