"""Binary mask morphology with a disk-shaped structuring element."""

from __future__ import annotations

import cv2
import numpy as np


def _disk(radius: int) -> np.ndarray:
    # OpenCV's MORPH_ELLIPSE is not symmetric under transposition; a Euclidean disk is.
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius).astype(np.uint8)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grows the True region of a bool mask by ``radius`` pixels (a disk); radius 0 returns a copy."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.astype(bool, copy=True)
    return cv2.dilate(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrinks the True region by ``radius`` pixels; pixels outside the image count as not-True."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.astype(bool, copy=True)
    return cv2.erode(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
