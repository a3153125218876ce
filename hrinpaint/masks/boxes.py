"""Rectangular holes: LaMa's random rectangles, the centred square and one large box.

Each generator is a frozen config plus a pure function ``(shape, rng, config) -> bool H x W``. Sizes are
given at a reference resolution or as fractions of the image, so a mask looks the same at any resolution,
only enlarged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hrinpaint.errors import InpaintError


@dataclass(frozen=True)
class RandomBoxes:
    """LaMa's random rectangles (``make_random_rectangle_mask``), sizes in pixels at ``reference_size``.

    Width and height are drawn independently from ``[min_size, max_size]``; every box lies at least ``margin``
    from the border.

    Attributes:
        min_boxes: fewest boxes.
        max_boxes: most boxes, inclusive.
        min_size: shortest box side, reference pixels.
        max_size: longest box side, reference pixels.
        margin: distance kept from the image border, reference pixels.
        reference_size: short side, in pixels, at which the sizes above hold.
    """

    min_boxes: int
    max_boxes: int
    min_size: float
    max_size: float
    margin: float = 0.0
    reference_size: int = 512

    def __post_init__(self) -> None:
        if not 1 <= self.min_boxes <= self.max_boxes:
            raise InpaintError(f"box counts need 1 <= min <= max; got {self.min_boxes}..{self.max_boxes}")
        if not 0 <= self.min_size <= self.max_size or self.margin < 0 or self.reference_size < 1:
            raise InpaintError("box sizes need 0 <= min <= max, margin >= 0 and reference_size > 0")

    def scaled(self, factor: float) -> RandomBoxes:
        """The same boxes with both side limits multiplied by ``factor`` (margin and counts unchanged)."""
        return replace(self, min_size=self.min_size * factor, max_size=self.max_size * factor)


def random_boxes(shape: tuple[int, int], rng: np.random.Generator, config: RandomBoxes) -> np.ndarray:
    """Draws LaMa random rectangles.

    Args:
        shape: ``(H, W)`` of the mask.
        rng: the only source of randomness.
        config: box parameters at the reference resolution.

    Returns:
        bool ``H x W``, True = hole.
    """
    height, width = shape
    scale = min(height, width) / config.reference_size
    # An image too small for the margin gets none, rather than no room for a box.
    margin = config.margin * scale if min(height, width) - 2 * config.margin * scale >= 1 else 0.0
    room = min(height, width) - 2 * margin
    # As in LaMa, the largest box is capped by the room inside the margins.
    max_size = min(config.max_size * scale, room)
    min_size = min(config.min_size * scale, max_size)
    hole = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(config.min_boxes, config.max_boxes, endpoint=True))):
        box_height = max(1, round(rng.uniform(min_size, max_size)))
        box_width = max(1, round(rng.uniform(min_size, max_size)))
        top = round(rng.uniform(margin, height - margin - box_height))
        left = round(rng.uniform(margin, width - margin - box_width))
        hole[top : top + box_height, left : left + box_width] = True
    return hole


@dataclass(frozen=True)
class CenterSquare:
    """A square in the middle of the image, the classic fixed evaluation hole.

    Attributes:
        side_fraction: side as a fraction of the short side (0.5 covers 25% of a square image).
    """

    side_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.side_fraction <= 0:
            raise InpaintError(f"side_fraction must be positive, got {self.side_fraction}")

    def scaled(self, factor: float) -> CenterSquare:
        """A square whose side is ``factor`` times as long."""
        return replace(self, side_fraction=self.side_fraction * factor)


def center_square(shape: tuple[int, int], rng: np.random.Generator, config: CenterSquare) -> np.ndarray:
    """Draws the centred square; ``rng`` is unused (the hole is fixed) but kept for one generator signature.

    The side is ``round(side_fraction * min(H, W))``, at least 1 and at most the short side; the top-left
    corner is ``((H - side) // 2, (W - side) // 2)``, so the square is exactly centred whenever the parities
    allow (otherwise the extra pixel of margin goes below and to the right).

    Returns:
        bool ``H x W``, True = hole.
    """
    del rng
    height, width = shape
    side = min(max(1, round(config.side_fraction * min(height, width))), min(height, width))
    top, left = (height - side) // 2, (width - side) // 2
    hole = np.zeros((height, width), bool)
    hole[top : top + side, left : left + side] = True
    return hole


@dataclass(frozen=True)
class LargeBox:
    """One axis-aligned box of a set share of the image area at a random position, fully inside.

    Attributes:
        area_fraction: box area over image area (capped at 1 when drawn).
        min_aspect: narrowest box, width over height.
        max_aspect: widest box, width over height.
    """

    area_fraction: float = 0.25
    min_aspect: float = 0.5
    max_aspect: float = 2.0

    def __post_init__(self) -> None:
        if self.area_fraction <= 0 or not 0 < self.min_aspect <= self.max_aspect:
            raise InpaintError("LargeBox needs area_fraction > 0 and 0 < min_aspect <= max_aspect")

    def scaled(self, factor: float) -> LargeBox:
        """A box whose sides are ``factor`` times as long (so its area is ``factor ** 2`` times as large)."""
        return replace(self, area_fraction=self.area_fraction * factor**2)


def large_box(shape: tuple[int, int], rng: np.random.Generator, config: LargeBox) -> np.ndarray:
    """Draws one large box.

    The aspect ratio is log-uniform in ``[min_aspect, max_aspect]`` (so 1:2 and 2:1 are equally likely). Where
    the image is too narrow for that aspect, the box is clamped to the image and the other side grows to keep
    the area.

    Returns:
        bool ``H x W``, True = hole.
    """
    height, width = shape
    area = min(config.area_fraction, 1.0) * height * width
    aspect = math.exp(rng.uniform(math.log(config.min_aspect), math.log(config.max_aspect)))
    # Width between area / H (the box then spans the full height) and W keeps both sides inside the image.
    box_width = min(max(math.sqrt(area * aspect), area / height), width)
    box_height = area / box_width
    box_width = min(max(1, round(box_width)), width)
    box_height = min(max(1, round(box_height)), height)
    top = round(rng.uniform(0, height - box_height))
    left = round(rng.uniform(0, width - box_width))
    hole = np.zeros((height, width), bool)
    hole[top : top + box_height, left : left + box_width] = True
    return hole
