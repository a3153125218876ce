"""Hole generators: determinism, shapes, LaMa statistics, resolution independence, schedules."""

from __future__ import annotations

import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from hrinpaint.errors import InpaintError, InputError, UnknownNameError
from hrinpaint.masks import MASKS, generate_mask, mask_kinds
from hrinpaint.masks.kinds import LamaMask, redraw_until_small
from hrinpaint.masks.schedule import ProgressiveSchedule

KINDS = ["box", "center", "deepfill", "medium", "object", "thick", "thin"]
RANDOM_KINDS = [kind for kind in KINDS if kind != "center"]
LAMA_KINDS = ["thin", "medium", "thick"]
SMALL = (192, 256)  # H x W


def hole_fractions(kind: str, shape: tuple[int, int], seeds: range) -> np.ndarray:
    return np.array([generate_mask(kind, shape, seed).mean() for seed in seeds])


def test_the_seven_kinds_are_registered():
    assert mask_kinds() == KINDS


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [SMALL, (37, 53), (53, 37), (1, 1), (2, 7)])
def test_bool_mask_of_the_requested_shape(kind, shape):
    hole = generate_mask(kind, shape, seed=3)
    assert hole.dtype == np.bool_
    assert hole.shape == shape
    assert hole.any()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_mask(kind):
    for seed in (0, 1, 12345):
        np.testing.assert_array_equal(generate_mask(kind, SMALL, seed), generate_mask(kind, SMALL, seed))


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_different_seeds_differ(kind):
    masks = [generate_mask(kind, SMALL, seed) for seed in range(5)]
    assert all(not np.array_equal(masks[0], other) for other in masks[1:])


@pytest.mark.parametrize("kind", LAMA_KINDS)
def test_lama_masks_are_never_empty_nor_over_half(kind):
    fractions = hole_fractions(kind, SMALL, range(300))
    assert fractions.min() > 0
    assert fractions.max() <= 0.5


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_resolution_independent(kind):
    # Positions are drawn as fractions of the image and sizes scale with the short side, so one seed draws
    # the same picture at both sizes: the hole fraction agrees per seed, not only on average.
    seeds = range(40)
    small = hole_fractions(kind, SMALL, seeds)
    large = hole_fractions(kind, (768, 1024), seeds)
    assert abs(small.mean() - large.mean()) < 0.01
    assert np.median(np.abs(small - large)) < 0.01


def test_same_seed_is_the_same_picture_enlarged():
    small = generate_mask("thick", SMALL, seed=7)
    large = generate_mask("thick", (768, 1024), seed=7)
    shrunk = cv2.resize(large.astype(np.float32), SMALL[::-1], interpolation=cv2.INTER_AREA) > 0.5
    assert np.mean(shrunk == small) > 0.97


@pytest.mark.parametrize(
    ("kind", "reference_mean"),
    # Mean hole fraction of LaMa's own algorithm (make_random_irregular_mask / make_random_rectangle_mask,
    # MixedMaskGenerator, masks over 50% dropped) with its random_*_512 configs, 2000 masks at 512 x 512.
    [("thin", 0.285), ("medium", 0.268), ("thick", 0.270)],
)
def test_lama_area_matches_the_reference_generator(kind, reference_mean):
    assert abs(hole_fractions(kind, (512, 512), range(200)).mean() - reference_mean) < 0.03


def test_lama_holes_get_thicker_from_thin_to_thick():
    # With LaMa's parameters the three kinds cover about the same area (thin: many narrow strokes, thick: a
    # few broad ones), so what grows is the hole's thickness: the mean distance from a hole pixel to the
    # nearest known pixel.
    def mean_depth(kind: str) -> float:
        depths = []
        for seed in range(60):
            hole = generate_mask(kind, SMALL, seed).astype(np.uint8)
            depths.append(cv2.distanceTransform(hole, cv2.DIST_L2, 5)[hole > 0].mean())
        return float(np.mean(depths))

    thin, medium, thick = (mean_depth(kind) for kind in LAMA_KINDS)
    assert thin < medium < thick
    assert 2 * thin < medium


@pytest.mark.parametrize(
    ("shape", "side", "top", "left"),
    [
        ((512, 512), 256, 128, 128),
        ((192, 256), 96, 48, 80),
        ((3000, 4000), 1500, 750, 1250),
        ((37, 53), 18, 9, 17),
    ],
)
def test_center_square_is_centred_with_half_the_short_side(shape, side, top, left):
    expected = np.zeros(shape, bool)
    expected[top : top + side, left : left + side] = True
    for seed in (0, 1):
        np.testing.assert_array_equal(generate_mask("center", shape, seed), expected)
    assert generate_mask("center", (512, 512), 0).mean() == 0.25


@pytest.mark.parametrize("shape", [(512, 512), SMALL, (256, 192), (37, 53), (3000, 4000)])
def test_box_is_a_quarter_of_the_image_and_inside_it(shape):
    for seed in range(30):
        hole = generate_mask("box", shape, seed)
        rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        # One solid rectangle (a box pushed past the border would be cut and lose area).
        assert hole.sum() == height * width
        assert abs(hole.mean() - 0.25) < 0.02
        assert 0.5 / 1.05 <= width / height <= 2 * 1.05


def test_box_aspect_varies():
    aspects = []
    for seed in range(40):
        hole = generate_mask("box", (512, 512), seed)
        aspects.append(hole.any(axis=0).sum() / hole.any(axis=1).sum())
    assert min(aspects) < 0.8 and max(aspects) > 1.25


def test_fast_at_4000_by_3000():
    for kind in KINDS:
        for seed in range(3):
            start = time.perf_counter()
            generate_mask(kind, (3000, 4000), seed)
            assert time.perf_counter() - start < 1.0, kind


def test_scaled_generator_draws_smaller_holes():
    for kind in RANDOM_KINDS:
        full = MASKS.build(kind)
        half = full.scaled(0.5)
        full_area = np.mean([full(SMALL, np.random.default_rng(seed)).mean() for seed in range(30)])
        half_area = np.mean([half(SMALL, np.random.default_rng(seed)).mean() for seed in range(30)])
        assert half_area < 0.6 * full_area, kind


def test_build_takes_config_overrides():
    strokes_only = MASKS.build("thick", box_weight=0.0)
    assert isinstance(strokes_only.config, LamaMask)
    assert strokes_only.config.box_weight == 0.0
    assert strokes_only.config.strokes == MASKS.build("thick").config.strokes
    with pytest.raises(InpaintError, match="no option"):
        MASKS.build("thick", width=3)


def test_redraw_keeps_the_smallest_when_every_draw_is_too_large():
    big = np.ones((4, 4), bool)
    big[0, 0] = False
    draws = iter([np.ones((4, 4), bool), np.zeros((4, 4), bool), big])
    hole = redraw_until_small(lambda: next(draws), max_hole_fraction=0.5, max_tries=3)
    np.testing.assert_array_equal(hole, big)


def test_unknown_kind_raises_unknown_name_error():
    with pytest.raises(UnknownNameError, match="unknown mask kind 'nope'"):
        generate_mask("nope", SMALL, 0)
    with pytest.raises(UnknownNameError):
        ProgressiveSchedule(0.2, 1.0, 100, kinds=("thin", "nope"))


@pytest.mark.parametrize("shape", [(0, 5), (5, -1), (5,), (2.5, 4)])
def test_bad_shape_raises_input_error(shape):
    with pytest.raises(InputError):
        generate_mask("thin", shape, 0)


def test_progressive_scale_grows_linearly_and_holds():
    schedule = ProgressiveSchedule(0.25, 1.0, ramp_steps=1000, kinds=("thick",))
    steps = [0, 250, 500, 1000, 5000]
    scales = [schedule.scale(step) for step in steps]
    assert scales == pytest.approx([0.25, 0.4375, 0.625, 1.0, 1.0])
    assert schedule.scale(-10) == 0.25


def test_progressive_masks_grow_with_the_step():
    schedule = ProgressiveSchedule(0.25, 1.0, ramp_steps=1000, kinds=("thin", "thick", "deepfill"))

    def mean_area(step: int) -> float:
        return float(np.mean([schedule.mask(SMALL, step, np.random.default_rng(seed)).mean() for seed in range(40)]))

    early, middle, late = mean_area(0), mean_area(500), mean_area(1000)
    assert early < middle < late
    # At the end of the ramp the kinds' full parameters are drawn: the registry's masks, seed for seed.
    for seed in range(5):
        expected_rng = np.random.default_rng(seed)
        kind = schedule.kinds[int(expected_rng.integers(len(schedule.kinds)))]
        expected = MASKS.build(kind)(SMALL, expected_rng)
        np.testing.assert_array_equal(schedule.mask(SMALL, 1000, np.random.default_rng(seed)), expected)


def test_switch_schedule_changes_size_at_the_switch_step():
    schedule = ProgressiveSchedule.switch(80_000, kinds=("deepfill",), small_scale=0.5, large_scale=1.0)
    assert schedule.scale(0) == schedule.scale(79_999) == 0.5
    assert schedule.scale(80_000) == schedule.scale(10**7) == 1.0
    before = [schedule.mask(SMALL, 79_999, np.random.default_rng(seed)).mean() for seed in range(30)]
    after = [schedule.mask(SMALL, 80_000, np.random.default_rng(seed)).mean() for seed in range(30)]
    assert np.mean(before) < 0.6 * np.mean(after)


def test_importing_masks_does_not_import_opencv():
    code = "import sys, hrinpaint.masks; assert 'cv2' not in sys.modules; print(hrinpaint.masks.mask_kinds())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------------------------
# object holes


def test_object_holes_cover_3_to_15_percent_in_one_piece():
    fractions = []
    for seed in range(40):
        hole = generate_mask("object", (600, 800), seed)
        fractions.append(hole.mean())
        count, _ = cv2.connectedComponents(hole.astype(np.uint8))
        assert count - 1 <= 3, seed  # a silhouette's thin parts may pinch off at most a sliver or two
    assert 0.025 < min(fractions) and max(fractions) < 0.16
    assert np.std(fractions) > 0.02  # the size is drawn, not fixed


def test_object_holes_are_the_same_spec_at_every_size():
    for seed in range(10):
        small = generate_mask("object", (683, 1024), seed)
        large = generate_mask("object", (1366, 2048), seed)
        shrunk = cv2.resize(large.astype(np.float32), (1024, 683), interpolation=cv2.INTER_AREA) > 0.5
        assert np.mean(shrunk != small) < 0.002, seed


def test_object_silhouettes_are_real_shapes_and_get_mirrored():
    from hrinpaint.masks.objects import ObjectSpec, rasterise, silhouettes

    shapes = silhouettes()
    assert len(shapes) == 11 and all(len(shape.points) >= 8 and 0.2 < shape.fill < 1 for shape in shapes)
    spec = ObjectSpec(index=0, mirrored=False, area=0.1, x=0.5, y=0.5)
    plain = rasterise(spec, (400, 400))
    mirrored = rasterise(ObjectSpec(0, True, 0.1, 0.5, 0.5), (400, 400))
    assert plain.mean() == pytest.approx(0.1, rel=0.05)
    assert np.mean(plain[:, ::-1] == mirrored) > 0.995 and not np.array_equal(plain, mirrored)
    corner = rasterise(ObjectSpec(3, False, 0.05, 0.0, 0.0), (400, 400))
    assert corner[:, 0].any() or corner[0].any()  # x = y = 0 puts the box in the top-left corner
