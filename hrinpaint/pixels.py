"""Pixel value conversions between the file dtypes (uint8, uint16) and the canonical float32 in [0, 1].

No files and no state: :mod:`hrinpaint.ops` and the lifters import this without the file layer
(:mod:`hrinpaint.io`, which re-exports :func:`to_float` and :func:`from_float`). One rounding rule each way:
float -> integer rounds to nearest (half to even) and clips; uint16 -> uint8 rounds ``v / 257`` to nearest in
integers (:func:`to_8bit`); uint8 -> uint16 is exact (``v * 257``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["float_to_dtype", "from_float", "to_16bit", "to_8bit", "to_bit_depth", "to_float"]


def to_float(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Converts integer pixels to float32 in [0, 1]: uint8 / 255, uint16 / 65535; floats are cast to float32.

    Args:
        pixels: Any shape; uint8, uint16, bool or floating point.
        out: A float32 array of the same shape to write into (a loop over windows can reuse one buffer);
            ``None`` allocates one.

    Returns:
        A new float32 array of the same shape, or ``out``.
    """
    pixels = np.asarray(pixels)
    if out is None:
        out = np.empty(pixels.shape, dtype=np.float32)
    elif out.shape != pixels.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {pixels.shape}, got {out.dtype} {out.shape}")
    if pixels.dtype == np.uint8 or pixels.dtype == np.uint16:
        scale = np.float32(np.iinfo(pixels.dtype).max)
        # Division (not multiplying by a reciprocal) is correctly rounded, so from_float inverts it exactly.
        return np.divide(pixels, scale, out=out, dtype=np.float32)
    if pixels.dtype == np.bool_ or np.issubdtype(pixels.dtype, np.floating):
        np.copyto(out, pixels, casting="unsafe")
        return out
    raise ValueError(f"to_float expects uint8, uint16, bool or float pixels, got {pixels.dtype}")


def from_float(image: np.ndarray, dtype: Any) -> np.ndarray:
    """Converts a float image in [0, 1] to uint8 or uint16, rounding to nearest and clipping; NaN becomes 0.

    Args:
        image: Any shape, floating point, nominally in [0, 1].
        dtype: ``np.uint8`` or ``np.uint16``.

    Returns:
        A new array of ``dtype`` and the same shape.
    """
    target = np.dtype(dtype)
    if target not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"from_float converts to uint8 or uint16, not {target}")
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"from_float expects a floating-point image, got {image.dtype}")
    if target == np.uint8 and image.dtype == np.float32 and image.ndim == 3 and image.shape[2] <= 4 and image.size > 16:
        # OpenCV's saturating conversion rounds half to even like np.rint and maps NaN to 0, with no float
        # temporaries: about fifty times faster on a large image. Scalars are per channel, hence the 4-tuples.
        # OpenCV reads an array of four values or fewer as a scalar (a one-pixel hole box), hence the size check.
        clipped = cv2.max(np.ascontiguousarray(image), (0.0,) * 4)
        cv2.min(clipped, (1.0,) * 4, dst=clipped)  # in place: one float temporary, not two
        return cv2.convertScaleAbs(clipped, alpha=255.0).reshape(image.shape)
    work_dtype = np.float64 if image.dtype == np.float64 else np.float32
    top = np.iinfo(target).max
    scaled = np.multiply(image, top, dtype=work_dtype)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, top, out=scaled)
    return scaled.astype(target)


def to_8bit(array: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with round-to-nearest in integers: (v + 128) // 257 equals round(v / 257) exactly."""
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def to_16bit(array: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 by v * 257, which maps 0..255 onto 0..65535 exactly."""
    if array.dtype == np.uint16:
        return array
    return array.astype(np.uint16) * np.uint16(257)


def to_bit_depth(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 or uint16 -> ``dtype`` (uint8 or uint16) with :func:`to_8bit` or :func:`to_16bit`."""
    return to_16bit(array) if dtype == np.uint16 else to_8bit(array)


def float_to_dtype(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Float values in [0, 1] in an image's own dtype: rounded by :func:`from_float` for uint8 and uint16,
    clipped to [0, 1] for float images."""
    if np.dtype(dtype).kind == "u":
        return from_float(values, dtype)
    return np.clip(values, 0.0, 1.0).astype(dtype)
