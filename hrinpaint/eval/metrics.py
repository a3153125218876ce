"""Full-reference quality metrics for inpainting: PSNR, L1, SSIM, MS-SSIM, sharpness ratio, per-band SSIM.

Every metric takes ``(result, truth, mask=None)`` in the canonical forms and returns a plain ``float`` (or a
list of them). Without a mask a metric averages over the whole image; with a mask the *hole* variant averages
only over hole pixels. Windowed metrics (SSIM and its relatives) are always computed on the whole image first,
so windows centred in the hole also see the known context around it; only the averaging is restricted to the
hole.

Shape:
    result, truth: ``H x W x 3`` RGB, float in [0, 1] (data range 1).
    mask: ``H x W`` bool, True = hole.

A hole variant asked for with a mask that has no hole pixels returns ``nan`` (nothing to average), which the
nan-aware aggregation in :mod:`hrinpaint.eval.aggregate` then skips.

All arithmetic is float64, one channel at a time. Windowed work runs in strips of rows (with a halo where a
filter needs neighbours) on a few threads, so temporaries stay a few MB each instead of 90 MB planes at
4096 x 2731, and the SSIM formula is one compiled pass (numba) per strip. ``evaluate`` at that size takes a
few seconds on two cores.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from hrinpaint.ops.pyramid import laplacian_pyramid

__all__ = [
    "BAND_LEVELS",
    "LUMA_WEIGHTS",
    "MS_SSIM_WEIGHTS",
    "band_energy",
    "band_ssim",
    "box_mask",
    "evaluate",
    "l1",
    "mask_area_bin",
    "ms_ssim",
    "psnr",
    "sharpness_ratio",
    "ssim",
]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Wang, Simoncelli and Bovik (2003), finest scale first."""
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma from RGB."""
BAND_LEVELS = 3
"""Laplacian-pyramid levels reported by :func:`evaluate` (``band_ssim_0`` finest to ``band_ssim_2``)."""
ENERGY_BANDS = 4
"""Band-pass levels of luma whose hole energy :func:`evaluate` reports (``band_energy_0`` finest to ``_3``)."""

# Values a little outside [0, 1] come from float rounding and resampling overshoot; anything beyond this is a
# wrong range (0..255 data, a forgotten normalisation) that would make every number here meaningless.
_RANGE_SLACK = 1e-3
# A single 1/255 step in a hole of a million pixels has a mean squared Laplacian of about 2.5e-10; a truth
# below this is a flat hole, where the ratio would be noise over nothing.
_TINY_ENERGY = 1e-12
# Rows per strip: big enough that per-strip overhead and halo re-reads stay small (8 % for SSIM), small enough
# that each float64 temporary is a few MB at 4096 px wide.
_STRIP_ROWS = 128
# Threads for strips (see _strip_means); more than the cores only adds switching.
_WORKERS = max(1, min(8, os.cpu_count() or 1))
_LAPLACIAN_KERNEL = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


# ------------------------------------------------------------------------------------------------------------
# Validation


def _check_image(name: str, image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an H x W x 3 RGB array, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name} must be float in [0, 1], got dtype {image.dtype} (convert with io, or / 255)")
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    low, high = float(image.min()), float(image.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if low < -_RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
        raise ValueError(f"{name} values must lie in [0, 1] (data range 1), found [{low:.4g}, {high:.4g}]")
    return image


def _check_mask(mask: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim != 2:
        # No guessing of polarity or threshold here: io owns the conversion to the canonical bool mask.
        raise ValueError(f"mask must be a bool H x W array (True = hole), got {mask.dtype} of shape {mask.shape}")
    if shape is not None and mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} does not match image size {shape}")
    return mask


def _check_inputs(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    result = _check_image("result", result)
    truth = _check_image("truth", truth)
    if result.shape != truth.shape:
        raise ValueError(f"result and truth must have the same shape, got {result.shape} and {truth.shape}")
    if mask is not None:
        mask = _check_mask(mask, result.shape[:2])
    return result, truth, mask


# ------------------------------------------------------------------------------------------------------------
# Building blocks: one channel (an ``H x W`` plane of any float dtype), float64 inside


@dataclass(frozen=True)
class _Means:
    """One quantity averaged over the whole plane and over the hole (nan without a hole, or an empty one)."""

    whole: float
    hole: float

    def pick(self, masked: bool) -> float:
        return self.hole if masked else self.whole


def _strips(height: int, halo: int) -> list[tuple[slice, slice, slice]]:
    """Splits ``height`` rows into strips for a filter that needs ``halo`` rows of neighbours.

    Returns:
        ``(read, rows, inner)`` per strip: the rows to read (the strip and its halo, clipped to the image),
        the output rows they give, and where those lie inside the read. Filtering the read with a symmetric
        border and keeping ``inner`` equals filtering the whole plane: cut edges have real neighbours in the
        halo, and only the image's own top and bottom see the border.
    """
    strips = []
    for start in range(0, height, _STRIP_ROWS):
        stop = min(start + _STRIP_ROWS, height)
        top, bottom = max(start - halo, 0), min(stop + halo, height)
        strips.append((slice(top, bottom), slice(start, stop), slice(start - top, stop - top)))
    return strips


_StripSums = Callable[[slice, slice, slice, np.ndarray | None], np.ndarray]
"""``work(read, rows, inner, hole_rows)`` -> ``k x 2``: for each of ``k`` maps of the strip's output rows (see
:func:`_strips`), its sum and its sum over ``hole_rows`` (0 without a hole)."""


def _map_sums(maps: Sequence[np.ndarray], hole_rows: np.ndarray | None) -> np.ndarray:
    return np.array([(values.sum(), 0.0 if hole_rows is None else values[hole_rows].sum()) for values in maps])


def _strip_means(work: _StripSums, shape: tuple[int, ...], halo: int, hole: np.ndarray | None) -> list[_Means]:
    """Runs ``work`` on every strip of a plane and turns its sums into means over the plane and over the hole.

    Strips run on several threads at once: numpy, numba kernels and OpenCV release the GIL, and OpenCV's own
    threads only cover its filters, not the arithmetic around them. Partial sums are added in strip order, so
    the result does not depend on scheduling.
    """
    height, width = shape[:2]

    def strip_sums(strip: tuple[slice, slice, slice]) -> np.ndarray:
        read, rows, inner = strip
        return work(read, rows, inner, None if hole is None else hole[rows])

    strips = _strips(height, halo)
    workers = min(_WORKERS, len(strips))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            partials = list(pool.map(strip_sums, strips))
    else:
        partials = [strip_sums(strip) for strip in strips]
    totals = np.sum(partials, axis=0)
    hole_pixels = 0 if hole is None else np.count_nonzero(hole)
    return [
        _Means(whole / (height * width), hole_total / hole_pixels if hole_pixels else math.nan)
        for whole, hole_total in totals
    ]


def _float64(plane: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(plane, dtype=np.float64)


def _blur(plane: np.ndarray) -> np.ndarray:
    """The 11 x 11 Gaussian window (sigma 1.5) of Wang et al., symmetric (``reflect``) borders, float64."""
    # GaussianBlur, not sepFilter2D with the same kernel: it knows the kernel is symmetric and runs about
    # twice as fast on strips.
    return cv2.GaussianBlur(
        plane, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, sigmaY=SSIM_SIGMA, borderType=cv2.BORDER_REFLECT
    )


def _pool2(plane: np.ndarray) -> np.ndarray:
    """2 x 2 box average and subsampling, as in Wang's MS-SSIM code.

    An odd last row or column pairs with itself, so the size rounds up.

    Shape:
        ``H x W`` (any float dtype) -> ``ceil(H / 2) x ceil(W / 2)`` float64.
    """
    height, width = plane.shape
    rows = plane[0::2].astype(np.float64)
    rows[: height // 2] += plane[1::2]
    if height % 2:
        rows[-1] += plane[-1]
    pooled = np.ascontiguousarray(rows[:, 0::2])
    pooled[:, : width // 2] += rows[:, 1::2]
    if width % 2:
        pooled[:, -1] += rows[:, -1]
    pooled *= 0.25
    return pooled


def _pool2_any(mask: np.ndarray) -> np.ndarray:
    """Bool counterpart of :func:`_pool2`: a coarse pixel is a hole if any of its pixels is (same shape)."""
    height, width = mask.shape
    rows = mask[0::2].copy()
    rows[: height // 2] |= mask[1::2]
    pooled = np.ascontiguousarray(rows[:, 0::2])
    pooled[:, : width // 2] |= rows[:, 1::2]
    return pooled


def _hole_pyramid(mask: np.ndarray | None, levels: int) -> list[np.ndarray | None]:
    """The mask at each of ``levels`` halvings, finest first (any-hole), shared by MS-SSIM and band SSIM."""
    holes = [mask]
    while len(holes) < levels:
        holes.append(None if mask is None else _pool2_any(holes[-1]))
    return holes


def _ssim_constants(data_range: float = 1.0) -> tuple[float, float]:
    return (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2


def _ssim_sums_loop(
    mu_x: np.ndarray,
    mu_y: np.ndarray,
    sum_squares: np.ndarray,
    cross: np.ndarray,
    hole: np.ndarray,
    masked: bool,
    c1: float,
    c2: float,
) -> tuple[float, float, float, float]:
    """SSIM and contrast-structure maps from local moments, summed over a strip and over its hole pixels.

    Wang et al. with population moments::

        cs   = (2 cov + C2) / (var_x + var_y + C2)
        ssim = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) * cs

    where ``var_x + var_y = E[x^2 + y^2] - mu_x^2 - mu_y^2`` (one blurred map, ``sum_squares``, instead of
    two) and ``cov = E[xy] - mu_x mu_y`` (``cross``). Compiled by :func:`_ssim_kernel`: one fused pass is
    about three times faster than the fifteen numpy passes the same formula takes, which were the largest cost
    of :func:`evaluate` after the blurs.

    Args:
        mu_x, mu_y, sum_squares, cross: local moments, ``h x W`` float64.
        hole: ``h x W`` bool, read only when ``masked``.

    Returns:
        ``(ssim_sum, cs_sum, ssim_hole_sum, cs_hole_sum)``.
    """
    ssim_sum = cs_sum = ssim_hole_sum = cs_hole_sum = 0.0
    for row in range(mu_x.shape[0]):
        for col in range(mu_x.shape[1]):
            mean_x, mean_y = mu_x[row, col], mu_y[row, col]
            mean_product = mean_x * mean_y
            mean_squares = mean_x * mean_x + mean_y * mean_y
            cs = (2.0 * (cross[row, col] - mean_product) + c2) / (sum_squares[row, col] - mean_squares + c2)
            ssim = (2.0 * mean_product + c1) / (mean_squares + c1) * cs
            ssim_sum += ssim
            cs_sum += cs
            if masked and hole[row, col]:
                ssim_hole_sum += ssim
                cs_hole_sum += cs
    return ssim_sum, cs_sum, ssim_hole_sum, cs_hole_sum


@functools.cache
def _ssim_kernel() -> Callable[..., tuple[float, float, float, float]]:
    """:func:`_ssim_sums_loop` compiled by numba, on first use (importing numba alone takes about 0.3 s).

    ``cache=True`` keeps the machine code beside this file (``*.nbi``, ``*.nbc``, ignored by git), so only the
    first run on a machine pays the compile, about a second. ``nogil`` lets strips run on several threads.
    """
    import numba

    return numba.njit(cache=True, nogil=True)(_ssim_sums_loop)


_NO_HOLE = np.zeros((1, 1), dtype=bool)


def _ssim_means(
    x: np.ndarray, y: np.ndarray, hole: np.ndarray | None, c1: float, c2: float, hole_only: bool = False
) -> tuple[_Means, _Means]:
    """Means of the SSIM and contrast-structure maps of one channel over the plane and over the hole.

    Args:
        x, y: ``H x W`` planes, any float dtype.
        hole: ``H x W`` bool, or None.
        c1, c2: stabilising constants.
        hole_only: compute only what the hole means need, which skips strips without hole pixels and crops
            the others to the hole's columns plus half a window (exact: every window centred in the hole stays
            inside the crop). The means over the whole plane are then nan.
    """
    kernel = _ssim_kernel()
    halo = SSIM_WINDOW // 2
    width = x.shape[1]
    hole_only = hole_only and hole is not None

    def work(read: slice, rows: slice, inner: slice, hole_rows: np.ndarray | None) -> np.ndarray:
        columns = slice(0, width)
        if hole_only and hole_rows is not None:
            hole_columns = np.flatnonzero(hole_rows.any(axis=0))
            if hole_columns.size == 0:
                return np.array([(math.nan, 0.0), (math.nan, 0.0)])
            first, last = hole_columns[0], hole_columns[-1] + 1
            columns = slice(max(first - halo, 0), min(last + halo, width))
            hole_rows = hole_rows[:, columns]
        x_strip, y_strip = _float64(x[read, columns]), _float64(y[read, columns])
        products = x_strip * x_strip
        products += y_strip * y_strip
        sum_squares = _blur(products)[inner]
        np.multiply(x_strip, y_strip, out=products)
        cross = _blur(products)[inner]
        mu_x, mu_y = _blur(x_strip)[inner], _blur(y_strip)[inner]
        masked = hole_rows is not None
        hole_strip = np.ascontiguousarray(hole_rows) if masked else _NO_HOLE
        ssim_sum, cs_sum, ssim_hole, cs_hole = kernel(mu_x, mu_y, sum_squares, cross, hole_strip, masked, c1, c2)
        if hole_only:
            ssim_sum = cs_sum = math.nan
        return np.array([(ssim_sum, ssim_hole), (cs_sum, cs_hole)])

    ssim_means, cs_means = _strip_means(work, x.shape, halo, hole)
    return ssim_means, cs_means


def _ms_ssim_scales(shape: tuple[int, ...]) -> int:
    """How many MS-SSIM scales fit: each needs a short side of at least one window (11 px); at least one."""
    short_side = min(shape[:2])
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS):
        short_side = -(-short_side // 2)
        if short_side < SSIM_WINDOW:
            break
        scales += 1
    return scales


def _combine_scales(cs_means: list[float], last_ssim: float) -> float:
    """Wang's product: the cs of every scale but the last and the SSIM of the last, each raised to its weight.

    Weights are the first ``len(cs_means) + 1`` standard ones, renormalised to sum to 1. Negative means
    (structure anti-correlated at that scale) are clipped to 0, since a fractional power of a negative number
    is undefined; the result is then 0, the worst score.
    """
    weights = MS_SSIM_WEIGHTS[: len(cs_means) + 1]
    total = sum(weights)
    value = max(last_ssim, 0.0) ** (weights[-1] / total)
    for cs_mean, weight in zip(cs_means, weights[:-1], strict=True):
        value *= max(cs_mean, 0.0) ** (weight / total)
    return value if not math.isnan(last_ssim) else math.nan


def _ms_ssim_channel(
    x: np.ndarray, y: np.ndarray, holes: list[np.ndarray | None], scales: int, hole_only: bool = False
) -> tuple[_Means, _Means]:
    """MS-SSIM of one channel; also returns the finest scale's SSIM, which is plain SSIM.

    Args:
        x, y: ``H x W`` planes, any float dtype.
        holes: the hole at each scale (from :func:`_hole_pyramid`), at least ``scales`` entries.
        scales: how many scales to use.
        hole_only: skip the work only the whole-plane means need (see :func:`_ssim_means`).

    Returns:
        ``(ssim, ms_ssim)``, each over the plane and over the hole.
    """
    c1, c2 = _ssim_constants()
    cs_whole: list[float] = []
    cs_hole: list[float] = []
    for scale in range(scales):
        if scale:
            x, y = _pool2(x), _pool2(y)
        ssim_means, cs_means = _ssim_means(x, y, holes[scale], c1, c2, hole_only)
        if scale == 0:
            finest = ssim_means
        if scale < scales - 1:
            cs_whole.append(cs_means.whole)
            cs_hole.append(cs_means.hole)
    combined = _Means(_combine_scales(cs_whole, ssim_means.whole), _combine_scales(cs_hole, ssim_means.hole))
    return finest, combined


def _band_ssim_channel(
    x: np.ndarray, y: np.ndarray, holes: list[np.ndarray | None], levels: int, hole_only: bool = False
) -> list[_Means]:
    """SSIM of each Laplacian-pyramid level of one channel, finest first.

    Band-pass levels are signed and small (within [-1, 1], mostly near 0). They keep the image's constants
    (data range 1) so that a band's SSIM judges its detail at the same absolute contrast as image SSIM does; a
    data range of 2 for the signed bands would quadruple C1 and C2 and hide the loss of faint fine texture,
    which is what this metric is for. The last level is the low-pass residual, in [0, 1] like the image.
    ``holes`` pools the mask the way ``pyrDown`` halves the size (``ceil(H / 2)``), any-hole. The pyramid
    itself comes from :mod:`hrinpaint.ops.pyramid` in float32 (about 1e-7 relative, far below what SSIM
    resolves); the SSIM of the bands is float64 like everything else here.
    """
    c1, c2 = _ssim_constants(1.0)
    bands_x = laplacian_pyramid(x, levels)
    bands_y = laplacian_pyramid(y, levels)
    means = []
    for band_x, band_y, hole in zip(bands_x, bands_y, holes, strict=False):
        if hole is not None and hole.shape != band_x.shape:
            raise AssertionError(f"pyramid level {band_x.shape} and pooled hole {hole.shape} disagree")
        means.append(_ssim_means(band_x, band_y, hole, c1, c2, hole_only)[0])
    return means


def _luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma in float64. Shape: ``h x W x 3`` -> ``h x W``."""
    luma = LUMA_WEIGHTS[0] * image[:, :, 0].astype(np.float64)
    luma += LUMA_WEIGHTS[1] * image[:, :, 1].astype(np.float64)
    luma += LUMA_WEIGHTS[2] * image[:, :, 2].astype(np.float64)
    return luma


def _laplacian_energy(image: np.ndarray, hole: np.ndarray | None) -> _Means:
    """Mean squared 4-neighbour Laplacian of luma (symmetric borders) over the image and over the hole."""

    def work(read: slice, rows: slice, inner: slice, hole_rows: np.ndarray | None) -> np.ndarray:
        luma = _luma(image[read])
        laplacian = cv2.filter2D(luma, cv2.CV_64F, _LAPLACIAN_KERNEL, borderType=cv2.BORDER_REFLECT)[inner]
        return _map_sums([laplacian * laplacian], hole_rows)

    (energy,) = _strip_means(work, image.shape, 1, hole)
    return energy


def _energy_ratio(result_energy: float, truth_energy: float) -> float:
    if math.isnan(truth_energy) or truth_energy < _TINY_ENERGY:
        return math.nan
    return result_energy / truth_energy


def _error_means(x: np.ndarray, y: np.ndarray, hole: np.ndarray | None) -> tuple[_Means, _Means]:
    """Mean absolute and mean squared error of one channel over the plane and over the hole."""

    def work(read: slice, rows: slice, inner: slice, hole_rows: np.ndarray | None) -> np.ndarray:
        difference = np.subtract(x[read], y[read], dtype=np.float64)
        np.abs(difference, out=difference)
        return _map_sums([difference, difference * difference], hole_rows)

    abs_error, squared_error = _strip_means(work, x.shape, 0, hole)
    return abs_error, squared_error


def _psnr_from_mse(mse: float) -> float:
    if math.isnan(mse):
        return math.nan
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def _channel_mean(values: list[float]) -> float:
    # Every channel has the same pixel count, so the mean of per-channel means is the mean over all values.
    return float(sum(values) / len(values))


def _channels(result: np.ndarray, truth: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields ``(result, truth)`` one channel at a time, as contiguous float64 planes.

    One conversion per channel instead of one per strip in every building block (each reads a plane several
    times); two planes at a time bound the extra memory (about 180 MB at 4096 x 2731).
    """
    for channel in range(result.shape[2]):
        yield _float64(result[:, :, channel]), _float64(truth[:, :, channel])


# ------------------------------------------------------------------------------------------------------------
# Public metrics


def psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, data range 1.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: optional ``H x W`` bool, True = hole; the squared error is then averaged over hole pixels (all
            channels) only.

    Returns:
        ``10 log10(1 / MSE)``; ``inf`` when the compared pixels are identical, ``nan`` for an empty hole.
    """
    result, truth, mask = _check_inputs(result, truth, mask)
    errors = [_error_means(x, y, mask)[1] for x, y in _channels(result, truth)]
    return _psnr_from_mse(_channel_mean([error.pick(mask is not None) for error in errors]))


def l1(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error over all channels, in the [0, 1] units of the images.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: optional ``H x W`` bool, True = hole; then averaged over hole pixels only.

    Returns:
        A value in [0, 1]; ``nan`` for an empty hole.
    """
    result, truth, mask = _check_inputs(result, truth, mask)
    errors = [_error_means(x, y, mask)[0] for x, y in _channels(result, truth)]
    return _channel_mean([error.pick(mask is not None) for error in errors])


def ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity with the Gaussian window of Wang et al. (11 x 11, sigma 1.5, K1 0.01, K2 0.03).

    The SSIM map is computed per channel on the whole image, with symmetric (``reflect``) borders and no
    border crop so that every pixel, hole pixels at the image edge included, has a value. Numbers therefore
    differ slightly from cropping implementations (scikit-image, the original MATLAB code) on small images.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: optional ``H x W`` bool, True = hole; the map is then averaged over hole pixels only. Windows
            there still see the known context, which is intended: a fill that breaks its surroundings scores
            lower.

    Returns:
        Mean SSIM over channels and pixels, in [-1, 1], 1 for identical images; ``nan`` for an empty hole.
    """
    result, truth, mask = _check_inputs(result, truth, mask)
    c1, c2 = _ssim_constants()
    hole_only = mask is not None
    means = [_ssim_means(x, y, mask, c1, c2, hole_only)[0] for x, y in _channels(result, truth)]
    return _channel_mean([m.pick(mask is not None) for m in means])


def ms_ssim(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Multi-scale SSIM (Wang, Simoncelli and Bovik 2003) with the standard five weights.

    Each coarser scale is a 2 x 2 box average of the one before (an odd last row or column pairs with itself).
    Images too small for five scales use as many as keep a short side of at least 11 px, with those scales'
    weights renormalised to sum to 1 (one scale = plain SSIM). Per-scale means are clipped at 0 before the
    fractional powers. Computed per channel, then averaged over channels.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: optional ``H x W`` bool, True = hole; pooled alongside the images (a coarse pixel is a hole if
            any of its four pixels is) and each scale's map averaged over its hole pixels.

    Returns:
        A value in [0, 1], 1 for identical images; ``nan`` for an empty hole.
    """
    result, truth, mask = _check_inputs(result, truth, mask)
    scales = _ms_ssim_scales(result.shape)
    holes = _hole_pyramid(mask, scales)
    values = [
        _ms_ssim_channel(x, y, holes, scales, hole_only=mask is not None)[1].pick(mask is not None)
        for x, y in _channels(result, truth)
    ]
    return _channel_mean(values)


def sharpness_ratio(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> float:
    """High-frequency energy of the result relative to the truth, inside the hole.

    Energy is the mean squared 4-neighbour Laplacian (3 x 3 kernel, symmetric borders) of BT.601 luma
    (0.299 R + 0.587 G + 0.114 B) over hole pixels. The Laplacian on the hole's rim sees known pixels, so a
    visible seam also counts as detail there.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: ``H x W`` bool, True = hole; ``None`` measures the whole image.

    Returns:
        ``energy(result) / energy(truth)``: 1 = as detailed as the truth, below 1 = blurrier, above 1 =
        noisier or seamed. ``nan`` when the truth is flat there (energy below 1e-12) or the hole is empty.
    """
    result, truth, mask = _check_inputs(result, truth, mask)
    result_energy = _laplacian_energy(result, mask).pick(mask is not None)
    truth_energy = _laplacian_energy(truth, mask).pick(mask is not None)
    return _energy_ratio(result_energy, truth_energy)


def band_ssim(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, levels: int = BAND_LEVELS
) -> list[float]:
    """SSIM of each level of a Laplacian pyramid (:func:`hrinpaint.ops.laplacian_pyramid`), finest first.

    Shows where a method loses quality: a blurry lifter keeps the coarse levels and loses the finest band.
    Bands are compared with the image's SSIM constants (data range 1; ``_band_ssim_channel`` says why). The
    last entry is the low-pass residual.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: optional ``H x W`` bool, True = hole; halved with each level (any-hole) and each band's SSIM map
            averaged over its hole pixels.
        levels: pyramid levels (>= 1); fewer come back when the image is too small to halve that often.

    Returns:
        One SSIM per level, finest first, each in [-1, 1].
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    result, truth, mask = _check_inputs(result, truth, mask)
    holes = _hole_pyramid(mask, levels)
    per_channel = [
        _band_ssim_channel(x, y, holes, levels, hole_only=mask is not None) for x, y in _channels(result, truth)
    ]
    return [_channel_mean([m.pick(mask is not None) for m in level]) for level in zip(*per_channel, strict=True)]


def _band_energies(image: np.ndarray, holes: list[np.ndarray | None], bands: int) -> list[float]:
    """Mean squared value of each of the first ``bands`` band-pass levels of luma over ``holes[level]``."""
    pyramid = laplacian_pyramid(_luma(image).astype(np.float32), bands + 1)[:-1]
    energies = []
    for band, hole in zip(pyramid, holes, strict=False):
        values = band[hole] if hole is not None else band
        energies.append(float(np.mean(np.square(values, dtype=np.float64))) if values.size else math.nan)
    return energies + [math.nan] * (bands - len(energies))


def band_energy(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None, bands: int = ENERGY_BANDS
) -> list[float]:
    """Detail of the result relative to the truth in each octave, inside the hole, finest first.

    Each band is a band-pass level of a Laplacian pyramid (:func:`hrinpaint.ops.laplacian_pyramid`) of BT.601
    luma; its energy is the mean square over the hole, pooled with each halving (any-hole). A hazy fill keeps the
    finest band (grain) but loses the middle ones, which :func:`sharpness_ratio` (one Laplacian) cannot see.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: ``H x W`` bool, True = hole; ``None`` measures the whole image.
        bands: how many band-pass levels (>= 1).

    Returns:
        ``bands`` ratios ``energy(result) / energy(truth)``: 1 = as much detail as the truth in that octave,
        below = smoother, above = noisier; ``nan`` for a level the image is too small for or a flat truth.
    """
    if bands < 1:
        raise ValueError(f"bands must be >= 1, got {bands}")
    result, truth, mask = _check_inputs(result, truth, mask)
    holes = _hole_pyramid(mask, bands)
    return [
        _energy_ratio(mine, theirs)
        for mine, theirs in zip(_band_energies(result, holes, bands), _band_energies(truth, holes, bands), strict=True)
    ]


def box_mask(mask: np.ndarray) -> np.ndarray:
    """The union of the bounding boxes of the hole's 8-connected components (bool, same shape)."""
    from hrinpaint.ops.regions import connected_boxes

    boxes = np.zeros_like(mask, dtype=bool)
    for box in connected_boxes(mask):
        boxes[box.top : box.bottom, box.left : box.right] = True
    return boxes


def evaluate(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Every metric of this module, whole-image and hole variants, sharing work between them.

    SSIM is taken from MS-SSIM's finest scale and the pooled masks are built once; the values equal (to
    rounding) those of the individual functions.

    Args:
        result: ``H x W x 3`` float RGB in [0, 1].
        truth: ``H x W x 3`` float RGB in [0, 1].
        mask: ``H x W`` bool, True = hole.

    Returns:
        ``psnr, psnr_hole, ssim, ssim_hole, ms_ssim, ms_ssim_hole, l1, l1_hole, sharpness`` and
        ``band_ssim_0`` (finest) to ``band_ssim_2``, the band SSIMs over the hole (``nan`` for a level the
        image is too small for), ``ssim_box`` (SSIM over the bounding boxes of the hole's components: the fill
        and the context around it, as a crop shows them) and ``band_energy_0`` (finest) to ``band_energy_3``
        (see :func:`band_energy`). Plain floats.
    """
    if mask is None:
        raise ValueError("evaluate needs a mask (H x W bool, True = hole)")
    result, truth, mask = _check_inputs(result, truth, mask)
    scales = _ms_ssim_scales(result.shape)
    holes = _hole_pyramid(mask, max(scales, BAND_LEVELS))
    boxes = box_mask(mask)
    abs_errors, squared_errors, ssims, ms_ssims, bands, box_ssims = [], [], [], [], [], []
    for x, y in _channels(result, truth):
        abs_error, squared_error = _error_means(x, y, mask)
        abs_errors.append(abs_error)
        squared_errors.append(squared_error)
        ssim_means, ms_ssim_means = _ms_ssim_channel(x, y, holes, scales)
        ssims.append(ssim_means)
        ms_ssims.append(ms_ssim_means)
        # Only the hole's band SSIM is reported, so the bands skip everything the hole's windows do not see.
        bands.append(_band_ssim_channel(x, y, holes, BAND_LEVELS, hole_only=True))
        box_ssims.append(_ssim_means(x, y, boxes, *_ssim_constants(), hole_only=True)[0])
    band_values = [_channel_mean([m.hole for m in level]) for level in zip(*bands, strict=True)]
    band_values += [math.nan] * (BAND_LEVELS - len(band_values))
    metrics = {
        "psnr": _psnr_from_mse(_channel_mean([m.whole for m in squared_errors])),
        "psnr_hole": _psnr_from_mse(_channel_mean([m.hole for m in squared_errors])),
        "ssim": _channel_mean([m.whole for m in ssims]),
        "ssim_hole": _channel_mean([m.hole for m in ssims]),
        "ms_ssim": _channel_mean([m.whole for m in ms_ssims]),
        "ms_ssim_hole": _channel_mean([m.hole for m in ms_ssims]),
        "l1": _channel_mean([m.whole for m in abs_errors]),
        "l1_hole": _channel_mean([m.hole for m in abs_errors]),
        "ssim_box": _channel_mean([m.hole for m in box_ssims]),
        "sharpness": _energy_ratio(_laplacian_energy(result, mask).hole, _laplacian_energy(truth, mask).hole),
    }
    metrics.update({f"band_ssim_{level}": value for level, value in enumerate(band_values)})
    energies = band_energy(result, truth, mask)
    metrics.update({f"band_energy_{level}": value for level, value in enumerate(energies)})
    return {name: float(value) for name, value in metrics.items()}


def mask_area_bin(mask: np.ndarray, width: float = 0.1) -> str:
    """The hole-area bin of a mask, as LaMa reports evaluations: ``"0-10%"``, ``"10-20%"``, ... ``"90-100%"``.

    Bins are half-open ``[low, high)``, except that the last one also holds an all-hole mask. A fraction
    exactly on an edge (30 of 100 pixels) goes to the bin that starts there (``"30-40%"``) despite the float
    rounding of ``0.3 / 0.1``.

    Args:
        mask: ``H x W`` bool, True = hole.
        width: bin width as a fraction of the image, in (0, 1].

    Returns:
        The bin label, percentages without trailing zeros (``"2.5-5%"`` for width 0.025).
    """
    mask = _check_mask(mask)
    if mask.size == 0:
        raise ValueError("mask is empty")
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must be in (0, 1], got {width}")
    fraction = np.count_nonzero(mask) / mask.size
    bins = math.ceil(1.0 / width - 1e-9)
    index = min(math.floor(fraction / width + 1e-9), bins - 1)
    low = 100.0 * index * width
    high = min(100.0, 100.0 * (index + 1) * width)
    return f"{_percent(low)}-{_percent(high)}%"


def _percent(value: float) -> str:
    return f"{round(value, 6):g}"
