"""Seeded, resolution-independent hole generators for training and evaluation.

Canonical mask: bool ``H x W``, True = hole. Every kind is drawn from sizes defined at a reference
resolution and scaled to the requested one, so a 4000 x 3000 mask looks like the 512 px one enlarged.
Kinds (see :mod:`hrinpaint.masks.kinds`): ``thin``, ``medium``, ``thick`` (LaMa's evaluation masks),
``deepfill`` (DeepFill v2 brush strokes or a box), ``center`` (centred square), ``box`` (one large box) and
``object`` (real objects' silhouettes, :mod:`hrinpaint.masks.objects`).
The progressive training schedule lives in :mod:`hrinpaint.masks.schedule`.

Entries are lazy, so importing this package does not import OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hrinpaint.registry import Registry

if TYPE_CHECKING:
    from hrinpaint.masks.kinds import MaskGenerator

__all__ = ["MASKS", "generate_mask", "mask_kinds"]

MASKS: Registry[MaskGenerator] = Registry("mask kind")
MASKS.register("thin", "hrinpaint.masks.kinds:thin", help="LaMa thin: 4-70 narrow polyline strokes")
MASKS.register("medium", "hrinpaint.masks.kinds:medium", help="LaMa medium: 4-10 wider strokes, or 1-5 boxes")
MASKS.register("thick", "hrinpaint.masks.kinds:thick", help="LaMa thick: 1-5 broad strokes, or 1-4 boxes")
MASKS.register("deepfill", "hrinpaint.masks.kinds:deepfill", help="DeepFill v2 brush strokes, or one box")
MASKS.register("center", "hrinpaint.masks.kinds:center", help="centred square, side half the short side")
MASKS.register("box", "hrinpaint.masks.kinds:box", help="one box of 25% of the area at a random position")
MASKS.register(
    "object", "hrinpaint.masks.kinds:object_", help="a real object's silhouette, 3-15% of the image, placed at random"
)


def generate_mask(kind: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Draws one mask of a registered kind, deterministic for ``(kind, shape, seed)``.

    Args:
        kind: a name from :func:`mask_kinds`.
        shape: ``(H, W)`` of the mask, positive integers.
        seed: seeds ``np.random.default_rng``.

    Returns:
        bool ``H x W``, True = hole.

    Raises:
        UnknownNameError: ``kind`` is not registered.
        InputError: ``shape`` is not two positive integers.
    """
    return MASKS.build(kind)(shape, np.random.default_rng(seed))


def mask_kinds() -> list[str]:
    """Names of the registered mask kinds, sorted."""
    return MASKS.names()
