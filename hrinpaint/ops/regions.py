"""Connected components of a hole mask, their boxes, and merged regions of interest with context margins."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    """Half-open pixel box ``[top, bottom) x [left, right)``."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def within(self, outer: Box) -> tuple[slice, slice]:
        """This box's slices in an array that holds ``outer`` (which contains it)."""
        return (
            slice(self.top - outer.top, self.bottom - outer.top),
            slice(self.left - outer.left, self.right - outer.left),
        )

    def expand(self, margin: int, limit: tuple[int, int]) -> Box:
        """Grows by ``margin`` on every side, clipped to an image of shape ``limit``."""
        return Box(
            max(0, self.top - margin),
            max(0, self.left - margin),
            min(limit[0], self.bottom + margin),
            min(limit[1], self.right + margin),
        )

    def overlaps(self, other: Box) -> bool:
        return not (
            self.bottom <= other.top or other.bottom <= self.top or self.right <= other.left or other.right <= self.left
        )

    def contains(self, other: Box) -> bool:
        return (
            self.top <= other.top
            and self.left <= other.left
            and other.bottom <= self.bottom
            and other.right <= self.right
        )

    def intersection(self, other: Box) -> Box | None:
        """The pixels both boxes hold; None when they do not overlap."""
        if not self.overlaps(other):
            return None
        return Box(
            max(self.top, other.top),
            max(self.left, other.left),
            min(self.bottom, other.bottom),
            min(self.right, other.right),
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.top, other.top),
            min(self.left, other.left),
            max(self.bottom, other.bottom),
            max(self.right, other.right),
        )


def bounding_box(mask: np.ndarray) -> Box | None:
    """The smallest box holding every True (non-zero) pixel of a 2-D mask; ``None`` when there is none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask.any(axis=0))
    return Box(int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1)


def connected_boxes(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the 8-connected True components of ``mask``, sorted by top edge, then left edge."""
    bounds = bounding_box(mask)
    if bounds is None:
        return []
    # Label only the box around all holes, and read a bool mask as bytes in place: the label image is 4 bytes
    # a pixel, which over a whole photo costs more in fresh memory than the labelling itself.
    crop = mask[bounds.slices]
    crop = crop.view(np.uint8) if crop.dtype == np.bool_ else (crop != 0).view(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    boxes = []
    for label in range(1, count):
        left, top, width, height = (int(value) for value in stats[label, :4])
        top, left = top + bounds.top, left + bounds.left
        boxes.append(Box(top, left, top + height, left + width))
    # OpenCV numbers labels in an order of its own (2 x 2 blocks, stripes per thread) that moves with the crop
    return sorted(boxes, key=lambda box: (box.top, box.left, box.bottom, box.right))


def merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Unions boxes until no two overlap (a union can create new overlaps, so repeat to a fixed point)."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        result: list[Box] = []
        for box in merged:
            for index, existing in enumerate(result):
                if existing.overlaps(box):
                    result[index] = existing.union(box)
                    changed = True
                    break
            else:
                result.append(box)
        merged = result
    return sorted(merged, key=lambda box: (box.top, box.left))


def hole_regions(mask: np.ndarray, context: float = 1.0, min_margin: int = 32) -> list[Box]:
    """Regions of interest that cover every hole with surrounding context; overlapping regions merge.

    Each hole's box grows by ``max(min_margin, context * long side of the box)`` pixels on every side (clipped to
    the image). Because overlapping regions merge into one, every hole pixel belongs to exactly one region and
    each region sees all holes near it: no seams between separately filled pieces.

    Args:
        mask: ``H x W`` bool, True = hole.
        context: margin as a fraction of the hole box's long side.
        min_margin: smallest margin in pixels.
    """
    boxes = []
    for box in connected_boxes(mask):
        margin = max(min_margin, round(context * max(box.shape)))
        boxes.append(box.expand(margin, mask.shape))
    return merge_overlapping(boxes)
