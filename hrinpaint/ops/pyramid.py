"""Gaussian and Laplacian pyramids (5-tap binomial filter, reflect-101 borders), any size, any channel count."""

from __future__ import annotations

import cv2
import numpy as np


def _down(image: np.ndarray) -> np.ndarray:
    reduced = cv2.pyrDown(np.ascontiguousarray(image, dtype=np.float32))
    return reduced[:, :, None] if image.ndim == 3 and reduced.ndim == 2 else reduced


def _up(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    expanded = cv2.pyrUp(np.ascontiguousarray(image, dtype=np.float32), dstsize=(width, height))
    return expanded[:, :, None] if image.ndim == 3 and expanded.ndim == 2 else expanded


def gaussian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Returns ``levels`` images, finest first; each level is blurred and halved (rounding up) from the one before.

    Stops early when a side would drop below 1 pixel.
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    pyramid = [np.asarray(image, dtype=np.float32)]
    while len(pyramid) < levels and min(pyramid[-1].shape[:2]) >= 2:
        pyramid.append(_down(pyramid[-1]))
    return pyramid


def laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels, finest first; the last entry is the low-pass residual. Reconstruction is exact."""
    gaussian = gaussian_pyramid(image, levels)
    bands = [fine - _up(coarse, fine.shape[:2]) for fine, coarse in zip(gaussian[:-1], gaussian[1:], strict=True)]
    bands.append(gaussian[-1])
    return bands


def reconstruct_laplacian(bands: list[np.ndarray]) -> np.ndarray:
    """Inverts :func:`laplacian_pyramid`."""
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = band + _up(image, band.shape[:2])
    return image
