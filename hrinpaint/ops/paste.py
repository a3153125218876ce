"""Paste-back: only hole pixels of the destination ever change."""

from __future__ import annotations

import cv2
import numpy as np


def paste_hole(known: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Returns ``known`` with its hole pixels taken from ``filled``; every other pixel is bit-identical.

    Shape:
        known, filled: ``H x W x C`` (same dtype is kept: ``known``'s); mask: ``H x W`` bool, True = hole.
    """
    if known.shape != filled.shape or known.shape[:2] != mask.shape:
        raise ValueError(f"shape mismatch: known {known.shape}, filled {filled.shape}, mask {mask.shape}")
    result = known.copy()
    result[mask] = filled[mask]
    return result


def feather_weights(mask: np.ndarray, radius: float) -> np.ndarray:
    """Weight of the fill: 0 outside the hole, ramping from 1/(radius) at the hole's edge to 1 at ``radius`` inside.

    Used to blend two candidate fills (for example a region fill over a coarser one) without a hard edge; known
    pixels always get weight 0, so they stay exact.
    """
    if radius <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(inside / float(radius), 0.0, 1.0).astype(np.float32)


def feather_paste(base: np.ndarray, filled: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
    """Blends ``filled`` into ``base`` inside the hole with a ramp of ``radius`` pixels from the hole's edge.

    Outside the hole the result equals ``base`` exactly. Shape: ``H x W x C`` float32 and ``H x W`` bool.
    """
    weight = feather_weights(mask, radius)[:, :, None]
    blended = base + weight * (filled - base)
    return paste_hole(base, blended.astype(base.dtype), mask)
