"""The cra lifter: context residuals moved into the hole, on tiny odd-sized images."""

import numpy as np
import pytest

from hrinpaint.errors import InpaintError
from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import FillResult
from hrinpaint.fillers.opencv import TeleaFiller
from hrinpaint.io import to_float
from hrinpaint.lifters import LIFTERS
from hrinpaint.lifters.cra import ContextResidual, CraConfig, CraLifter, contextual_residual
from hrinpaint.lifters.upsample import UpsampleConfig, UpsampleLifter
from hrinpaint.ops.patches import cell_edges
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.ops.resize import area_downsample, downsample_mask, resize_bilinear
from hrinpaint.pipeline import Inpainter, PipelineOptions

OPTIONS = PipelineOptions(working_size=32)


def inpaint(image: np.ndarray, mask: np.ndarray, **config) -> np.ndarray:
    return Inpainter(TeleaFiller(), CraLifter(CraConfig(**config)), OPTIONS)(image, mask)


def upsample(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return Inpainter(TeleaFiller(), UpsampleLifter(UpsampleConfig("bilinear")), OPTIONS)(image, mask)


def stripes(height: int, width: int, period: float = 3.0, amplitude: float = 0.3) -> np.ndarray:
    x = np.arange(width)[None, :]
    plane = 0.5 + amplitude * np.sin(2 * np.pi * x / period) + np.zeros((height, 1))
    return np.repeat(plane[:, :, None], 3, axis=2).astype(np.float32)


def laplacian_energy(image: np.ndarray, mask: np.ndarray) -> float:
    luma = image.astype(np.float64).mean(axis=2)
    lap = luma[2:, 1:-1] + luma[:-2, 1:-1] + luma[1:-1, 2:] + luma[1:-1, :-2] - 4 * luma[1:-1, 1:-1]
    return float((lap**2)[mask[1:-1, 1:-1]].mean())


def working_case(image: np.ndarray, mask: np.ndarray, working_shape: tuple[int, int]):
    """What Lifter.run hands to lift: the zeroed region, its working mask and a flat 0.5 fill."""
    image = image.copy()
    image[mask] = 0.0
    working_mask = downsample_mask(mask, working_shape)
    fill = area_downsample(image, working_shape)
    fill[working_mask] = 0.5
    return image, working_mask, fill


def test_registered_and_usable_with_every_filler():
    assert "cra" in LIFTERS
    assert isinstance(LIFTERS.build("cra", top_k=2), CraLifter)
    image = stripes(41, 57)
    mask = np.zeros((41, 57), bool)
    mask[15:25, 20:35] = True
    for method in ("telea+cra", "ns+cra"):
        result = Inpainter.from_method(method, working_size=16)(image, mask)
        assert result.shape == image.shape and np.array_equal(result[~mask], image[~mask])
    with pytest.raises(InpaintError, match="no option"):
        LIFTERS.build("cra", no_such_option=1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_shape_kept_and_known_pixels_bit_exact_over_random_masks(dtype):
    rng = np.random.default_rng(7)
    for _ in range(6):
        height, width = (int(v) for v in rng.integers(20, 140, size=2))
        texture = stripes(height, width, period=float(rng.uniform(2.5, 6)))
        if dtype is np.float32:
            image = texture
        else:
            image = np.rint(texture * np.iinfo(dtype).max).astype(dtype)
        mask = np.zeros((height, width), bool)
        for _ in range(int(rng.integers(1, 5))):  # many separate holes, some touching the border
            top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
            mask[
                top : top + int(rng.integers(1, height // 2 + 2)), left : left + int(rng.integers(1, width // 2 + 2))
            ] = True
        if mask.all():
            mask[0, 0] = False
        result = inpaint(image, mask)
        assert result.dtype == image.dtype and result.shape == image.shape
        assert np.array_equal(result[~mask], image[~mask])


def test_odd_size_region_gets_high_frequency_detail_in_the_hole():
    image = stripes(97, 131)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    cra, plain = inpaint(image, mask), upsample(image, mask)
    assert cra.shape == image.shape
    truth = laplacian_energy(image, mask)
    assert laplacian_energy(plain, mask) < 0.05 * truth  # the working resolution cannot hold the stripes
    assert laplacian_energy(cra, mask) > 0.4 * truth
    assert laplacian_energy(cra, mask) > 10 * laplacian_energy(plain, mask)
    assert np.isfinite(cra).all() and cra.min() >= 0.0 and cra.max() <= 1.0


def test_flat_context_adds_no_residual():
    image = np.full((97, 131, 3), 0.4, np.float32)  # flat: the residual is zero everywhere
    mask = np.zeros((97, 131), bool)
    mask[20:50, 30:90] = True
    np.testing.assert_allclose(inpaint(image, mask)[mask], upsample(image, mask)[mask], atol=1e-5)


def test_residual_window_and_points_match_the_whole_image_definition():
    rng = np.random.default_rng(8)
    image = rng.random((97, 131, 3), dtype=np.float32)
    reference = contextual_residual(image, (24, 32))
    residual = ContextResidual(image, (24, 32))
    np.testing.assert_allclose(residual.window(5, 90, 3, 120), reference[5:90, 3:120], atol=1e-5)
    rows, cols = rng.integers(0, 97, (7, 2)), rng.integers(0, 131, (7, 2))
    np.testing.assert_allclose(residual.at(rows, cols), reference[rows, cols], atol=1e-5)


def region_textures() -> np.ndarray:
    """96 x 128: period-2 vertical stripes on the left half, period-2 horizontal stripes on the right half.

    At working size 24 x 32 (scale 4) the area average of either pattern is flat, so the residual is the pattern
    itself, and moving it by whole cells (16 px) leaves it unchanged."""
    image = np.full((96, 128, 3), 0.5, np.float32)
    image[:, :64] += np.where(np.arange(64) % 2 == 0, 0.2, -0.2)[None, :, None]
    image[:, 64:] += np.where(np.arange(96) % 2 == 0, 0.1, -0.1)[:, None, None]
    return image


@pytest.mark.parametrize("match_energy", [True, False])
def test_cell_attention_weights_are_used(match_energy):
    truth = region_textures()
    mask = np.zeros((96, 128), bool)
    mask[36:60, 12:44] = True  # inside the vertical-stripe half
    image, working_mask, fill = working_case(truth, mask, (24, 32))
    rows, cols = 6, 8  # 4 x 4 working px cells = 16 x 16 full-resolution px
    row_edges, col_edges = cell_edges(24, rows), cell_edges(32, cols)
    hole_cells = np.array(
        [
            r * cols + c
            for r in range(rows)
            for c in range(cols)
            if working_mask[row_edges[r] : row_edges[r + 1], col_edges[c] : col_edges[c + 1]].any()
        ]
    )
    context_cells = np.setdiff1d(np.arange(rows * cols), hole_cells)
    chosen = 2 * cols + 6  # a clean cell in the horizontal-stripe half
    weights = np.zeros((len(hole_cells), len(context_cells)), np.float32)
    weights[:, np.flatnonzero(context_cells == chosen)] = 1.0
    attention = CellAttention((24, 32), (rows, cols), hole_cells, context_cells, weights)
    lifter = CraLifter(CraConfig(match_energy=match_energy))
    result = lifter.lift(image, mask, FillResult(fill, attention), working_mask)
    base = resize_bilinear(fill, (96, 128))
    horizontal = truth[:, 64:65] - 0.5  # the horizontal-stripe residual, the same in every column
    expected = np.clip(base + horizontal, 0, 1)
    np.testing.assert_allclose(result[mask], np.broadcast_to(expected, base.shape)[mask], atol=1e-5)
    # without attention the hole draws on its own (vertical-stripe) surroundings instead
    own = CraLifter().lift(image, mask, FillResult(fill), working_mask)
    assert np.abs(own[mask] - result[mask]).max() > 0.1


def test_cell_attention_on_contaminated_context_is_dropped():
    truth = region_textures()
    mask = np.zeros((96, 128), bool)
    mask[36:60, 12:44] = True
    image, working_mask, fill = working_case(truth, mask, (24, 32))
    hole_cells = np.array([2 * 8 + 1])
    touching = 2 * 8 + 3  # next to the hole: its residual saw the zeroed hole pixels
    attention = CellAttention((24, 32), (6, 8), hole_cells, np.array([touching]), np.ones((1, 1), np.float32))
    result = CraLifter().lift(image, mask, FillResult(fill, attention), working_mask)
    np.testing.assert_allclose(result[mask], resize_bilinear(fill, (96, 128))[mask], atol=1e-6)
    with pytest.raises(ValueError, match="covers"):
        bad = CellAttention((12, 16), (6, 8), hole_cells, np.array([touching]), np.ones((1, 1), np.float32))
        CraLifter().lift(image, mask, FillResult(fill, bad), working_mask)


def test_offset_field_moves_residuals_pixel_by_pixel():
    rng = np.random.default_rng(9)
    truth = rng.random((96, 128, 3), dtype=np.float32)  # no pattern: every pixel of the residual is distinct
    mask = np.zeros((96, 128), bool)
    mask[40:57, 10:37] = True
    image, working_mask, fill = working_case(truth, mask, (24, 32))
    grid_y, grid_x = np.mgrid[0:24, 0:32]
    sources = np.stack([grid_y, grid_x], axis=-1)[:, :, None, :].astype(np.int32)
    shift = 14  # working pixels to the right: clear of the hole and of its contaminated rim
    sources[working_mask, 0, 1] += shift
    field = OffsetField(sources, np.ones((24, 32, 1), np.float32))
    result = CraLifter().lift(image, mask, FillResult(fill, field), working_mask)
    residual = contextual_residual(image, (24, 32))
    moved = np.roll(residual, -4 * shift, axis=1)  # the residual 56 full-resolution px to the right
    expected = np.clip(resize_bilinear(fill, (96, 128)) + moved, 0, 1)
    np.testing.assert_allclose(result[mask], expected[mask], atol=1e-5)


def test_offset_field_with_no_usable_source_adds_nothing():
    truth = stripes(96, 128, period=2.5)
    mask = np.zeros((96, 128), bool)
    mask[40:57, 10:37] = True
    image, working_mask, fill = working_case(truth, mask, (24, 32))
    grid_y, grid_x = np.mgrid[0:24, 0:32]
    sources = np.stack([grid_y, grid_x], axis=-1)[:, :, None, :].astype(np.int32)  # every pixel its own source
    field = OffsetField(sources, np.ones((24, 32, 1), np.float32))
    result = CraLifter().lift(image, mask, FillResult(fill, field), working_mask)
    np.testing.assert_allclose(result[mask], resize_bilinear(fill, (96, 128))[mask], atol=1e-6)


def test_holes_at_the_border_and_tiny_holes():
    image = stripes(73, 89, period=2.7)
    mask = np.zeros((73, 89), bool)
    mask[:12, :20] = True  # a corner
    mask[60:, 40:70] = True  # the bottom edge
    mask[35:37, 44:46] = True  # 2 x 2 pixels
    result = inpaint(image, mask)
    assert np.array_equal(result[~mask], image[~mask]) and np.isfinite(result).all()
    assert laplacian_energy(result, mask) > 5 * laplacian_energy(upsample(image, mask), mask)


def test_hole_over_half_the_region():
    image = stripes(64, 96, period=2.5)
    mask = np.zeros((64, 96), bool)
    mask[4:60, 4:70] = True  # 60 % of the image
    result = inpaint(image, mask)
    assert np.array_equal(result[~mask], image[~mask])
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def test_no_valid_context_falls_back_to_upsampling():
    truth = stripes(96, 128, period=2.5)
    mask = np.ones((96, 128), bool)
    mask[:, :6] = False  # a thin strip: every context cell is within reach of the hole
    image, working_mask, fill = working_case(truth, mask, (24, 32))
    result = CraLifter().lift(image, mask, FillResult(fill), working_mask)
    np.testing.assert_allclose(result[mask], resize_bilinear(fill, (96, 128))[mask], atol=1e-6)


def test_native_resolution_returns_the_fill():
    rng = np.random.default_rng(10)
    fill = rng.random((20, 30, 3), dtype=np.float32)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:10] = True
    result = CraLifter().lift(fill, mask, FillResult(fill), mask)
    np.testing.assert_array_equal(result, fill)


def test_chunking_does_not_change_the_result():
    image = stripes(97, 131, period=3.3)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    mask[5:15, 5:20] = True
    whole = inpaint(image, mask, chunk_size=10_000)
    np.testing.assert_allclose(inpaint(image, mask, chunk_size=1), whole, atol=1e-6)
    np.testing.assert_allclose(inpaint(image, mask, chunk_size=7), whole, atol=1e-6)


def test_options_change_the_result_but_stay_exact_outside():
    image = stripes(97, 131, period=3.3)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    for config in ({"similarity": "cosine"}, {"top_k": None, "cells": 8}, {"top_k": 1, "overlap": 1.0}, {"cells": 8}):
        result = inpaint(image, mask, **config)
        assert np.array_equal(result[~mask], image[~mask]) and np.isfinite(result).all()


@pytest.mark.parametrize(
    "config",
    [
        {"temperature": 0},
        {"temperature": -1.0},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"top_k": 0},
        {"overlap": 0.0},
        {"overlap": 1.5},
        {"cells": 0},
        {"chunk_size": 0},
        {"feature_size": 0},
        {"context_margin": -1.0},
        {"proximity": -0.5},
        {"structure_weight": float("nan")},
        {"similarity": "euclid"},
    ],
)
def test_config_is_validated(config):
    with pytest.raises(ValueError):
        CraConfig(**config)


def test_filler_attention_can_be_ignored():
    from hrinpaint.fillers.attention import OffsetField
    from hrinpaint.fillers.base import FillResult
    from hrinpaint.lifters.cra import CraConfig, CraLifter

    rng = np.random.default_rng(0)
    image = rng.random((96, 128, 3), dtype=np.float32)
    mask = np.zeros((96, 128), bool)
    mask[40:60, 50:80] = True
    working_mask = np.zeros((48, 64), bool)
    working_mask[20:30, 25:40] = True
    small = rng.random((48, 64, 3), dtype=np.float32)
    # every hole pixel copies from the top-left corner
    sources = np.zeros((48, 64, 1, 2), np.int32)
    field = OffsetField(sources, np.ones((48, 64, 1), np.float32))
    with_field = CraLifter().lift(image, mask, FillResult(small, field), working_mask)
    ignored = CraLifter(CraConfig(use_filler_attention=False)).lift(image, mask, FillResult(small, field), working_mask)
    plain = CraLifter().lift(image, mask, FillResult(small), working_mask)
    assert np.array_equal(ignored, plain)
    assert not np.array_equal(with_field[mask], plain[mask])


def test_lift_over_the_hole_box_of_an_integer_region_matches_the_float_region():
    truth = stripes(97, 131, period=3.3)
    stored = np.rint(truth * 255).astype(np.uint8)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    mask[70:75, 20:30] = True
    image, working_mask, fill = working_case(to_float(stored), mask, (24, 32))
    whole = CraLifter().lift(image, mask, FillResult(fill), working_mask)
    hole = bounding_box(mask)
    box = CraLifter().lift(stored, mask, FillResult(fill), working_mask, box=hole)  # hole not even zeroed
    assert box.shape == (*hole.shape, 3)
    np.testing.assert_allclose(box, whole[hole.slices], atol=1e-6)
    larger = Box(hole.top - 3, hole.left - 5, hole.bottom + 2, hole.right)
    np.testing.assert_allclose(
        CraLifter().lift(stored, mask, FillResult(fill), working_mask, box=larger), whole[larger.slices], atol=1e-6
    )
    with pytest.raises(ValueError, match="does not hold"):
        CraLifter().lift(
            stored, mask, FillResult(fill), working_mask, box=Box(hole.top + 1, hole.left, hole.bottom, hole.right)
        )


@pytest.mark.parametrize("method", ["telea+cra", "patchmatch+cra", "telea+upsample"])
def test_old_hole_content_never_reaches_the_result(method):
    rng = np.random.default_rng(11)
    image = stripes(97, 131, period=3.3)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    mask[2:9, 100:104] = True
    noisy = image.copy()
    noisy[mask] = rng.random((int(mask.sum()), 3), dtype=np.float32)  # what is being removed
    cleared = image.copy()
    cleared[mask] = 0.0
    inpainter = Inpainter.from_method(method, working_size=32)
    np.testing.assert_allclose(inpainter(noisy, mask), inpainter(cleared, mask), atol=1e-6)


@pytest.mark.parametrize("match_energy", [True, False])
def test_bands_and_kept_sources_do_not_change_the_result(monkeypatch, match_energy):
    import hrinpaint.lifters.cra_cells as cra_cells
    import hrinpaint.lifters.cra_residual as cra_residual

    image = stripes(97, 131, period=3.3)
    mask = np.zeros((97, 131), bool)
    mask[30:62, 45:95] = True
    mask[5:15, 5:20] = True
    monkeypatch.setattr(cra_residual, "_BAND_PIXELS", 10**9)
    whole = inpaint(image, mask, match_energy=match_energy)
    monkeypatch.setattr(cra_residual, "_BAND_PIXELS", 150)  # bands of 2 or 3 rows, each smoothed across its neighbours
    np.testing.assert_allclose(inpaint(image, mask, match_energy=match_energy), whole, atol=1e-6)
    monkeypatch.setattr(cra_cells, "_KEPT_SOURCES", 1)
    monkeypatch.setattr(cra_cells, "_SOURCE_MARGIN", 0)
    np.testing.assert_allclose(inpaint(image, mask, match_energy=match_energy), whole, atol=1e-6)


def test_run_returns_the_box_and_checks_it():
    image = np.rint(stripes(41, 57) * 255).astype(np.uint8)
    mask = np.zeros((41, 57), bool)
    mask[15:25, 20:35] = True
    working_mask = downsample_mask(mask, (16, 22))
    hole = bounding_box(mask)
    for lifter in (CraLifter(), UpsampleLifter()):
        for working in (working_mask, mask):  # downsampled, and filled at native size
            filled = lifter.run(image, mask, TeleaFiller(), working, hole)
            assert filled.shape == (*hole.shape, 3) and filled.dtype == np.float32
            assert lifter.run(image, mask, TeleaFiller(), working).shape == (41, 57, 3)
        with pytest.raises(ValueError, match="does not lie"):
            lifter.run(image, mask, TeleaFiller(), working_mask, Box(0, 0, 42, 57))
