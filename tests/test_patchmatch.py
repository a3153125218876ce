"""The PatchMatch filler: contract, determinism, texture completion, its offset field, edge cases, kernels."""

import numpy as np
import pytest

from hrinpaint.errors import InpaintError
from hrinpaint.fillers import FILLERS
from hrinpaint.fillers import _patchmatch_kernels as kernels
from hrinpaint.fillers.attention import OffsetField
from hrinpaint.fillers.patchmatch import (
    PatchMatchConfig,
    PatchMatchFiller,
    masked_pyramid,
    patch_targets,
    texture_map,
    valid_sources,
)


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour ramps plus noise: every patch is distinct, so matching has something to find."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramps = np.dstack([ys / height, xs / width, 0.5 + 0.3 * np.sin(xs / 3.0 + ys / 5.0)])
    return np.clip(0.7 * ramps + 0.3 * rng.random((height, width, 3)), 0, 1).astype(np.float32)


def stripes(height: int, width: int, period: int = 6) -> np.ndarray:
    """Diagonal colour stripes, a periodic texture that diffusion cannot continue."""
    ys, xs = np.mgrid[0:height, 0:width]
    phase = ((xs + ys) // (period // 2)) % 2
    colours = np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.8]], np.float32)
    return colours[phase]


def with_hole(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[:, :, None], np.float32(0), image).astype(np.float32)


def box_mask(shape: tuple[int, int], top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + height, left : left + width] = True
    return mask


def check_field(field: OffsetField, mask: np.ndarray, top_k: int) -> None:
    """Shapes, normalised weights, hole sources in known context, non-hole pixels their own source."""
    height, width = mask.shape
    assert field.sources.shape == (height, width, top_k, 2) and field.sources.dtype == np.int32
    assert field.weights.shape == (height, width, top_k) and field.weights.dtype == np.float32
    np.testing.assert_allclose(field.weights.sum(axis=2), 1.0, atol=1e-5)
    assert (field.weights >= 0).all()
    ys, xs = field.sources[..., 0], field.sources[..., 1]
    assert (ys >= 0).all() and (ys < height).all() and (xs >= 0).all() and (xs < width).all()
    used = field.weights > 0
    hole_slots = used & mask[:, :, None]
    assert not mask[ys[hole_slots], xs[hole_slots]].any(), "a hole pixel draws from another hole pixel"
    grid_y, grid_x = np.indices(mask.shape)
    assert (field.sources[~mask][:, 0, 0] == grid_y[~mask]).all()
    assert (field.sources[~mask][:, 0, 1] == grid_x[~mask]).all()


# --------------------------------------------------------------------------------------------------------------
# Contract


def test_registered_and_built_from_the_registry():
    assert "patchmatch" in FILLERS
    filler = FILLERS.build("patchmatch", patch_size=5, seed=3)
    assert isinstance(filler, PatchMatchFiller)
    assert filler.config == PatchMatchConfig(patch_size=5, seed=3)
    with pytest.raises(InpaintError, match="has no option"):
        FILLERS.build("patchmatch", patch=5)


def test_shape_range_and_known_pixels_unchanged():
    image = textured(37, 53)
    mask = box_mask((37, 53), 10, 15, 12, 17)
    result = PatchMatchFiller().fill(with_hole(image, mask), mask)
    assert result.image.shape == image.shape and result.image.dtype == np.float32
    assert np.array_equal(result.image[~mask], image[~mask])
    assert np.isfinite(result.image).all()
    assert result.image.min() >= 0 and result.image.max() <= 1
    check_field(result.attention, mask, 1)


def test_hole_content_of_the_input_is_ignored():
    image = textured(37, 53)
    mask = box_mask((37, 53), 10, 15, 12, 17)
    garbage = image.copy()
    garbage[mask] = 1.0
    filler = PatchMatchFiller()
    assert np.array_equal(filler.fill(garbage, mask).image, filler.fill(with_hole(image, mask), mask).image)


def test_deterministic_per_seed_and_seeds_differ():
    image = textured(64, 80)
    mask = box_mask((64, 80), 20, 25, 24, 30)
    damaged = with_hole(image, mask)
    config = {"coarsest_size": 16}
    first = PatchMatchFiller(PatchMatchConfig(seed=5, **config)).fill(damaged, mask)
    again = PatchMatchFiller(PatchMatchConfig(seed=5, **config)).fill(damaged, mask)
    assert np.array_equal(first.image, again.image)
    assert np.array_equal(first.attention.sources, again.attention.sources)
    others = [PatchMatchFiller(PatchMatchConfig(seed=seed, **config)).fill(damaged, mask) for seed in (6, 7)]
    assert any(not np.array_equal(first.image, other.image) for other in others)


def test_periodic_texture_is_continued_much_better_than_diffusion():
    truth = stripes(64, 80)
    mask = box_mask((64, 80), 18, 24, 26, 30)
    damaged = with_hole(truth, mask)
    patchmatch = PatchMatchFiller(PatchMatchConfig(coarsest_size=16)).fill(damaged, mask).image
    telea = FILLERS.build("telea").fill(damaged, mask).image
    error_patchmatch = np.abs(patchmatch - truth)[mask].mean()
    error_telea = np.abs(telea - truth)[mask].mean()
    assert error_patchmatch < 0.3 * error_telea, (error_patchmatch, error_telea)


def test_soft_offset_field_has_normalised_sorted_weights():
    image = textured(37, 53)
    mask = box_mask((37, 53), 12, 20, 9, 11)
    field = PatchMatchFiller(PatchMatchConfig(top_k=4)).fill(with_hole(image, mask), mask).attention
    check_field(field, mask, 4)
    assert (np.diff(field.weights, axis=2) <= 1e-7).all(), "slots are not heaviest first"


def test_offset_field_reproduces_a_hard_fill():
    """With one slot, copying each hole pixel from its first source gives an image close to the fill itself."""
    image = stripes(48, 64)
    mask = box_mask((48, 64), 15, 20, 14, 18)
    result = PatchMatchFiller(PatchMatchConfig(coarsest_size=12)).fill(with_hole(image, mask), mask)
    sources = result.attention.sources[:, :, 0]
    copied = image[sources[..., 0], sources[..., 1]]
    assert np.abs(copied - result.image)[mask].mean() < 0.1


# --------------------------------------------------------------------------------------------------------------
# Edge cases


@pytest.mark.parametrize(
    "region",
    [
        (slice(0, 12), slice(0, 15)),  # top-left corner
        (slice(None), slice(45, 53)),  # the whole right edge
        (slice(30, 37), slice(10, 40)),  # bottom edge
    ],
)
def test_holes_touching_the_border(region):
    image = textured(37, 53)
    mask = np.zeros((37, 53), bool)
    mask[region] = True
    result = PatchMatchFiller().fill(with_hole(image, mask), mask)
    assert np.array_equal(result.image[~mask], image[~mask])
    assert np.isfinite(result.image).all()
    check_field(result.attention, mask, 1)


def test_one_pixel_hole():
    image = stripes(37, 53)
    mask = np.zeros((37, 53), bool)
    mask[18, 26] = True
    result = PatchMatchFiller().fill(with_hole(image, mask), mask)
    assert np.array_equal(result.image[~mask], image[~mask])
    np.testing.assert_allclose(result.image[18, 26], image[18, 26], atol=1e-6)  # the stripe is unambiguous
    check_field(result.attention, mask, 1)


@pytest.mark.parametrize("shape", [(5, 6), (9, 11), (4, 5)])
def test_image_too_small_for_the_patch_still_fills(shape):
    image = textured(*shape)
    mask = np.zeros(shape, bool)
    mask[1:3, 1:4] = True
    result = PatchMatchFiller(PatchMatchConfig(patch_size=9, coarsest_size=9)).fill(with_hole(image, mask), mask)
    assert result.image.shape == image.shape
    assert np.array_equal(result.image[~mask], image[~mask])
    assert np.isfinite(result.image).all() and result.image.min() >= 0 and result.image.max() <= 1
    check_field(result.attention, mask, 1)


def test_no_3x3_context_falls_back_to_diffusion_and_nearest_sources():
    image = textured(4, 5)
    mask = box_mask((4, 5), 1, 1, 2, 3)
    mask[0, 4] = True
    field = PatchMatchFiller().fill(with_hole(image, mask), mask).attention
    check_field(field, mask, 1)
    known = np.argwhere(~mask)
    for y, x in np.argwhere(mask):
        nearest = np.min(np.hypot(*(known - (y, x)).T))
        source = field.sources[y, x, 0]
        assert np.hypot(*(source - (y, x))) == pytest.approx(nearest)


def test_empty_hole_returns_the_input_and_identity_field():
    image = textured(20, 30)
    mask = np.zeros((20, 30), bool)
    result = PatchMatchFiller().fill(image, mask)
    assert np.array_equal(result.image, image)
    check_field(result.attention, mask, 1)


def test_rejects_full_hole_and_non_canonical_input():
    image = textured(20, 30)
    with pytest.raises(ValueError, match="whole image"):
        PatchMatchFiller().fill(image, np.ones((20, 30), bool))
    with pytest.raises(ValueError, match="float32"):
        PatchMatchFiller().fill(image.astype(np.float64), np.zeros((20, 30), bool))


@pytest.mark.parametrize(
    "options",
    [
        {"patch_size": 4},
        {"patch_size": 1},
        {"coarsest_size": 5},
        {"max_levels": 0},
        {"em_iterations_finest": 0},
        {"pm_iterations": 0},
        {"fine_search_radius": 0},
        {"gradient_weight": -1.0},
        {"texture_weight": -1.0},
        {"gamma": 0.5},
        {"sigma_percentile": 0.0},
        {"top_k": 0},
        {"top_k": 50},
        {"seed": -1},
        {"vote": "median"},
        {"best_levels": -1},
    ],
)
def test_config_validation(options):
    with pytest.raises(ValueError):
        PatchMatchConfig(**options)


def test_through_the_pipeline():
    from hrinpaint.pipeline import Inpainter

    image = textured(90, 120)
    mask = box_mask((90, 120), 30, 40, 20, 25)
    inpainter = Inpainter.from_method("patchmatch+upsample", working_size=64)
    result = inpainter(image, mask)
    assert np.array_equal(result[~mask], image[~mask])
    assert np.isfinite(result).all()


# --------------------------------------------------------------------------------------------------------------
# Building blocks, against plain numpy


def test_masked_pyramid_keeps_hole_values_out_of_coarse_levels():
    image = np.full((64, 80, 3), 0.25, np.float32)
    mask = box_mask((64, 80), 20, 20, 20, 30)
    levels = masked_pyramid(with_hole(image, mask), mask, coarsest_size=8, max_levels=8)
    assert [level.hole.shape for level in levels] == [(64, 80), (32, 40), (16, 20), (8, 10)]
    for level in levels:
        np.testing.assert_allclose(level.image[~level.hole], 0.25, atol=1e-6)
        assert level.hole.any()


def test_valid_sources_and_targets_against_brute_force():
    rng = np.random.default_rng(1)
    hole = rng.random((15, 19)) < 0.05
    radius = 2
    valid = valid_sources(hole, radius)
    targets = patch_targets(hole, radius)
    for y in range(15):
        for x in range(19):
            window = hole[max(y - radius, 0) : y + radius + 1, max(x - radius, 0) : x + radius + 1]
            inside = radius <= y < 15 - radius and radius <= x < 19 - radius
            assert valid[y, x] == (inside and not window.any())
            assert targets[y, x] == window.any()


def reference_distance(features, ty, tx, sy, sx, radius):
    total = 0.0
    height, width = features.shape[:2]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if 0 <= ty + dy < height and 0 <= tx + dx < width:
                difference = features[ty + dy, tx + dx].astype(np.float64) - features[sy + dy, sx + dx]
                total += float(difference @ difference)
    return total


@pytest.mark.parametrize("channels", [3, 5])
def test_patch_distance_matches_float64_reference(channels):
    rng = np.random.default_rng(2)
    features = rng.random((12, 14, channels)).astype(np.float32)
    flat = features.reshape(-1)
    for ty, tx in [(5, 6), (0, 0), (11, 13), (0, 7), (6, 13)]:
        for sy, sx in [(3, 3), (8, 10)]:
            got = kernels.patch_distance(flat, 12, 14, channels, ty, tx, sy, sx, 3, np.inf)
            assert got == pytest.approx(reference_distance(features, ty, tx, sy, sx, 3), rel=1e-5)
    # the early exit only ever returns a value at or above the cutoff
    assert kernels.patch_distance(flat, 12, 14, channels, 5, 6, 3, 3, 3, 0.01) >= 0.01


def test_vote_matches_float64_reference():
    rng = np.random.default_rng(3)
    height, width, radius = 16, 18, 2
    hole = box_mask((height, width), 6, 7, 4, 5)
    image = rng.random((height, width, 3)).astype(np.float32)
    valid = valid_sources(hole, radius)
    targets = patch_targets(hole, radius)
    valid_positions = np.argwhere(valid)
    nnf = np.stack(np.indices((height, width), dtype=np.int32), axis=-1)
    nnf[targets] = valid_positions[rng.integers(0, len(valid_positions), targets.sum())]
    weight = np.where(targets, rng.random((height, width)) + 0.1, 0).astype(np.float32)
    hole_ys, hole_xs = np.nonzero(hole)
    got = kernels.vote(image, nnf, weight, hole_ys, hole_xs, radius)
    expected = image.astype(np.float64)
    for y, x in zip(hole_ys, hole_xs, strict=True):
        total, colour = 0.0, np.zeros(3)
        for qy in range(y - radius, y + radius + 1):
            for qx in range(x - radius, x + radius + 1):
                if 0 <= qy < height and 0 <= qx < width and weight[qy, qx] > 0:
                    source = nnf[qy, qx] + (y - qy, x - qx)
                    colour += weight[qy, qx] * image[source[0], source[1]]
                    total += weight[qy, qx]
        expected[y, x] = colour / total
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.array_equal(got[~hole], image[~hole])


def test_offset_field_matches_reference_merge():
    rng = np.random.default_rng(4)
    height, width, radius, top_k = 14, 17, 2, 3
    hole = box_mask((height, width), 5, 6, 4, 5)
    targets = patch_targets(hole, radius)
    valid_positions = np.argwhere(valid_sources(hole, radius))
    nnf = np.stack(np.indices((height, width), dtype=np.int32), axis=-1)
    # A coherent field (one shared offset) on the left half, random sources on the right half.
    chosen = valid_positions[rng.integers(0, len(valid_positions), targets.sum())]
    nnf[targets] = chosen
    left = targets.copy()
    left[:, width // 2 :] = False
    shifted = np.argwhere(left) + (0, 9)  # one shared offset, so that neighbouring votes coincide and merge
    nnf[left] = np.clip(shifted, radius, (height - radius - 1, width - radius - 1))
    weight = np.where(targets, rng.integers(1, 5, (height, width)) / 4.0, 0).astype(np.float32)
    hole_ys, hole_xs = np.nonzero(hole)
    sources, weights = kernels.offset_field(nnf, weight, hole_ys, hole_xs, radius, top_k)
    for y, x in zip(hole_ys, hole_xs, strict=True):
        merged: dict[tuple[int, int], float] = {}
        for qy in range(max(y - radius, 0), min(y + radius + 1, height)):
            for qx in range(max(x - radius, 0), min(x + radius + 1, width)):
                if weight[qy, qx] > 0:
                    source = (int(nnf[qy, qx, 0]) + y - qy, int(nnf[qy, qx, 1]) + x - qx)
                    merged[source] = merged.get(source, 0.0) + float(weight[qy, qx])
        ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0][0] * width + item[0][1]))[:top_k]
        total = sum(value for _, value in ranked)
        for slot, (source, value) in enumerate(ranked):
            assert tuple(sources[y, x, slot]) == source
            assert weights[y, x, slot] == pytest.approx(value / total, rel=1e-5)


def test_best_vote_copies_the_lowest_cost_patch():
    image = np.zeros((9, 9, 3), np.float32)
    image[:, :, 0] = np.arange(81, dtype=np.float32).reshape(9, 9) / 81
    nnf = np.stack(np.indices((9, 9), dtype=np.int32), axis=-1)
    weight = np.zeros((9, 9), np.float32)
    cost = np.full((9, 9), np.inf, np.float32)
    # two patches cover (4, 4): the one at (4, 3) copies from (1, 1), the one at (4, 5) from (7, 7), and cheaper
    nnf[4, 3] = (1, 1)
    nnf[4, 5] = (7, 7)
    weight[4, 3] = weight[4, 5] = 1.0
    cost[4, 3], cost[4, 5] = 2.0, 1.0
    ys, xs = np.array([4], np.int64), np.array([4], np.int64)
    best = kernels.vote_best(image, nnf, weight, cost, ys, xs, 1)
    assert best[4, 4, 0] == image[7, 6, 0]  # (7, 7) + (4, 4) - (4, 5)
    mean = kernels.vote(image, nnf, weight, ys, xs, 1)
    assert mean[4, 4, 0] == pytest.approx((image[7, 6, 0] + image[1, 2, 0]) / 2)


def test_best_vote_keeps_more_detail_than_the_mean():
    from hrinpaint.eval.metrics import band_energy

    image = textured(96, 128, seed=3)
    mask = box_mask((96, 128), 30, 40, 36, 44)
    mean = PatchMatchFiller(PatchMatchConfig(vote="mean")).fill(with_hole(image, mask), mask).image
    best = PatchMatchFiller(PatchMatchConfig(vote="best", best_levels=9)).fill(with_hole(image, mask), mask).image
    assert np.array_equal(best[~mask], image[~mask])
    assert band_energy(best, image, mask)[0] > 1.3 * band_energy(mean, image, mask)[0]


def _grain_beside_flat(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat grey left half, a right half of grain of the same mean, and a hole inside the grain: at coarse levels
    the grain averages out to the flat grey, so colour alone draws the hole from the flat half."""
    rng = np.random.default_rng(seed)
    image = np.full((128, 192, 3), 0.5, np.float32)
    image[:, 96:] += (rng.random((128, 96, 1)).astype(np.float32) - 0.5) * 0.5
    return image, box_mask((128, 192), 40, 110, 48, 50)


@pytest.mark.parametrize("seed", [0, 1])
def test_texture_channels_keep_a_grainy_hole_grainy(seed):
    from hrinpaint.eval.metrics import band_energy

    image, mask = _grain_beside_flat(seed)
    plain = PatchMatchFiller(PatchMatchConfig(texture_weight=0.0)).fill(with_hole(image, mask), mask).image
    textured_fill = PatchMatchFiller(PatchMatchConfig()).fill(with_hole(image, mask), mask).image
    assert np.array_equal(textured_fill[~mask], image[~mask])
    assert band_energy(plain, image, mask)[0] < 0.05  # colour alone copies the flat half
    assert band_energy(textured_fill, image, mask)[0] > 0.4  # the texture channels keep the grain


def test_texture_map_reads_known_pixels_only():
    image, mask = _grain_beside_flat(0)
    texture = texture_map(with_hole(image, mask), mask, 7)
    assert texture.shape == image.shape and texture.dtype == np.float32
    assert (texture[mask] == 0).all() and (texture[:, :, 2] == 0).all()
    assert texture[10:20, 10:20, :2].max() == 0  # flat: no gradient
    assert texture[10:20, 150:170, :2].min() > 0.03  # grain
    # the hole's zeros (or any value in it) do not leak into the context's channels: a different hole content
    # gives the same map
    other = image.copy()
    other[mask] = 1.0
    assert np.array_equal(texture_map(other, mask, 7), texture)
