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

    def union(self, other: Box) -> Box:
        return Box(
            min(self.top, other.top),
            min(self.left, other.left),
            max(self.bottom, other.bottom),
            max(self.right, other.right),
        )


def connected_boxes(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the 8-connected True components of ``mask``, in raster order of their labels."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for label in range(1, count):
        left, top, width, height = (int(value) for value in stats[label, :4])
        boxes.append(Box(top, left, top + height, left + width))
    return boxes


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
