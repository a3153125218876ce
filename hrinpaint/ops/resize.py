"""Resampling: area averaging down, bilinear and bicubic up, and working-size arithmetic.

Shape:
    images ``H x W x C`` or ``H x W`` float32 (:func:`area_downsample_pixels` also takes the integer and bool
    forms); sizes are ``(height, width)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from hrinpaint.pixels import to_float

# Elements per band of area_downsample_pixels: 4 MB of float32, reused band after band.
_BAND_ELEMENTS = 1 << 20


def fit_long_side(shape: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Returns ``(height, width)`` scaled so that the long side is ``long_side``, aspect kept, each side >= 1.

    A shape whose long side is already at most ``long_side`` is returned unchanged (we never upscale here).
    """
    height, width = shape
    if long_side <= 0:
        raise ValueError(f"long_side must be positive, got {long_side}")
    if max(height, width) <= long_side:
        return height, width
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    height, width = size
    if height < 1 or width < 1:
        raise ValueError(f"size must be at least 1 x 1, got {size}")
    if array.shape[:2] == (height, width):
        return array.astype(np.float32, copy=True)
    source = np.ascontiguousarray(array, dtype=np.float32)
    resized = cv2.resize(source, (width, height), interpolation=interpolation)
    if array.ndim == 3 and resized.ndim == 2:  # cv2 drops a trailing channel axis of length 1
        resized = resized[:, :, None]
    return resized


def area_downsample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Averages each output pixel over the input pixels it covers (no aliasing; exact for integer factors)."""
    if size[0] > image.shape[0] or size[1] > image.shape[1]:
        raise ValueError(f"area_downsample cannot enlarge {image.shape[:2]} to {size}")
    return _resize(image, size, cv2.INTER_AREA)


def area_downsample_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`area_downsample` of pixels in any stored form, without a float copy of the whole input.

    A photo region is usually a uint8 view into the decoded image: converting all of it to float32 first costs
    four times its size in fresh memory, which on a large photo takes longer to allocate than the averaging
    itself. Area averaging is separable, so bands of rows are converted one at a time (into one reused buffer)
    and shrunk across, and the ``H x w`` result is then shrunk down; this equals the one-step resize up to float
    rounding.

    Args:
        pixels: ``H x W`` or ``H x W x C``; uint8 and uint16 are scaled to [0, 1] exactly as
            :func:`hrinpaint.pixels.to_float` does, bool gives 0 and 1, floats are taken as they are.
        size: ``(h, w)``, at most the input's size.

    Returns:
        ``h x w`` or ``h x w x C`` float32.
    """
    height, width = pixels.shape[:2]
    if size[0] > height or size[1] > width:
        raise ValueError(f"area_downsample cannot enlarge {pixels.shape[:2]} to {size}")
    if pixels.dtype == np.float32 and pixels.flags.c_contiguous:
        return area_downsample(pixels, size)
    rest = pixels.shape[2:]
    band_rows = max(1, _BAND_ELEMENTS // (width * int(np.prod(rest, dtype=np.int64))))
    buffer = np.empty((min(band_rows, height), width, *rest), dtype=np.float32)
    narrow = np.empty((height, size[1], *rest), dtype=np.float32)
    for top in range(0, height, band_rows):
        band = pixels[top : top + band_rows]
        converted = to_float(band, out=buffer[: band.shape[0]])
        narrow[top : top + band.shape[0]] = (
            converted if size[1] == width else _resize(converted, (band.shape[0], size[1]), cv2.INTER_AREA)
        )
    return narrow if size[0] == height else _resize(narrow, size, cv2.INTER_AREA)


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling with pixel centres aligned (half-pixel convention)."""
    return _resize(image, size, cv2.INTER_LINEAR)


def resize_bicubic(image: np.ndarray, size: tuple[int, int], clip: bool = True) -> np.ndarray:
    """Bicubic resampling (a = -0.75); clipped to [0, 1] by default because the kernel overshoots."""
    resized = _resize(image, size, cv2.INTER_CUBIC)
    if clip:
        np.clip(resized, 0.0, 1.0, out=resized)
    return resized


def downsample_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrinks a bool hole mask; an output pixel is a hole if any input pixel it covers is a hole.

    This keeps every pixel that touched the hole out of the known context, so no hole content leaks into the
    working image through averaging.
    """
    if mask.shape == tuple(size):
        return mask.astype(bool, copy=True)
    coverage = area_downsample_pixels(mask.astype(bool, copy=False), size)
    return coverage > 1e-6
