"""The pipeline: only hole pixels change, regions, working scale, validation."""

import numpy as np
import pytest

import hrinpaint
from hrinpaint.errors import InputError, UnknownNameError
from hrinpaint.fillers.base import FillResult
from hrinpaint.lifters.upsample import UpsampleLifter
from hrinpaint.methods import DEFAULT_METHOD, available_methods, resolve_method
from hrinpaint.ops.regions import Box
from hrinpaint.pipeline import Inpainter, PipelineOptions


def random_case(rng: np.random.Generator, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    height, width = (int(v) for v in rng.integers(9, 160, size=2))
    if dtype is np.float32:
        image = rng.random((height, width, 3), dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, (height, width, 3), dtype=dtype, endpoint=True)
    mask = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(1, 5))):
        top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
        mask[top : top + int(rng.integers(1, height)), left : left + int(rng.integers(1, width))] = True
    if mask.all():
        mask[0, 0] = False
    return image, mask


@pytest.mark.parametrize("method", ["telea+upsample", "ns+upsample"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_known_pixels_bit_identical_over_random_sizes_and_masks(method, dtype):
    rng = np.random.default_rng(42)
    inpainter = Inpainter.from_method(method, working_size=32)  # small working size: lifting is exercised
    for _ in range(12):
        image, mask = random_case(rng, dtype)
        result = inpainter(image, mask)
        assert result.dtype == image.dtype and result.shape == image.shape
        assert np.array_equal(result[~mask], image[~mask])


def test_hole_is_filled_from_context_not_from_old_content():
    image = np.full((60, 80, 3), 0.2, np.float32)
    image[20:40, 30:50] = 1.0  # the "object" inside the hole
    mask = np.zeros((60, 80), bool)
    mask[18:42, 28:52] = True
    result = hrinpaint.inpaint(image, mask, method="telea+upsample")
    # Telea's gradient term overshoots a little; the old white content must not show up at all
    np.testing.assert_allclose(result[mask], 0.2, atol=0.02)


class SpyFiller:
    """Records what it was given and fills with a constant."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def fill(self, image, mask):
        self.calls.append((image.copy(), mask.copy()))
        return FillResult(np.where(mask[:, :, None], np.float32(0.5), image))


def test_filler_sees_zeroed_hole_and_working_size():
    spy = SpyFiller()
    inpainter = Inpainter(spy, UpsampleLifter(), PipelineOptions(working_size=64, context=10.0))
    image = np.ones((300, 200, 3), np.float32)
    mask = np.zeros((300, 200), bool)
    mask[100:150, 80:120] = True
    result = inpainter(image, mask)
    ((seen, seen_mask),) = spy.calls
    assert max(seen.shape[:2]) == 64 and seen.shape[:2] == seen_mask.shape
    assert (seen[seen_mask] == 0).all() and np.allclose(seen[~seen_mask], 1.0, atol=1e-6)
    np.testing.assert_allclose(result[110:140, 90:110], 0.5, atol=1e-6)  # away from the hole's edge
    assert np.array_equal(result[~mask], image[~mask])


class SpyLifter(UpsampleLifter):
    """Records the region and box it was given, and can return a wrong shape."""

    def __init__(self, wrong_shape: bool = False) -> None:
        super().__init__()
        self.wrong_shape = wrong_shape
        self.calls: list[tuple[np.ndarray, Box | None]] = []

    def run(self, image, mask, filler, working_mask, box=None):
        self.calls.append((image, box))
        filled = super().run(image, mask, filler, working_mask, box)
        return filled[1:] if self.wrong_shape else filled


def test_lifter_gets_the_region_as_stored_and_returns_the_hole_box():
    image = np.full((300, 200, 3), 7, np.uint8)
    mask = np.zeros((300, 200), bool)
    mask[100:150, 80:120] = True
    mask[120, 130] = True
    lifter = SpyLifter()
    result = Inpainter(SpyFiller(), lifter, PipelineOptions(working_size=64, context=0.5))(image, mask)
    ((region, box),) = lifter.calls
    assert region.dtype == np.uint8 and np.shares_memory(region, image)  # a view: no float copy of the region
    region_box = Inpainter(SpyFiller(), lifter, PipelineOptions(context=0.5)).regions(mask)[0]
    assert box == Box(100 - region_box.top, 80 - region_box.left, 150 - region_box.top, 131 - region_box.left)
    assert np.isin(result[110:140, 90:110], (127, 128)).all()  # the spy's 0.5
    assert np.array_equal(result[~mask], image[~mask])
    with pytest.raises(RuntimeError, match="hole box"):
        Inpainter(SpyFiller(), SpyLifter(wrong_shape=True), PipelineOptions(working_size=64))(image, mask)


def test_small_region_is_filled_at_native_resolution():
    spy = SpyFiller()
    inpainter = Inpainter(spy, UpsampleLifter(), PipelineOptions(working_size=512, context=0.5, min_margin=8))
    image = np.ones((2000, 3000, 3), np.uint8)
    mask = np.zeros((2000, 3000), bool)
    mask[1000:1010, 1500:1520] = True
    inpainter(image, mask)
    ((seen, _),) = spy.calls
    assert seen.shape[:2] == (10 + 2 * 10, 20 + 2 * 10)  # hole box plus margin, not downsampled


def test_distant_holes_become_separate_regions_and_progress_is_reported():
    spy = SpyFiller()
    inpainter = Inpainter(spy, UpsampleLifter(), PipelineOptions(context=0.5, min_margin=4))
    image = np.zeros((100, 400, 3), np.float32)
    mask = np.zeros((100, 400), bool)
    mask[40:50, 10:20] = True
    mask[40:50, 300:310] = True
    reports = []
    inpainter(image, mask, progress=lambda done, total: reports.append((done, total)))
    assert len(spy.calls) == 2 and reports == [(1, 2), (2, 2)]


def test_working_size_grows_when_the_downsampled_mask_would_be_all_hole():
    inpainter = Inpainter(SpyFiller(), UpsampleLifter(), PipelineOptions(working_size=16))
    mask = np.ones((400, 400), bool)
    mask[:, :2] = False  # a 2-pixel strip of context
    working = inpainter.working_mask(mask)
    assert max(working.shape) > 16
    from hrinpaint.ops.resize import downsample_mask

    assert not working.all()
    assert np.array_equal(working, downsample_mask(mask, working.shape))


def test_empty_mask_returns_copy():
    image = np.random.default_rng(0).random((10, 12, 3), dtype=np.float32)
    result = hrinpaint.inpaint(image, np.zeros((10, 12), bool))
    assert np.array_equal(result, image) and result is not image


@pytest.mark.parametrize(
    ("image", "mask", "message"),
    [
        (np.zeros((10, 12, 5), np.float32), np.zeros((10, 12), bool), "H x W x C"),  # grey and RGBA: test_api
        (np.zeros((2, 10, 12, 3), np.float32), np.zeros((10, 12), bool), "H x W x C"),
        (np.zeros((10, 12, 3), np.int32), np.zeros((10, 12), bool), "dtype"),
        (np.full((10, 12, 3), 2.0, np.float32), np.zeros((10, 12), bool), r"\[0, 1\]"),
        (np.full((10, 12, 3), np.nan, np.float32), np.zeros((10, 12), bool), r"\[0, 1\]"),
        (np.zeros((10, 12, 3), np.float32), np.zeros((12, 10), bool), "does not match"),
        (np.zeros((10, 12, 3), np.float32), np.ones((10, 12), bool), "whole image"),
    ],
)
def test_bad_input_is_a_readable_error(image, mask, message):
    with pytest.raises(InputError, match=message):
        hrinpaint.inpaint(image, mask)


def test_pixel_limit():
    with pytest.raises(InputError, match="over the limit"):
        hrinpaint.inpaint(np.zeros((10, 12, 3), np.uint8), np.eye(10, 12, dtype=bool), max_pixels=100)


def test_method_names():
    assert resolve_method(None).name == DEFAULT_METHOD
    assert resolve_method("telea").name == "telea+cra"
    assert resolve_method("ns+upsample").lifter == "upsample"
    assert "telea+upsample" in available_methods()
    with pytest.raises(UnknownNameError, match="unknown method 'nope'"):
        resolve_method("nope")
    with pytest.raises(UnknownNameError, match="unknown method"):
        resolve_method("telea+nope")


def test_options_are_validated():
    with pytest.raises(ValueError, match="working_size"):
        PipelineOptions(working_size=4)
    with pytest.raises(TypeError):
        Inpainter.from_method("telea", no_such_option=1)


def test_grow_widens_the_hole_and_keeps_the_rest_exact():
    image = np.random.default_rng(5).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[20, 25] = True
    result = hrinpaint.inpaint(image, mask, grow=3)
    from hrinpaint.ops import dilate

    grown = dilate(mask, 3)
    assert np.array_equal(result[~grown], image[~grown])
    assert (result[grown] != image[grown]).any(axis=-1).sum() > 1  # more than the one masked pixel changed


def test_float_rounding_slack_is_accepted_and_clipped():
    image = np.full((20, 30, 3), 1.0000001, np.float32)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:10] = True
    result = hrinpaint.inpaint(image, mask)
    assert result[mask].max() <= 1.0
