"""Mask polarity: any array or file a user calls a mask -> bool ``H x W``, True = hole."""

from __future__ import annotations

import numpy as np

from hrinpaint.errors import InputError


def mask_from_array(array: np.ndarray, invert: bool = False, threshold: float = 0.0) -> np.ndarray:
    """Applies the mask polarity rules to an in-memory array and returns bool ``H x W``, True = hole.

    Rules: a pixel that is non-zero in any colour channel is a hole. An array with an alpha channel (2
    channels: grey + alpha, 4 channels: RGB + alpha) whose alpha is not fully opaque is a layer of painted
    strokes: hole = alpha > 0. A fully opaque alpha carries no information, so the colour decides. ``invert``
    flips the result.

    Args:
        array: ``H x W`` or ``H x W x C`` with C in 1..4; bool, integer or float (opaque alpha is the dtype's
            maximum, 1.0 for floats).
        invert: True when the mask marks the pixels to keep instead of the hole.
        threshold: a pixel is a hole when its value is above this fraction of full scale (0 = any non-zero);
            about 0.5 suits JPEG masks, whose compression noise makes near-black pixels non-zero.

    Returns:
        Bool ``H x W``.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        return hole_from(array, None, invert, threshold)
    if array.ndim == 3 and array.shape[2] in (1, 3):
        return hole_from(array, None, invert, threshold)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        return hole_from(array[:, :, :-1], array[:, :, -1], invert, threshold)
    raise InputError(f"mask must be H x W or H x W x C with 1 to 4 channels, got shape {array.shape}")


def _opaque_value(dtype: np.dtype) -> float | int | bool:
    if dtype == np.bool_:
        return True
    if np.issubdtype(dtype, np.integer):
        return int(np.iinfo(dtype).max)
    return 1.0


def hole_from(colour: np.ndarray, alpha: np.ndarray | None, invert: bool, threshold: float = 0.0) -> np.ndarray:
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"mask threshold must be in [0, 1), got {threshold}")
    if alpha is not None and not np.all(alpha == _opaque_value(alpha.dtype)):
        hole = alpha > threshold * _opaque_value(alpha.dtype)
    else:
        # a threshold above 0 ignores the near-black noise that JPEG compression leaves in a mask
        level = threshold * _opaque_value(colour.dtype)
        hole = np.any(colour > level, axis=2) if colour.ndim == 3 else colour > level
    if invert:
        hole = ~hole
    return np.ascontiguousarray(hole, dtype=bool)
