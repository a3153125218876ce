"""Pure array operations: resampling, pyramids, morphology, regions, paste-back."""

import numpy as np
import pytest

from hrinpaint.ops import (
    area_downsample,
    connected_boxes,
    dilate,
    downsample_mask,
    erode,
    fit_long_side,
    gaussian_pyramid,
    hole_regions,
    laplacian_pyramid,
    reconstruct_laplacian,
    resize,
    resize_bicubic,
    resize_bilinear,
)
from hrinpaint.ops.regions import Box, bounding_box, merge_overlapping
from hrinpaint.ops.resize import area_downsample_pixels


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).random((37, 53, 3), dtype=np.float32)


def test_fit_long_side_keeps_aspect_and_never_upscales():
    assert fit_long_side((3000, 4000), 512) == (384, 512)
    assert fit_long_side((4000, 3000), 512) == (512, 384)
    assert fit_long_side((100, 80), 512) == (100, 80)
    assert fit_long_side((1, 10000), 512) == (1, 512)
    with pytest.raises(ValueError):
        fit_long_side((10, 10), 0)


def test_area_downsample_matches_block_mean_float64():
    rng = np.random.default_rng(1)
    image = rng.random((36, 54, 3)).astype(np.float32)
    expected = image.astype(np.float64).reshape(12, 3, 18, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(area_downsample(image, (12, 18)), expected, atol=1e-6)


def test_area_downsample_refuses_to_enlarge(image):
    with pytest.raises(ValueError, match="cannot enlarge"):
        area_downsample(image, (74, 53))


def test_upsampling_shapes_and_ranges(image):
    assert resize_bilinear(image, (70, 101)).shape == (70, 101, 3)
    up = resize_bicubic(image, (70, 101))
    assert up.shape == (70, 101, 3) and up.min() >= 0.0 and up.max() <= 1.0
    assert resize_bicubic(image[:, :, :1], (70, 101)).shape == (70, 101, 1)
    constant = np.full((9, 11, 3), 0.25, np.float32)
    np.testing.assert_allclose(resize_bicubic(constant, (40, 31)), 0.25, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64, np.float32, bool])
@pytest.mark.parametrize("size", [(12, 18), (11, 17), (36, 7), (5, 54), (36, 54)])
def test_area_downsample_pixels_matches_the_one_step_resize_of_the_float_image(dtype, size, monkeypatch):
    monkeypatch.setattr(resize, "_BAND_ELEMENTS", 500)  # bands of a few rows: the band loop runs many times
    rng = np.random.default_rng(3)
    if dtype is bool:
        stored = rng.random((40, 60)) < 0.1
        expected = area_downsample(stored[2:38, 3:57].astype(np.float32), size)
    elif np.dtype(dtype).kind == "u":
        stored = rng.integers(0, np.iinfo(dtype).max, (40, 60, 3), dtype=dtype, endpoint=True)
        expected = area_downsample(stored[2:38, 3:57] / np.float32(np.iinfo(dtype).max), size)
    else:
        stored = rng.random((40, 60, 3)).astype(dtype)
        expected = area_downsample(stored[2:38, 3:57].astype(np.float32), size)
    pixels = stored[2:38, 3:57]  # a view into a larger image, as the pipeline passes a region
    result = area_downsample_pixels(pixels, size)
    assert result.dtype == np.float32 and result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_area_downsample_pixels_of_block_means_in_float64():
    pixels = np.random.default_rng(4).integers(0, 256, (36, 54, 3), dtype=np.uint8)
    expected = (pixels / 255.0).reshape(12, 3, 18, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(area_downsample_pixels(pixels, (12, 18)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="cannot enlarge"):
        area_downsample_pixels(pixels, (37, 54))
    with pytest.raises(ValueError, match="expects uint8"):
        area_downsample_pixels(pixels.astype(np.int32), (12, 18))


def test_downsample_mask_marks_any_covered_hole():
    mask = np.zeros((40, 40), bool)
    mask[17, 23] = True  # one pixel
    small = downsample_mask(mask, (10, 10))
    assert small.sum() == 1 and small[17 // 4, 23 // 4]


def test_laplacian_pyramid_reconstructs_exactly(image):
    bands = laplacian_pyramid(image, 4)
    assert len(bands) == 4
    assert bands[1].shape[:2] == ((37 + 1) // 2, (53 + 1) // 2)
    np.testing.assert_allclose(reconstruct_laplacian(bands), image, atol=1e-5)


def test_gaussian_pyramid_stops_at_one_pixel():
    pyramid = gaussian_pyramid(np.zeros((5, 3, 3), np.float32), 10)
    assert min(pyramid[-1].shape[:2]) == 1
    assert len(pyramid) < 10


def test_dilate_erode_disk():
    mask = np.zeros((31, 31), bool)
    mask[15, 15] = True
    grown = dilate(mask, 3)
    assert grown[15, 18] and grown[12, 15] and not grown[15, 19] and not grown[18, 18]  # a disk, not a square
    assert np.array_equal(grown, grown[::-1, ::-1]) and np.array_equal(grown, grown.T)
    assert np.array_equal(erode(grown, 3), mask)
    border = np.ones((5, 5), bool)
    assert not erode(border, 1)[0].any()  # outside the image counts as not-hole
    with pytest.raises(ValueError):
        dilate(mask, -1)


def test_connected_boxes_eight_connectivity():
    mask = np.zeros((20, 30), bool)
    mask[2:5, 3:7] = True
    mask[5, 7] = True  # diagonal neighbour joins the first component
    mask[10:12, 20:29] = True
    boxes = connected_boxes(mask)
    assert Box(2, 3, 6, 8) in boxes and Box(10, 20, 12, 29) in boxes and len(boxes) == 2


def test_bounding_box_and_contains():
    mask = np.zeros((20, 30), bool)
    assert bounding_box(mask) is None
    mask[4, 7] = mask[11, 25] = True
    box = bounding_box(mask)
    assert box == Box(4, 7, 12, 26)
    assert Box(0, 0, 20, 30).contains(box) and box.contains(box) and not Box(5, 7, 12, 26).contains(box)
    assert box.intersection(Box(10, 0, 30, 10)) == Box(10, 7, 12, 10) == Box(10, 0, 30, 10).intersection(box)
    assert box.intersection(Box(12, 0, 20, 30)) is None  # touching edges share no pixel
    outer = box.expand(3, (20, 30))
    image = np.arange(20 * 30).reshape(20, 30)
    assert np.array_equal(image[outer.slices][box.within(outer)], image[box.slices])


def test_connected_boxes_match_labelling_the_whole_mask():
    import cv2

    rng = np.random.default_rng(6)
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(5, 120, size=2))
        mask = rng.random((height, width)) < rng.uniform(0.001, 0.1)
        mask[: int(rng.integers(0, 4))] = False  # the labelled crop starts at an odd offset now and then
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        expected = [Box(int(t), int(le), int(t + h), int(le + w)) for le, t, w, h in stats[1:count, :4]]
        boxes = connected_boxes(mask)
        assert sorted(boxes, key=_corners) == sorted(expected, key=_corners)
        assert boxes == sorted(boxes, key=_corners)
        assert connected_boxes(mask.astype(np.uint8) * 7) == boxes
    assert connected_boxes(np.zeros((4, 5), bool)) == []


def _corners(box: Box) -> tuple[int, int, int, int]:
    return box.top, box.left, box.bottom, box.right


def test_merge_overlapping_reaches_fixed_point():
    # c joins a+b only after a and b merge
    boxes = [Box(0, 0, 10, 10), Box(0, 20, 10, 30), Box(5, 8, 8, 22), Box(50, 50, 60, 60)]
    merged = merge_overlapping(boxes)
    assert merged == [Box(0, 0, 10, 30), Box(50, 50, 60, 60)]
    assert merge_overlapping([Box(0, 0, 5, 5), Box(0, 5, 5, 10)]) == [Box(0, 0, 5, 5), Box(0, 5, 5, 10)]


def test_hole_regions_cover_every_hole_with_context_and_do_not_overlap():
    rng = np.random.default_rng(3)
    mask = rng.random((200, 300)) > 0.999
    mask[50:60, 100:180] = True
    regions = hole_regions(mask, context=0.5, min_margin=8)
    covered = np.zeros_like(mask, dtype=int)
    for box in regions:
        covered[box.slices] += 1
    assert (covered[mask] == 1).all()
    for a in regions:
        assert not any(a.overlaps(b) for b in regions if b is not a)
    big = next(box for box in regions if box.top <= 50 and box.bottom >= 60 and box.left <= 100)
    assert big.left <= 100 - 40 and big.right >= 180 + 40  # margin = 0.5 * long side 80


def test_hole_touching_border_clips_region():
    mask = np.zeros((50, 60), bool)
    mask[0:5, 55:60] = True
    (box,) = hole_regions(mask, context=1.0, min_margin=10)
    assert box == Box(0, 45, 15, 60)


@pytest.mark.parametrize("radius", [7, 12, 40])
def test_dilate_by_distance_transform_equals_the_disk_kernel(radius):
    import cv2

    from hrinpaint.ops.morphology import _disk

    mask = np.random.default_rng(radius).random((120, 160)) > 0.998
    mask[0, 0] = mask[-1, 80] = True  # holes touching the border
    kernel = cv2.dilate(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    assert np.array_equal(dilate(mask, radius), kernel)
    assert not dilate(np.zeros((8, 8), bool), radius).any()
