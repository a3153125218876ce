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

import math

import numpy as np

from hrinpaint.eval.planes import (
    LUMA_WEIGHTS,
    MS_SSIM_WEIGHTS,
    _band_ssim_channel,
    _channel_mean,
    _channels,
    _energy_ratio,
    _error_means,
    _hole_pyramid,
    _laplacian_energy,
    _luma,
    _ms_ssim_channel,
    _ms_ssim_scales,
    _psnr_from_mse,
    _ssim_constants,
    _ssim_means,
)
from hrinpaint.eval.planes import SSIM_K1 as SSIM_K1
from hrinpaint.eval.planes import SSIM_K2 as SSIM_K2
from hrinpaint.eval.planes import SSIM_SIGMA as SSIM_SIGMA
from hrinpaint.eval.planes import SSIM_WINDOW as SSIM_WINDOW
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

BAND_LEVELS = 3
"""Laplacian-pyramid levels reported by :func:`evaluate` (``band_ssim_0`` finest to ``band_ssim_2``)."""
ENERGY_BANDS = 4
"""Band-pass levels of luma whose hole energy :func:`evaluate` reports (``band_energy_0`` finest to ``_3``)."""

# Values a little outside [0, 1] come from float rounding and resampling overshoot; anything beyond this is a
# wrong range (0..255 data, a forgotten normalisation) that would make every number here meaningless.
_RANGE_SLACK = 1e-3


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
