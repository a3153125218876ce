"""Building blocks of :mod:`hrinpaint.eval.metrics`: one channel (an ``H x W`` plane of any float dtype),
float64 inside, reduced to means over the plane and over the hole by :mod:`hrinpaint.eval.strips`: SSIM and
contrast-structure (one compiled pass per strip), MS-SSIM scales, Laplacian-pyramid bands, luma and its
Laplacian energy, absolute and squared errors."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from hrinpaint.eval.strips import _float64, _map_sums, _Means, _strip_means
from hrinpaint.ops.pyramid import laplacian_pyramid

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Wang, Simoncelli and Bovik (2003), finest scale first."""
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma from RGB."""

# A single 1/255 step in a hole of a million pixels has a mean squared Laplacian of about 2.5e-10; a truth
# below this is a flat hole, where the ratio would be noise over nothing.
_TINY_ENERGY = 1e-12
_LAPLACIAN_KERNEL = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


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
