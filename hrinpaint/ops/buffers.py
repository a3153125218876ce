"""Scratch buffers reused across a loop and small OpenCV array helpers for float32 ``h x w x 3`` pixels."""

from __future__ import annotations

import math

import cv2
import numpy as np

_CHANNEL_SUM = np.ones((1, 3), dtype=np.float32)


class Buffers:
    """Scratch arrays reused by name across the iterations of a loop.

    Temporaries of a megabyte or so, allocated afresh per cell or band, go back to the system when freed and
    are faulted in again by the next iteration; on the reference machine that costs more than the arithmetic
    on them. ``get`` hands out a float32 view of the requested shape on a buffer that only ever grows.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(size, dtype=np.float32)
        return array[:size].reshape(shape)


def squared_norm(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``|pixel|^2`` over the 3 channels, ``h x w`` float32 (OpenCV: about 5 times faster than ``einsum``).

    ``out`` (``h x w`` float32, contiguous), when given, receives the result and is returned.
    """
    squares = cv2.multiply(pixels, pixels)
    if out is None:
        return cv2.transform(squares, _CHANNEL_SUM)
    cv2.transform(squares, _CHANNEL_SUM, dst=out)
    return out


def scale_channels(pixels: np.ndarray, weights: np.ndarray, buffers: Buffers | None = None) -> None:
    """``pixels *= weights[:, :, None]`` in place, for ``h x w x 3`` float32 pixels and ``h x w`` weights.

    NumPy broadcasts the weights with an innermost loop of 3 elements, about ten times slower than OpenCV on
    the weights merged to 3 channels first.
    """
    merged = cv2.merge([weights] * 3) if buffers is None else buffers.get("merged", pixels.shape)
    if buffers is not None:
        cv2.merge([weights] * 3, dst=merged)
    cv2.multiply(pixels, merged, dst=pixels)


def _smooth(values: np.ndarray, size: tuple[int, int], buffers: Buffers, name: str = "summed") -> np.ndarray:
    """Two box filters (a tent), zero outside the array, so that pixels off the hole count as no energy.

    The result is the buffer ``name`` of ``buffers``.
    """
    once = cv2.blur(values, size, dst=buffers.get("once", values.shape), borderType=cv2.BORDER_CONSTANT)
    return cv2.blur(once, size, dst=buffers.get(name, values.shape), borderType=cv2.BORDER_CONSTANT)
