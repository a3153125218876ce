"""The octave lifter: the PatchMatch field carried up octave by octave, its colour and band-energy steps."""

import cv2
import numpy as np
import pytest

from hrinpaint.errors import ConfigError
from hrinpaint.eval.metrics import band_energy
from hrinpaint.fillers.attention import OffsetField
from hrinpaint.lifters import LIFTERS
from hrinpaint.lifters.octave import (
    OctaveConfig,
    OctaveLifter,
    carry_displacements,
    displacements,
    level_shapes,
    membrane,
    mix_low_band,
    push_pull,
    restore_bands,
)
from hrinpaint.pipeline import Inpainter


def weave(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A fine two-scale texture (periods of 4 and 11 px) with noise: detail a 4x smaller working size cannot hold."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    luma = 0.5 + 0.18 * np.sin(2 * np.pi * (xs + 0.5 * ys) / 4.0) + 0.12 * np.sin(2 * np.pi * (ys - xs) / 11.0)
    luma = luma + 0.05 * rng.standard_normal((height, width))
    return np.clip(np.dstack([luma, 0.8 * luma + 0.1, 0.6 * luma + 0.2]), 0, 1).astype(np.float32)


def hole(shape: tuple[int, int], top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


def test_registered():
    assert isinstance(LIFTERS.build("octave", cra_levels=0), OctaveLifter)


def test_level_shapes_double_up_to_the_region():
    assert level_shapes((2048, 1366), (512, 342)) == [(1024, 683), (2048, 1366)]
    assert level_shapes((4096, 2731), (512, 342)) == [(1024, 683), (2048, 1366), (4096, 2731)]
    assert level_shapes((600, 400), (512, 342)) == [(600, 400)]  # a ratio under 1.4: one level, the region
    assert level_shapes((512, 342), (512, 342)) == []


def test_displacements_double_and_reach_the_band_around_the_hole():
    mask = hole((6, 8), 2, 2, 2, 3)
    sources = np.stack(np.indices((6, 8), dtype=np.int32), axis=-1)[:, :, None, :].copy()
    sources[mask, 0, 1] += 3  # every hole pixel copies from 3 px to its right
    moves = displacements(OffsetField(sources, np.ones((6, 8, 1), np.float32)), mask)
    assert (moves[mask] == (0, 3)).all()
    assert (moves[0, 0] == (0, 3)).all()  # a pixel outside takes its nearest hole pixel's displacement
    carried = carry_displacements(moves, (12, 16))
    assert carried.shape == (12, 16, 2) and (carried[4:8, 4:10] == (0, 6)).all()


def test_octave_lift_continues_fine_texture_that_the_working_size_loses():
    image = weave(160, 224)
    mask = hole((160, 224), 50, 80, 60, 64)
    holed = np.where(mask[:, :, None], np.float32(0), image)
    octave = Inpainter.from_method("patchmatch+octave", lifter={"cra_levels": 0}, working_size=56)
    upsampled = Inpainter.from_method("patchmatch+upsample", working_size=56)
    result = octave(holed, mask)
    assert np.array_equal(result[~mask], image[~mask])
    lifted, smooth = band_energy(result, image, mask), band_energy(upsampled(holed, mask), image, mask)
    assert lifted[0] > 0.5 and lifted[1] > 0.5  # the two finest octaves are there
    assert smooth[0] < 0.2 and lifted[0] > 3 * smooth[0]


def test_default_octave_with_cra_and_restoration_also_keeps_the_texture():
    image = weave(160, 224, seed=1)
    mask = hole((160, 224), 40, 60, 70, 70)
    result = Inpainter.from_method("patchmatch+octave", working_size=40)(np.where(mask[:, :, None], 0, image), mask)
    assert np.array_equal(result[~mask], image[~mask])
    energies = band_energy(result, image, mask)
    assert all(0.5 < value < 1.6 for value in energies[:3]), energies


def test_low_band_mix_option_moves_the_hole_towards_telea_and_keeps_known_pixels():
    image = weave(160, 224, seed=3)
    image[:, 112:] *= 0.5  # a dark right half: an exemplar fill and a diffusion fill disagree in the low band
    mask = hole((160, 224), 40, 90, 70, 50)
    holed = np.where(mask[:, :, None], np.float32(0), image)
    plain = Inpainter.from_method("patchmatch+octave", working_size=40)(holed, mask)
    mixed = Inpainter.from_method("patchmatch+octave", lifter={"low_weight": 0.0}, working_size=40)(holed, mask)
    assert np.array_equal(mixed[~mask], image[~mask])
    telea = Inpainter.from_method("telea+upsample", working_size=40)(holed, mask)

    def low_band_gap(result):
        return float(np.abs(cv2.GaussianBlur(result - telea, (0, 0), 12.0))[mask].mean())

    assert low_band_gap(mixed) < 0.5 * low_band_gap(plain)
    energies = band_energy(mixed, image, mask)
    assert all(value > 0.5 for value in energies[:2]), energies  # the fine bands are still the exemplar's


def test_membrane_brings_a_darker_fill_to_its_surroundings_level():
    known = np.full((40, 50, 3), 0.6, np.float32)
    mask = hole((40, 50), 10, 15, 20, 20)
    predicted = known - 0.2  # the fill's patches are 0.2 darker than the border they land on
    correction = membrane(known, predicted, mask)
    assert (correction[~mask] == 0).all()
    assert np.allclose(correction[mask], 0.2, atol=0.02)


def test_push_pull_fills_gaps_and_keeps_known_values():
    values = np.zeros((32, 32, 1), np.float32)
    weights = np.zeros((32, 32), np.float32)
    weights[:, :4] = 1.0
    values[:, :4] = 0.3
    filled = push_pull(values, weights)
    assert np.allclose(filled, 0.3, atol=1e-4)


def test_push_pull_saturated_fills_a_gap_from_its_nearest_data():
    values = np.zeros((64, 64, 1), np.float32)
    weights = np.zeros((64, 64), np.float32)
    weights[:, :8] = weights[:, 24:] = 1.0
    values[:, :8] = 100.0  # far data, large values; the gap (columns 8-23) borders small values on its right
    values[:, 24:] = 1.0
    plain, saturated = push_pull(values, weights), push_pull(values, weights, saturate=True)
    assert np.allclose(saturated[:, 24:], 1.0, atol=1e-4)
    near, far = saturated[:, 20, 0], plain[:, 20, 0]
    assert near.max() < 0.7 * far.min(), (near.max(), far.min())  # the near data weigh more


def test_restore_bands_leaves_a_perfect_fill_near_its_context_when_busy_detail_lies_further_away():
    rng = np.random.default_rng(7)
    image = (0.5 + 0.01 * rng.standard_normal((256, 384, 1))).astype(np.float32) * np.ones((1, 1, 3), np.float32)
    image[:, 256:] = weave(256, 128, seed=7)  # strong texture 112 px beyond the hole, faint grain around it
    mask = hole((256, 384), 64, 48, 128, 96)
    energies = band_energy(restore_bands(image, mask, bands=4, max_gain=1.5, coarse_gain=3.4, passes=2), image, mask)
    # the target is the faint grain next to the hole (a linear mean over the coarse levels raised it 1.6-1.7x)
    assert all(value < 1.25 for value in energies), energies


def test_restore_bands_amplifies_a_flattened_fill_and_never_attenuates():
    image = weave(128, 128, seed=2)
    mask = hole((128, 128), 40, 40, 48, 48)
    mean = image[mask].mean(axis=0)
    flat = np.where(mask[:, :, None], mean + 0.4 * (image - mean), image).astype(np.float32)
    restored = restore_bands(flat, mask, bands=3, max_gain=3.0)
    assert np.array_equal(restored[~mask], image[~mask])
    before, after = band_energy(flat, image, mask), band_energy(restored, image, mask)
    assert all(b < 0.3 for b in before[:2]) and all(0.6 < a < 1.5 for a in after[:2]), (before, after)
    sharp = restore_bands(image, mask, bands=3, max_gain=3.0)
    assert np.abs(sharp - image).max() < 0.05  # already as detailed as its context: left (almost) alone


def test_restore_bands_levels_aim_each_part_of_a_hole_at_context_of_its_own_brightness():
    rng = np.random.default_rng(8)
    image = (0.25 + 0.01 * rng.standard_normal((192, 192, 1))).astype(np.float32) * np.ones((1, 1, 3), np.float32)
    image[96:] = 0.5 * weave(96, 192, seed=8) + 0.4  # a bright textured sea below a dark, faintly grained sky
    mask = hole((192, 192), 40, 64, 96, 64)  # a perfect fill across the horizon
    sky = hole((192, 192), 40, 64, 52, 64)
    gains = {"bands": 4, "max_gain": 1.5, "coarse_gain": 3.4, "passes": 2}
    pooled = restore_bands(image, mask, **gains)
    levelled = restore_bands(image, mask, **gains, levels=4)
    assert np.array_equal(levelled[~mask], image[~mask])
    # one pool: the sky's target is the sea's nearby, and its grain is raised; by brightness: the sky's own
    assert band_energy(pooled, image, sky)[0] > 1.5
    assert band_energy(levelled, image, sky)[0] < 1.25
    assert all(value < 1.15 for value in band_energy(levelled, image, mask)), band_energy(levelled, image, mask)


def test_restore_bands_coarse_gain_bounds_only_the_coarser_bands():
    image = weave(128, 128, seed=4)
    mask = hole((128, 128), 32, 32, 64, 64)
    mean = image[mask].mean(axis=0)
    flat = np.where(mask[:, :, None], mean + 0.3 * (image - mean), image).astype(np.float32)
    same = band_energy(restore_bands(flat, mask, bands=4, max_gain=1.5), image, mask)
    coarse = band_energy(restore_bands(flat, mask, bands=4, max_gain=1.5, coarse_gain=3.0), image, mask)
    assert np.allclose(same[:2], coarse[:2], atol=0.02), (same, coarse)  # the two finest bands: bounded alike
    assert coarse[2] >= same[2] and coarse[3] > same[3] + 0.2, (same, coarse)  # more gain allowed there


def test_restore_bands_passes_make_up_what_one_pass_misses_within_the_same_gain():
    image = weave(256, 256, seed=6)
    mask = hole((256, 256), 64, 64, 128, 128)
    mean = image[mask].mean(axis=0)
    # the hole's left half flattened, its right half as detailed as the context: the smoothed energy estimates
    # mix the two, so one pass amplifies the flat half too little
    factor = np.where(np.arange(256) < 128, 0.15, 1.0).astype(np.float32)[None, :, None]
    flat = np.where(mask[:, :, None], mean + factor * (image - mean), image).astype(np.float32)
    before = band_energy(flat, image, mask)
    one = band_energy(restore_bands(flat, mask, bands=4, max_gain=3.0), image, mask)
    two = band_energy(restore_bands(flat, mask, bands=4, max_gain=3.0, passes=2), image, mask)
    assert all(b > a + 0.03 for a, b in zip(one, two, strict=True)), (one, two)
    assert all(t < 1.2 for t in two), two  # and the second does not overshoot the context
    bounded = band_energy(restore_bands(flat, mask, bands=4, max_gain=1.2, passes=4), image, mask)
    assert all(b < 1.2**2 * a * 1.1 for a, b in zip(before, bounded, strict=True)), (before, bounded)


def test_mix_low_band_moves_the_low_band_only_and_keeps_known_pixels():
    rng = np.random.default_rng(5)
    height, width = 96, 96
    mask = hole((height, width), 24, 24, 48, 48)
    detail = (0.1 * rng.standard_normal((height, width, 1))).astype(np.float32)
    fill = np.clip(0.3 + detail, 0, 1).astype(np.float32) * np.ones((1, 1, 3), np.float32)
    smooth = np.full((height, width, 3), 0.7, np.float32)  # a brighter smooth estimate
    mixed = mix_low_band(fill, smooth, mask, sigma=4.0, weight=0.25)
    assert np.array_equal(mixed[~mask], fill[~mask])
    core = np.zeros_like(mask)
    core[40:56, 40:56] = True  # far from the border, the low band is three quarters of the smooth estimate's
    assert abs(float(mixed[core].mean()) - (0.25 * 0.3 + 0.75 * 0.7)) < 0.03
    assert np.allclose(np.std(mixed[core] - fill[core]), 0.0, atol=0.01)  # the fine detail is the fill's
    assert mix_low_band(fill, smooth, mask, sigma=4.0, weight=1.0) is fill
    assert mix_low_band(fill, smooth, mask, sigma=0.0, weight=0.5) is fill


@pytest.mark.parametrize(
    "options",
    [
        {"patch_size": 4},
        {"vote": "mode"},
        {"colour": "gradient"},
        {"cra_levels": -1},
        {"restore_gain": 0.5},
        {"coarse_gain": 0.9},
        {"restore_context": 0},
        {"low_sigma": -1},
        {"low_weight": 1.5},
    ],
)
def test_config_validation(options):
    with pytest.raises(ValueError):
        OctaveConfig(**options)


class _Corrected:
    """PatchMatch's fill with a smooth correction of ``value`` in its hole (a network filler's shape)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def fill(self, image, mask):
        from hrinpaint.fillers.base import FillResult
        from hrinpaint.fillers.patchmatch import PatchMatchFiller

        filled = PatchMatchFiller().fill(image, mask)
        correction = np.where(mask[..., None], self.value, 0.0).astype(np.float32)
        return FillResult(filled.image, filled.attention, correction)


def test_a_fill_correction_comes_once_before_the_band_restoration_and_replaces_the_telea_mix():
    from hrinpaint.fillers.patchmatch import PatchMatchFiller
    from hrinpaint.lifters.octave import OctaveConfig, OctaveLifter
    from hrinpaint.pipeline import PipelineOptions

    image = weave(160, 224, seed=3)
    mask = hole((160, 224), 40, 90, 70, 50)
    holed = np.where(mask[:, :, None], np.float32(0), image)
    options = PipelineOptions(working_size=40)
    inner = np.zeros_like(mask)
    inner[55:95, 100:130] = True  # away from the border, where the bilinear step of the correction fades

    def run(filler, **config):
        return Inpainter(filler, OctaveLifter(OctaveConfig(**config)), options)(holed, mask).astype(np.float64)

    # without restoration or mix: the correction is added once, as any lifter adds it
    flat = {"restore_gain": 1.0, "coarse_gain": 1.0}
    plain_flat = run(PatchMatchFiller(), **flat)
    step = (run(_Corrected(0.1), **flat) - plain_flat)[inner & (plain_flat.max(axis=2) < 0.85)]
    assert np.abs(step - 0.1).max() <= 0.004
    # with a correction the Telea mix is not applied: the correction is the smooth estimate
    mixed = {**flat, "low_weight": 0.0}
    assert np.array_equal(run(_Corrected(0.0), **mixed), run(_Corrected(0.0), **flat))
    assert not np.array_equal(run(PatchMatchFiller(), **mixed), run(PatchMatchFiller(), **flat))
    # with the restoration: it runs on the corrected fill (its output differs from the flat one), and the
    # correction is in it once (the restoration moves zero-mean bands only)
    corrected, plain = run(_Corrected(0.05)), run(PatchMatchFiller())
    assert np.array_equal(corrected[~mask], image[~mask].astype(np.float64))
    assert not np.array_equal(corrected, run(_Corrected(0.05), **flat))
    assert abs(float((corrected - plain)[inner].mean()) - 0.05) < 0.01


def test_low_grow_keeps_a_dark_border_remnant_out_of_the_smooth_estimate():
    image = np.full((160, 224, 3), 0.7, np.float32)
    mask = hole((160, 224), 40, 90, 70, 50)
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    image[ring & ~mask] = 0.1  # what a hand-drawn mask leaves of a dark object around the hole
    holed = np.where(mask[:, :, None], np.float32(0), image)

    def run(grow):
        lifter = {"low_weight": 0.0, "low_grow": grow, "restore_gain": 1.0, "coarse_gain": 1.0}
        return Inpainter.from_method("telea+octave", lifter=lifter, working_size=40)(holed, mask)

    plain, grown = run(0), run(2)
    assert np.array_equal(grown[~mask], image[~mask])
    centre = (slice(65, 85), slice(105, 125))
    assert abs(grown[centre].mean() - 0.7) < 0.01 < 0.03 < 0.7 - plain[centre].mean()  # the remnant stays out
    with pytest.raises(ConfigError):
        OctaveConfig(low_grow=-1)


def test_keep_band_energy_gives_back_the_detail_a_smooth_change_took_and_never_removes_any():
    from hrinpaint.lifters.octave_bands import keep_band_energy

    image = weave(160, 224, seed=4)
    mask = hole((160, 224), 40, 90, 70, 50)
    flattened = image.copy()
    flattened[mask] = cv2.GaussianBlur(image, (0, 0), 2.0)[mask]  # a change that took the hole's detail
    kept = keep_band_energy(flattened, image, mask, 3, 3.0)
    assert np.array_equal(kept[~mask], flattened[~mask])
    before, after = band_energy(flattened, image, mask), band_energy(kept, image, mask)
    assert after[1] > before[1] + 0.2 and after[2] >= before[2] - 1e-6, (before, after)
    np.testing.assert_allclose(keep_band_energy(image, image, mask, 3, 3.0), image, atol=1e-5)  # nothing taken
    with pytest.raises(ConfigError):
        OctaveConfig(keep_bands=-1)


def _two_blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A smooth ramp with a hole filled by two blocks copied from places of different brightness: the truth, the
    fill, each pixel's source, and the hole."""
    ys, xs = np.mgrid[0:60, 0:80]
    truth = np.dstack([0.3 + 0.004 * xs + 0.002 * ys] * 3).astype(np.float32)
    mask = hole((60, 80), 25, 20, 15, 30)
    sources = np.stack([ys, xs], axis=-1).astype(np.int64)
    sources[25:40, 20:50, 0] -= 20  # both blocks from above, the right one also from 25 px to the right
    sources[25:40, 35:50, 1] += 25
    return truth, truth[sources[..., 0], sources[..., 1]], sources, mask


def test_poisson_fill_removes_the_step_between_blocks_from_different_light():
    from hrinpaint.lifters.octave_poisson import poisson_fill

    truth, fill, sources, mask = _two_blocks()
    assert abs(fill[30, 35, 0] - fill[30, 34, 0]) > 0.1  # the seam: a step 25 times the ramp's
    out = poisson_fill(fill, sources, mask)
    assert np.array_equal(out[~mask], fill[~mask])
    assert abs(out[30, 35, 0] - out[30, 34, 0]) < 0.005  # the ramp's own step
    assert np.abs(out - truth)[mask].max() < 2e-3  # its sources' gradients are the truth's: it is the truth again


def test_poisson_fill_does_not_spread_a_remnant_the_mask_left():
    from hrinpaint.lifters.octave_poisson import poisson_fill, seam_targets, solve_correction

    truth, fill, sources, mask = _two_blocks()
    remnant = fill.copy()
    remnant[24, 20:50] = 0.0  # a dark outline of the removed object along the hole's top edge, kept as known
    out = poisson_fill(remnant, sources, mask)
    plain = np.clip(remnant + solve_correction(mask, *seam_targets(remnant, sources, mask, border_limit=0.0)), 0, 1)
    darkening = (truth - out)[25:28, 20:50].mean()
    assert (truth - plain)[25:28, 20:50].mean() > 0.1  # a Poisson blend takes the outline into the hole
    assert darkening < 0.3 * (truth - plain)[25:28, 20:50].mean(), darkening  # the weighted border mostly does not


def test_poisson_colour_runs_in_the_pipeline_and_keeps_known_pixels():
    image = (weave(96, 128) * 255).astype(np.uint8)
    mask = hole((96, 128), 30, 40, 30, 40)
    assert OctaveConfig().colour == "poisson"  # the default
    out = Inpainter.from_method("patchmatch+octave", working_size=48)(image, mask)
    assert np.array_equal(out[~mask], image[~mask])
    membrane = Inpainter.from_method("patchmatch+octave", None, {"colour": "membrane"}, working_size=48)(image, mask)
    assert not np.array_equal(out, membrane)
    with pytest.raises(ConfigError):
        OctaveConfig(colour="gradient")
