"""Resampling: area averaging down, bilinear and bicubic up, and working-size arithmetic.

Shape:
    images ``H x W x C`` or ``H x W`` float32; sizes are ``(height, width)``.
"""

from __future__ import annotations

import cv2
import numpy as np


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
    coverage = area_downsample(mask.astype(np.float32), size)
    return coverage > 1e-6
