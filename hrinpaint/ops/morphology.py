"""Binary mask morphology with a disk-shaped structuring element."""

from __future__ import annotations

import cv2
import numpy as np


def _disk(radius: int) -> np.ndarray:
    # OpenCV's MORPH_ELLIPSE is not symmetric under transposition; a Euclidean disk is.
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius).astype(np.uint8)


#: Above this radius a disk kernel (cost ~ radius^2 per pixel) is slower than an exact distance transform.
_KERNEL_MAX_RADIUS = 6


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grows the True region of a bool mask by ``radius`` pixels (a disk); radius 0 returns a copy.

    Small radii use a disk kernel; larger ones threshold the exact Euclidean distance transform, whose cost is
    proportional to the image whatever the radius (a kernel of radius 3000 would cost 28 million operations per
    pixel). Both give the same pixels: within ``radius`` of a True pixel, centre to centre.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.astype(bool, copy=True)
    if radius <= _KERNEL_MAX_RADIUS:
        return cv2.dilate(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    if not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    # distance of each pixel to the nearest True pixel (the zeros of the inverted mask), exact Euclidean
    distance = cv2.distanceTransform((~mask.astype(bool)).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # squared integer distances are whole numbers; half a unit of slack absorbs float32 rounding of the root
    return distance * distance <= radius * radius + 0.5


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrinks the True region by ``radius`` pixels; pixels outside the image count as not-True."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return mask.astype(bool, copy=True)
    return cv2.erode(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
