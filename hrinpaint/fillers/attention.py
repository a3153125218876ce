"""What a filler can tell a lifter about where its fill came from.

Two forms, both in working-resolution coordinates:

- :class:`CellAttention`: a soft assignment of hole cells to context cells on a regular grid (a network's
  contextual attention, or the similarity of the filled working image's own patches);
- :class:`OffsetField`: for each working pixel, the context pixels it was copied from (a PatchMatch nearest-
  neighbour field after voting; ``k = 1`` is a hard assignment).

The ``cra`` lifter uses either to move full-resolution high-frequency residuals from the context into the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CellAttention:
    """Hole cells draw from context cells on a grid laid over the working image.

    Attributes:
        image_shape: ``(h, w)`` of the working image the grid covers.
        grid_shape: ``(rows, cols)``; cell ``(r, c)`` spans rows ``[round(r * h / rows), round((r + 1) * h / rows))``
            and the like for columns, so the grid is aligned to the image whatever its size.
        hole_cells: ``(n,)`` int64 flat indices (``r * cols + c``) of the cells that receive residuals.
        context_cells: ``(m,)`` int64 flat indices of the cells residuals are taken from.
        weights: ``(n, m)`` float32, each row sums to 1.
    """

    image_shape: tuple[int, int]
    grid_shape: tuple[int, int]
    hole_cells: np.ndarray
    context_cells: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        if self.weights.shape != (len(self.hole_cells), len(self.context_cells)):
            raise ValueError(
                f"weights {self.weights.shape} do not match {len(self.hole_cells)} hole and "
                f"{len(self.context_cells)} context cells"
            )


@dataclass(frozen=True)
class OffsetField:
    """For each working pixel, ``k`` context pixels its fill was drawn from, with weights.

    Attributes:
        sources: ``(h, w, k, 2)`` int32 ``(y, x)`` working-resolution coordinates; meaningful where the working
            mask is True (elsewhere a pixel is its own source).
        weights: ``(h, w, k)`` float32, summing to 1 over ``k``.
    """

    sources: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        if self.sources.ndim != 4 or self.sources.shape[-1] != 2 or self.weights.shape != self.sources.shape[:3]:
            raise ValueError(f"sources {self.sources.shape} and weights {self.weights.shape} do not match")
