"""Tests for hrinpaint.eval.metrics (against float64 references written here) and hrinpaint.eval.aggregate."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy import ndimage

from hrinpaint.eval import metrics, strips
from hrinpaint.eval.aggregate import MetricAccumulator, format_value
from hrinpaint.eval.metrics import (
    band_energy,
    band_ssim,
    box_mask,
    evaluate,
    l1,
    mask_area_bin,
    ms_ssim,
    psnr,
    sharpness_ratio,
    ssim,
)
from hrinpaint.ops.pyramid import laplacian_pyramid

HEIGHT, WIDTH = 37, 53


# ------------------------------------------------------------------------------------------------------------
# Fixtures


def _textured(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A float32 RGB image with structure at several scales (smoothed noise plus fine noise), in [0, 1]."""
    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.random((*shape, 3)), sigma=(3, 3, 0))
    fine = rng.random((*shape, 3))
    image = 0.6 * (coarse - coarse.min()) / (np.ptp(coarse) + 1e-12) + 0.4 * fine
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + sigma * rng.standard_normal(image.shape), 0.0, 1.0).astype(np.float32)


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(image.astype(np.float64), sigma=(sigma, sigma, 0)).astype(np.float32)


def _box_mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    height, width = shape
    mask[height // 4 : height // 4 + height // 2, width // 3 : width // 3 + width // 3] = True
    mask[0:3, width - 5 :] = True  # a hole on the image border, where windows reach past the edge
    return mask


@pytest.fixture
def truth() -> np.ndarray:
    return _textured((HEIGHT, WIDTH), seed=1)


@pytest.fixture
def result(truth: np.ndarray) -> np.ndarray:
    return _noisy(_blurred(truth, 0.8), 0.03, seed=2)


@pytest.fixture
def mask() -> np.ndarray:
    return _box_mask((HEIGHT, WIDTH))


@pytest.fixture(params=[5, 128], ids=["strips-5", "strips-128"])
def strip_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Runs a test with strips shorter than the image (every strip cut exercised, on three threads whatever
    the machine) and with one strip."""
    monkeypatch.setattr(strips, "_STRIP_ROWS", request.param)
    monkeypatch.setattr(strips, "_WORKERS", 3)
    return request.param


# ------------------------------------------------------------------------------------------------------------
# float64 references: direct, whole-array numpy and scipy, no strips and no shared code with the module


def _ref_gaussian(plane: np.ndarray) -> np.ndarray:
    # radius 5 is the 11 x 11 window; scipy's "reflect" is the symmetric border (cv2.BORDER_REFLECT).
    return ndimage.gaussian_filter(plane, sigma=1.5, radius=5, mode="reflect")


def _ref_ssim_maps(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(ssim, cs) maps of one float64 plane pair, Wang et al. with population moments."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _ref_gaussian(x), _ref_gaussian(y)
    var_x = _ref_gaussian(x * x) - mu_x**2
    var_y = _ref_gaussian(y * y) - mu_y**2
    cov = _ref_gaussian(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance * cs, cs


def _ref_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    return float(values.mean() if mask is None else values[mask].mean())


def _ref_ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> float:
    x, y = result.astype(np.float64), truth.astype(np.float64)
    return float(np.mean([_ref_mean(_ref_ssim_maps(x[..., c], y[..., c])[0], mask) for c in range(3)]))


def _ref_pool(plane: np.ndarray) -> np.ndarray:
    height, width = plane.shape
    padded = np.pad(plane, ((0, height % 2), (0, width % 2)), mode="edge")
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))


def _ref_pool_any(mask: np.ndarray) -> np.ndarray:
    return _ref_pool(mask.astype(np.float64)) > 0


def _ref_ms_ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> float:
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    scales, side = 1, min(result.shape[:2])
    while scales < 5 and math.ceil(side / 2) >= 11:
        side, scales = math.ceil(side / 2), scales + 1
    weights = weights[:scales] / weights[:scales].sum()
    values = []
    for c in range(3):
        x, y = result[..., c].astype(np.float64), truth[..., c].astype(np.float64)
        hole = mask
        factors = []
        for scale in range(scales):
            ssim_map, cs_map = _ref_ssim_maps(x, y)
            last = scale == scales - 1
            factors.append(max(_ref_mean(ssim_map if last else cs_map, hole), 0.0))
            x, y = _ref_pool(x), _ref_pool(y)
            hole = None if hole is None else _ref_pool_any(hole)
        values.append(np.prod(np.array(factors) ** weights))
    return float(np.mean(values))


def _ref_band_ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, levels: int) -> list[float]:
    per_level: list[list[float]] = [[] for _ in range(levels)]
    for c in range(3):
        bands_x = laplacian_pyramid(result[..., c], levels)
        bands_y = laplacian_pyramid(truth[..., c], levels)
        hole = mask
        for level, (band_x, band_y) in enumerate(zip(bands_x, bands_y, strict=True)):
            ssim_map, _ = _ref_ssim_maps(band_x.astype(np.float64), band_y.astype(np.float64), data_range=1.0)
            per_level[level].append(_ref_mean(ssim_map, hole))
            hole = None if hole is None else _ref_pool_any(hole)
    return [float(np.mean(values)) for values in per_level]


def _ref_laplacian_energy(image: np.ndarray, mask: np.ndarray | None) -> float:
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    kernel = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    laplacian = ndimage.convolve(luma, kernel, mode="reflect")
    return _ref_mean(laplacian**2, mask)


# ------------------------------------------------------------------------------------------------------------
# PSNR and L1


def test_psnr_of_identical_images_is_inf(truth: np.ndarray, mask: np.ndarray) -> None:
    assert psnr(truth, truth) == math.inf
    assert psnr(truth, truth, mask) == math.inf
    assert l1(truth, truth) == 0.0


def test_psnr_of_a_constant_offset_is_known() -> None:
    truth = np.full((HEIGHT, WIDTH, 3), 0.25, dtype=np.float32)
    result = np.full((HEIGHT, WIDTH, 3), 0.35, dtype=np.float32)
    # MSE = 0.01 -> 20 dB; the float32 representation of 0.25 and 0.35 leaves an error near 1e-7.
    assert psnr(result, truth) == pytest.approx(20.0, abs=1e-5)
    assert l1(result, truth) == pytest.approx(0.1, abs=1e-7)


@pytest.mark.parametrize("use_mask", [False, True])
def test_psnr_and_l1_match_reference(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, use_mask: bool, strip_rows: int
) -> None:
    hole = mask if use_mask else None
    difference = result.astype(np.float64) - truth.astype(np.float64)
    selected = difference[hole] if use_mask else difference
    assert psnr(result, truth, hole) == pytest.approx(10 * np.log10(1 / np.mean(selected**2)), rel=1e-12)
    assert l1(result, truth, hole) == pytest.approx(np.mean(np.abs(selected)), rel=1e-12)


def test_hole_variants_ignore_known_pixels(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> None:
    before = (l1(result, truth, mask), psnr(result, truth, mask))
    changed = result.copy()
    known_row, known_col = np.argwhere(~mask)[0]
    changed[known_row, known_col] = 1.0 - changed[known_row, known_col]
    assert (l1(changed, truth, mask), psnr(changed, truth, mask)) == before
    assert l1(changed, truth) != l1(result, truth)
    hole_row, hole_col = np.argwhere(mask)[0]
    changed[hole_row, hole_col] = 1.0 - changed[hole_row, hole_col]
    assert l1(changed, truth, mask) != before[0]


def test_empty_hole_gives_nan(result: np.ndarray, truth: np.ndarray) -> None:
    empty = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for metric in (psnr, l1, ssim, ms_ssim, sharpness_ratio):
        assert math.isnan(metric(result, truth, empty)), metric.__name__
    assert all(math.isnan(value) for value in band_ssim(result, truth, empty))


# ------------------------------------------------------------------------------------------------------------
# SSIM and MS-SSIM


@pytest.mark.parametrize("use_mask", [False, True])
def test_ssim_matches_reference(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, use_mask: bool, strip_rows: int
) -> None:
    hole = mask if use_mask else None
    assert ssim(result, truth, hole) == pytest.approx(_ref_ssim(result, truth, hole), abs=1e-12)


def test_hole_only_shortcut_is_exact(result: np.ndarray, truth: np.ndarray, strip_rows: int) -> None:
    # Public hole variants crop to the hole's strips and columns; evaluate computes the whole plane. Scattered
    # single pixels, a thin line and edge pixels put crop boundaries everywhere.
    rng = np.random.default_rng(10)
    mask = rng.random((HEIGHT, WIDTH)) < 0.01
    mask[HEIGHT // 2, 5:9] = True
    mask[-1, -1] = mask[0, 0] = True
    report = evaluate(result, truth, mask)
    assert ssim(result, truth, mask) == pytest.approx(report["ssim_hole"], rel=1e-12)
    assert ms_ssim(result, truth, mask) == pytest.approx(report["ms_ssim_hole"], rel=1e-12)
    assert ssim(result, truth, mask) == pytest.approx(_ref_ssim(result, truth, mask), abs=1e-12)
    np.testing.assert_allclose(band_ssim(result, truth, mask), _ref_band_ssim(result, truth, mask, 3), atol=1e-12)


def test_ssim_of_identical_images_is_one(truth: np.ndarray, mask: np.ndarray) -> None:
    assert ssim(truth, truth) == pytest.approx(1.0, abs=1e-12)
    assert ssim(truth, truth, mask) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(truth, truth, mask) == pytest.approx(1.0, abs=1e-12)


def test_ssim_ranks_degradations(truth: np.ndarray) -> None:
    mild, strong = _blurred(truth, 0.7), _blurred(truth, 2.5)
    assert 1.0 > ssim(mild, truth) > ssim(strong, truth)
    assert 1.0 > ms_ssim(mild, truth) > ms_ssim(strong, truth)


@pytest.mark.parametrize("shape", [(HEIGHT, WIDTH), (91, 67), (357, 353)], ids=["2-scales", "3-scales", "5-scales"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_ms_ssim_matches_reference(shape: tuple[int, int], use_mask: bool, strip_rows: int) -> None:
    truth = _textured(shape, seed=3)
    result = _noisy(_blurred(truth, 1.0), 0.02, seed=4)
    hole = _box_mask(shape) if use_mask else None
    assert ms_ssim(result, truth, hole) == pytest.approx(_ref_ms_ssim(result, truth, hole), abs=1e-12)


@pytest.mark.parametrize("shape", [(9, 9), (11, 13), (21, 22), (22, 23), (5, 40)])
def test_ms_ssim_on_small_odd_sizes(shape: tuple[int, int]) -> None:
    truth = _textured(shape, seed=5)
    result = _noisy(truth, 0.05, seed=6)
    value = ms_ssim(result, truth)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(_ref_ms_ssim(result, truth, None), abs=1e-12)
    if min(shape) < 21:  # one scale only: MS-SSIM is then plain SSIM
        assert value == pytest.approx(ssim(result, truth), abs=1e-12)


def test_ms_ssim_scale_count() -> None:
    assert metrics._ms_ssim_scales((10, 500)) == 1
    assert metrics._ms_ssim_scales((21, 500)) == 2  # 21 -> 11
    assert metrics._ms_ssim_scales((20, 500)) == 1  # 20 -> 10
    assert metrics._ms_ssim_scales((176, 500)) == 5  # 176 -> 88 -> 44 -> 22 -> 11
    assert metrics._ms_ssim_scales((2731, 4096)) == 5


# ------------------------------------------------------------------------------------------------------------
# Sharpness ratio


def test_sharpness_ratio_matches_reference(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, strip_rows: int
) -> None:
    expected = _ref_laplacian_energy(result, mask) / _ref_laplacian_energy(truth, mask)
    assert sharpness_ratio(result, truth, mask) == pytest.approx(expected, rel=1e-12)
    whole = _ref_laplacian_energy(result, None) / _ref_laplacian_energy(truth, None)
    assert sharpness_ratio(result, truth, None) == pytest.approx(whole, rel=1e-12)


def test_sharpness_ratio_tells_blur_from_noise(truth: np.ndarray, mask: np.ndarray) -> None:
    assert sharpness_ratio(truth, truth, mask) == pytest.approx(1.0, abs=1e-12)
    assert sharpness_ratio(_blurred(truth, 2.0), truth, mask) < 0.5
    assert sharpness_ratio(_noisy(truth, 0.1, seed=7), truth, mask) > 1.0


def test_sharpness_ratio_of_a_flat_truth_is_nan(result: np.ndarray, mask: np.ndarray) -> None:
    flat = np.full((HEIGHT, WIDTH, 3), 0.5, dtype=np.float32)
    assert math.isnan(sharpness_ratio(result, flat, mask))


# ------------------------------------------------------------------------------------------------------------
# Band SSIM


@pytest.mark.parametrize("use_mask", [False, True])
def test_band_ssim_matches_reference(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, use_mask: bool, strip_rows: int
) -> None:
    hole = mask if use_mask else None
    values = band_ssim(result, truth, hole)
    assert len(values) == 3
    np.testing.assert_allclose(values, _ref_band_ssim(result, truth, hole, 3), rtol=0, atol=1e-12)


def test_band_ssim_blur_hurts_the_finest_band_most(truth: np.ndarray, mask: np.ndarray) -> None:
    finest, middle, coarsest = band_ssim(_blurred(truth, 1.5), truth, mask)
    assert finest < 0.5
    assert coarsest > 0.9
    assert coarsest - finest > 0.4
    assert finest < middle < coarsest
    np.testing.assert_allclose(band_ssim(truth, truth, mask), 1.0, atol=1e-12)


def test_band_ssim_level_count(result: np.ndarray, truth: np.ndarray) -> None:
    assert len(band_ssim(result, truth, levels=1)) == 1
    assert len(band_ssim(result, truth, levels=4)) == 4
    with pytest.raises(ValueError, match="levels"):
        band_ssim(result, truth, levels=0)


# ------------------------------------------------------------------------------------------------------------
# evaluate


EVALUATE_KEYS = [
    "psnr",
    "psnr_hole",
    "ssim",
    "ssim_hole",
    "ms_ssim",
    "ms_ssim_hole",
    "l1",
    "l1_hole",
    "ssim_box",
    "sharpness",
    "band_ssim_0",
    "band_ssim_1",
    "band_ssim_2",
    "band_energy_0",
    "band_energy_1",
    "band_energy_2",
    "band_energy_3",
]


def test_evaluate_agrees_with_the_individual_metrics(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> None:
    report = evaluate(result, truth, mask)
    assert list(report) == EVALUATE_KEYS
    assert all(type(value) is float for value in report.values())
    expected = {
        "psnr": psnr(result, truth),
        "psnr_hole": psnr(result, truth, mask),
        "ssim": ssim(result, truth),
        "ssim_hole": ssim(result, truth, mask),
        "ms_ssim": ms_ssim(result, truth),
        "ms_ssim_hole": ms_ssim(result, truth, mask),
        "l1": l1(result, truth),
        "l1_hole": l1(result, truth, mask),
        "ssim_box": ssim(result, truth, box_mask(mask)),
        "sharpness": sharpness_ratio(result, truth, mask),
    }
    expected.update({f"band_ssim_{i}": value for i, value in enumerate(band_ssim(result, truth, mask))})
    expected.update({f"band_energy_{i}": value for i, value in enumerate(band_energy(result, truth, mask))})
    for key, value in expected.items():
        assert report[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_evaluate_pads_band_levels_an_image_is_too_small_for() -> None:
    truth = _textured((2, 3), seed=8)
    report = evaluate(_noisy(truth, 0.05, seed=9), truth, np.ones((2, 3), dtype=bool))
    assert list(report) == EVALUATE_KEYS
    assert not math.isnan(report["band_ssim_1"])
    assert math.isnan(report["band_ssim_2"])
    assert math.isnan(report["band_energy_3"])


def test_metrics_leave_their_inputs_alone(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> None:
    # float64 inputs: the path where a channel plane could be a view of the caller's array.
    result64, truth64 = result.astype(np.float64), truth.astype(np.float64)
    copies = (result64.copy(), truth64.copy(), mask.copy())
    report = evaluate(result64, truth64, mask)
    for original, copy in zip((result64, truth64, mask), copies, strict=True):
        np.testing.assert_array_equal(original, copy)
    assert report["psnr_hole"] == pytest.approx(psnr(result, truth, mask), rel=1e-12)


def test_evaluate_needs_a_mask(result: np.ndarray, truth: np.ndarray) -> None:
    with pytest.raises(ValueError, match="mask"):
        evaluate(result, truth, None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("make_inputs", "message"),
    [
        (lambda t, m: (t[:-1], t, None), "same shape"),
        (lambda t, m: (t[..., 0], t[..., 0], None), "H x W x 3"),
        (lambda t, m: (t[..., :2], t[..., :2], None), "H x W x 3"),
        (lambda t, m: ((t * 255).astype(np.uint8), t, None), "float"),
        (lambda t, m: (t * 255, t, None), r"\[0, 1\]"),
        (lambda t, m: (np.where(m[..., None], np.nan, t), t, None), "NaN"),
        (lambda t, m: (t, t, m[:-1]), "does not match"),
        (lambda t, m: (t, t, m.astype(np.uint8)), "bool"),
    ],
    ids=["shape-mismatch", "grey", "two-channels", "uint8", "range", "nan", "mask-shape", "mask-dtype"],
)
def test_readable_errors(truth: np.ndarray, mask: np.ndarray, make_inputs, message: str) -> None:
    result, other, hole = make_inputs(truth, mask)
    for metric in (psnr, l1, ssim, ms_ssim, band_ssim):
        with pytest.raises(ValueError, match=message):
            metric(result, other, hole)
    with pytest.raises(ValueError, match=message):
        evaluate(result, other, mask if hole is None else hole)


# ------------------------------------------------------------------------------------------------------------
# Mask-area bins


@pytest.mark.parametrize(
    ("holes", "expected"),
    [
        (0, "0-10%"),
        (9, "0-10%"),
        (10, "10-20%"),
        (30, "30-40%"),
        (70, "70-80%"),
        (99, "90-100%"),
        (100, "90-100%"),
    ],
)
def test_mask_area_bin_edges(holes: int, expected: str) -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask.flat[:holes] = True
    assert mask_area_bin(mask) == expected


def test_mask_area_bin_widths() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask.flat[:12] = True  # 3%
    assert mask_area_bin(mask, width=0.025) == "2.5-5%"
    assert mask_area_bin(mask, width=0.25) == "0-25%"
    mask[:] = True
    assert mask_area_bin(mask, width=0.3) == "90-100%"
    with pytest.raises(ValueError, match="width"):
        mask_area_bin(mask, width=0.0)
    with pytest.raises(ValueError, match="bool"):
        mask_area_bin(mask.astype(np.uint8))


# ------------------------------------------------------------------------------------------------------------
# Aggregation


def _rows() -> list[dict]:
    labels = ("method", "size", "area_bin", "psnr", "ssim", "time_s", "peak_mb")
    values = [
        ("b", 1024, "10-20%", 30.0, 0.9, 1.0, 100),
        ("b", 1024, "0-10%", 32.0, float("nan"), 9.0, 300),
        ("b", 1024, "0-10%", 34.0, 0.8, 2.0, 200),
        ("a", 512, "10-20%", 25.123, 0.71234, 0.5, 50),
        ("b", 512, "0-10%", 20.0, None, 0.25, 40),
    ]
    return [dict(zip(labels, row, strict=True)) for row in values]


def test_accumulator_summary_reduces_each_metric_its_way() -> None:
    accumulator = MetricAccumulator()
    for row in _rows():
        accumulator.add(row)
    assert len(accumulator) == 5
    assert accumulator.metric_names == ["psnr", "ssim", "time_s", "peak_mb"]
    summary = accumulator.summary(group_by=("size", "method"))
    assert [(s["size"], s["method"], s["count"]) for s in summary] == [
        (512, "a", 1),
        (512, "b", 1),
        (1024, "b", 3),
    ]
    big = summary[2]
    assert big["psnr"] == pytest.approx(32.0)
    assert big["ssim"] == pytest.approx(0.85)  # nan skipped
    assert big["time_s"] == pytest.approx(2.0)  # median, not the mean 4.0
    assert big["peak_mb"] == 300  # worst case
    assert math.isnan(summary[1]["ssim"])  # None only: no finite value


def test_accumulator_groups_by_area_bin_in_natural_order() -> None:
    accumulator = MetricAccumulator()
    for row in _rows():
        accumulator.add(row)
    summary = accumulator.summary(group_by=("area_bin",))
    assert [s["area_bin"] for s in summary] == ["0-10%", "10-20%"]
    assert [s["count"] for s in summary] == [3, 2]
    overall = accumulator.summary(group_by=())
    assert overall[0]["count"] == 5 and overall[0]["psnr"] == pytest.approx(28.2246)


def test_accumulator_markdown_has_the_right_rows() -> None:
    accumulator = MetricAccumulator()
    for row in _rows():
        accumulator.add(row)
    table = accumulator.markdown(group_by=("size", "method"), columns=["psnr", "ssim", "time_s", "count"])
    lines = table.strip().split("\n")
    assert lines[0] == "| size | method | psnr | ssim | time_s | count |"
    assert lines[1] == "| :--- | :--- | ---: | ---: | ---: | ---: |"
    assert lines[2] == "| 512 | a | 25.12 | 0.7123 | 0.50 | 1 |"
    assert lines[3] == "| 512 | b | 20.00 | n/a | 0.25 | 1 |"
    assert lines[4] == "| 1024 | b | 32.00 | 0.8500 | 2.00 | 3 |"
    assert len(lines) == 5
    with pytest.raises(ValueError, match="unknown column"):
        accumulator.markdown(columns=["lpips"])


def test_accumulator_filters_renames_and_skips_empty_tables() -> None:
    accumulator = MetricAccumulator()
    for row in _rows():
        accumulator.add({**row, "photo": "a.png", "message": None})
    table = accumulator.markdown(
        group_by=("method",), columns=["psnr", "peak_mb"], headers={"psnr": "hole PSNR"}, where={"size": 512}
    )
    assert table.splitlines() == [
        "| method | hole PSNR | peak_mb |",
        "| :--- | ---: | ---: |",
        "| a | 25.12 | 50 |",
        "| b | 20.00 | 40 |",
    ]
    assert accumulator.markdown(group_by=("method",), where={"size": 4096}) == ""
    assert accumulator.summary(where={"size": 4096}) == []
    assert MetricAccumulator().markdown(columns=["psnr"]) == ""


def test_accumulator_rejects_ambiguous_rows() -> None:
    accumulator = MetricAccumulator()
    accumulator.add({"method": "a", "psnr": 30.0})
    accumulator.add({"method": "a", "psnr": None, "note": None})  # None is missing, never ambiguous
    with pytest.raises(ValueError, match="psnr"):
        accumulator.add({"method": "a", "psnr": "failed"})
    accumulator.add({"method": "a", "note": "retried"})
    with pytest.raises(ValueError, match="note"):
        accumulator.add({"method": "a", "note": 2.0})
    with pytest.raises(ValueError, match="count"):
        accumulator.add({"method": "a", "count": 3})
    with pytest.raises(ValueError, match="reduction"):
        MetricAccumulator(reductions={"psnr": "mode"})


def test_format_value() -> None:
    assert format_value("psnr_hole", 31.23456) == "31.23"
    assert format_value("ms_ssim", 0.912345) == "0.9123"
    assert format_value("time_s", 1.234) == "1.23"
    assert format_value("peak_mb", 1234.6) == "1235"
    assert format_value("psnr", math.inf) == "inf"
    assert format_value("psnr", math.nan) == "n/a"
    assert format_value("method", "a|b") == "a|b"


def test_metric_pipeline_end_to_end(truth: np.ndarray, mask: np.ndarray) -> None:
    accumulator = MetricAccumulator()
    for method, sigma in (("sharp", 0.3), ("blurry", 2.0)):
        result = cv2.GaussianBlur(truth, (0, 0), sigma)
        labels = {"method": method, "size": HEIGHT, "area_bin": mask_area_bin(mask)}
        accumulator.add({**labels, **evaluate(result, truth, mask), "time_s": 0.1, "peak_mb": 10.0})
    by_method = {row["method"]: row for row in accumulator.summary(group_by=("method",))}
    assert by_method["sharp"]["band_ssim_0"] > by_method["blurry"]["band_ssim_0"]
    assert "| blurry |" in accumulator.markdown(group_by=("method",), columns=["psnr_hole", "sharpness"])


# ------------------------------------------------------------------------------------------------------------
# band energy and box SSIM


def test_band_energy_is_one_for_the_truth_and_scales_with_contrast() -> None:
    truth = _textured((160, 160), seed=4)
    mask = np.zeros((160, 160), bool)
    mask[32:128, 32:128] = True
    assert band_energy(truth, truth, mask) == pytest.approx([1.0] * 4)
    halved = np.where(mask[:, :, None], 0.5 * truth + 0.25, truth).astype(np.float32)
    # half the contrast inside the hole: a quarter of the energy in every band (the rim mixes in some context)
    assert all(0.2 < value < 0.45 for value in band_energy(halved, truth, mask)), band_energy(halved, truth, mask)


def test_band_energy_sees_haze_under_grain_that_sharpness_misses() -> None:
    """A blurred fill with fine noise on top has the finest band's energy but not the middle ones'."""
    rng = np.random.default_rng(5)
    truth = np.clip(_blurred(rng.random((256, 256, 3)).astype(np.float32), 1.0) * 3 - 1, 0, 1).astype(np.float32)
    mask = np.zeros((256, 256), bool)
    mask[64:192, 64:192] = True
    from hrinpaint.ops.pyramid import laplacian_pyramid

    grain = _blurred(truth, 6.0) + laplacian_pyramid(truth, 2)[0]  # a haze with the truth's finest band on top
    result = np.where(mask[:, :, None], np.clip(grain, 0, 1), truth).astype(np.float32)
    energies = band_energy(result, truth, mask)
    assert energies[0] > 0.5
    assert energies[1] < 0.4 and energies[2] < 0.4
    assert sharpness_ratio(result, truth, mask) > 0.7  # the one-Laplacian column calls this nearly sharp


def test_band_energy_of_a_flat_truth_is_nan_and_levels_are_padded() -> None:
    flat = np.full((40, 40, 3), 0.5, np.float32)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    assert all(math.isnan(value) for value in band_energy(flat, flat, mask))
    small = _textured((5, 6), seed=3)
    values = band_energy(small, small, np.ones((5, 6), bool))
    assert values[0] == pytest.approx(1.0) and math.isnan(values[3])
    with pytest.raises(ValueError, match="bands"):
        band_energy(small, small, None, bands=0)


def test_box_mask_is_the_union_of_component_boxes() -> None:
    mask = np.zeros((20, 30), bool)
    mask[2, 3:8] = True
    mask[2:6, 5] = True
    mask[10, 20] = mask[14, 25] = True
    boxes = box_mask(mask)
    assert boxes[2:6, 3:8].all() and boxes[10, 20] and boxes[14, 25]
    assert boxes.sum() == 4 * 5 + 1 + 1
