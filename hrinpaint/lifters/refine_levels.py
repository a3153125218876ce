"""Level planning of the ``refine`` lifter: how many pyramid levels a region gets, and their shapes."""

from __future__ import annotations

import math


def pyramid_shapes(
    full: tuple[int, int], coarsest_side: int, max_scales: int, pixel_budget: int, min_side: int = 0
) -> list[tuple[int, int]]:
    """The levels' ``(height, width)``, coarsest first.

    The finest is ``full``, shrunk (aspect kept) to at most ``pixel_budget`` pixels; each coarser one halves it
    (rounding up). There are as many as bring the long side to ``coarsest_side`` or below (in powers of two): two
    or more for any ``full`` above it; with ``min_side``, the official count instead, ``1 + round(log2(short side
    / min_side))``. At least one, at most ``max_scales``.
    """
    height, width = full
    if height * width > pixel_budget:
        ratio = math.sqrt(pixel_budget / (height * width))
        height, width = max(1, math.floor(height * ratio)), max(1, math.floor(width * ratio))
    if min_side:
        scales = 1 + max(0, round(math.log2(min(height, width) / min_side)))
    else:
        scales = 1 + max(0, math.ceil(math.log2(max(height, width) / max(1, coarsest_side)) - 1e-9))
    shapes = [(height, width)]
    for _ in range(min(scales, max_scales) - 1):
        height, width = shapes[-1]
        shapes.append(((height + 1) // 2, (width + 1) // 2))
    return shapes[::-1]
