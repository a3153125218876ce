"""Training on the default's fill: the cached prefill pool, the band loss and validation against the default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.fillers.network import default_fill  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.weights import save_weights  # noqa: E402
from hrinpaint.train import losses  # noqa: E402
from hrinpaint.train.config import TrainConfig  # noqa: E402
from hrinpaint.train.data import PhotoCrops  # noqa: E402
from hrinpaint.train.loop import LOG, mask_schedule, train  # noqa: E402
from hrinpaint.train.pool import PrefillPool  # noqa: E402

TINY = {"width": 4, "coarse_dilations": [1, 2], "refine_dilations": [2], "prefill": "patchmatch"}


def _config(folder: Path, cache: Path, **changes) -> TrainConfig:
    values = dict(
        model=TINY,
        data=str(folder),
        val_data=str(folder),
        val_size=40,
        val_masks=("box",),
        crop=32,
        batch_size=2,
        steps=2,
        mask_kinds=("box", "medium"),
        mask_ramp_steps=2,
        pool=3,
        pool_cache=str(cache),
        band=1.0,
        log_every=1,
        val_every=2,
        checkpoint_every=1,
    )
    values.update(changes)
    return TrainConfig.from_flat(values)


@pytest.fixture(scope="module")
def folder(tile_photos) -> Path:
    return tile_photos


def test_pool_caches_the_default_fill_of_fixed_cases_and_batches_by_step(folder, tmp_path):
    crops = PhotoCrops(folder, 32, mask_schedule(_config(folder, tmp_path)), seed=0)
    built = []
    pool = PrefillPool(crops, 3, tmp_path, seed=4, progress=lambda done, size: built.append(done))
    assert built == [1, 2, 3] and pool.path.exists()
    again = PrefillPool(crops, 3, tmp_path, seed=4, progress=lambda done, size: built.append(done))
    assert built == [1, 2, 3] and np.array_equal(again.prefills, pool.prefills)  # read, not rebuilt
    assert PrefillPool(crops, 3, tmp_path, seed=5).path != pool.path  # another seed, another pool
    image, mask = pool.case(1)
    holed = np.where(mask[..., None], 0.0, image).astype(np.float32)
    expected = np.round(default_fill(holed, mask).image * 255)
    assert np.abs(pool.prefills[1].astype(np.float64) - expected).max() <= 1
    assert np.array_equal(pool.prefills[1][~mask], pool.images[1][~mask])  # known pixels are the photo's
    first, second = pool.batch(7, 4), pool.batch(7, 4)
    assert torch.equal(first.image, second.image) and torch.equal(first.prefill, second.prefill)
    assert first.prefill.shape == first.image.shape == (4, 3, 32, 32) and first.mask.shape == (4, 1, 32, 32)


def test_band_merged_passes_the_base_texture_and_takes_the_low_band_of_the_change():
    base = torch.rand(1, 3, 40, 40)
    mask = torch.zeros(1, 1, 40, 40)
    mask[..., 10:30, 10:30] = 1.0
    grain = (torch.arange(40)[None, :] + torch.arange(40)[:, None]) % 2 * 0.2 - 0.1
    output = base + (0.1 + grain) * mask
    merged = losses.band_merged(output, base, mask, 2.0)
    assert torch.equal(merged * (1 - mask), base * (1 - mask))
    assert torch.allclose((merged - base)[..., 17:23, 17:23], torch.tensor(0.1), atol=0.01)
    assert torch.equal(losses.band_merged(output, base, mask, 0.0), output)


def test_a_run_on_the_pool_fine_tunes_given_weights_and_validates_against_the_default(folder, tmp_path):
    torch.manual_seed(123)  # not the run's seed: a fresh run would not start from these weights
    model = HiFillGenerator(HiFillConfig(**{**TINY, "prefill": "telea"}))
    start = tmp_path / "start.safetensors"
    save_weights(model, "hifill", start, {}, {})
    expected = dict(model.named_parameters())
    frozen = train(_config(folder, tmp_path / "pools", init=str(start), steps=1, lr=0.0, lr_final=0.0), tmp_path / "a")
    assert all(torch.equal(value, expected[name]) for name, value in frozen.generator.named_parameters())
    fresh = train(_config(folder, tmp_path / "pools", steps=1, lr=0.0, lr_final=0.0), tmp_path / "b")
    assert not all(torch.equal(value, expected[name]) for name, value in fresh.generator.named_parameters())
    train(_config(folder, tmp_path / "pools", init=str(start), steps=1), tmp_path / "run")
    train(_config(folder, tmp_path / "pools", init=str(start), steps=2), tmp_path / "run", resume=True)
    records = [json.loads(line) for line in (tmp_path / "run" / LOG).read_text().splitlines()]
    validation = [r["validation"] for r in records if "validation" in r][-1]
    assert {"hole_psnr", "default_hole_psnr", "gain_hole_psnr"} <= set(validation)
    assert validation["gain_hole_psnr"] == pytest.approx(validation["hole_psnr"] - validation["default_hole_psnr"])


def test_shift_trains_on_the_default_output_of_regions_cut_as_the_pipeline_cuts_them(folder, tmp_path):
    from hrinpaint.ops.regions import bounding_box
    from hrinpaint.pipeline import Inpainter
    from hrinpaint.train.pool import Stage1Pool

    config = _config(folder, tmp_path, family="shift", model={"width": 4, "depth": 2}, crop=36, band=0.0)
    crops = PhotoCrops(folder, 36, mask_schedule(config), seed=0)
    pool = Stage1Pool(crops, 2, tmp_path, seed=1, factors=(2.0,))
    image, mask = pool.case(0)
    box = bounding_box(mask)
    assert box.height <= 12 and box.width <= 12 and 6 <= box.top and box.bottom <= 30  # a third, inside the crop
    holed = np.where(mask[..., None], 0.0, image).astype(np.float32)
    stage1 = Inpainter.from_method(None, working_size=18, context=0.0, min_margin=36)(holed, mask)
    assert np.abs(pool.prefills[0].astype(np.float64) - np.round(stage1 * 255)).max() <= 1
    assert PrefillPool(crops, 2, tmp_path, seed=1).path != pool.path
    trainer = train(config.replace(data={"pool": 2, "val_folder": None}, options={"factor": [2]}), tmp_path / "shift")
    assert trainer.generator is not None and (tmp_path / "shift" / LOG).exists()
