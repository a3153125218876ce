"""The strip-and-thread engine under :mod:`hrinpaint.eval.metrics`: a per-pixel map of one plane is computed
strip by strip of rows (with the halo a filter needs) on a few threads and reduced to its means over the plane
and over the hole, so temporaries stay a few MB each however large the image."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# Rows per strip: big enough that per-strip overhead and halo re-reads stay small (8 % for SSIM), small enough
# that each float64 temporary is a few MB at 4096 px wide.
_STRIP_ROWS = 128
# Threads for strips (see _strip_means); more than the cores only adds switching.
_WORKERS = max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class _Means:
    """One quantity averaged over the whole plane and over the hole (nan without a hole, or an empty one)."""

    whole: float
    hole: float

    def pick(self, masked: bool) -> float:
        return self.hole if masked else self.whole


def _strips(height: int, halo: int) -> list[tuple[slice, slice, slice]]:
    """Splits ``height`` rows into strips for a filter that needs ``halo`` rows of neighbours.

    Returns:
        ``(read, rows, inner)`` per strip: the rows to read (the strip and its halo, clipped to the image),
        the output rows they give, and where those lie inside the read. Filtering the read with a symmetric
        border and keeping ``inner`` equals filtering the whole plane: cut edges have real neighbours in the
        halo, and only the image's own top and bottom see the border.
    """
    strips = []
    for start in range(0, height, _STRIP_ROWS):
        stop = min(start + _STRIP_ROWS, height)
        top, bottom = max(start - halo, 0), min(stop + halo, height)
        strips.append((slice(top, bottom), slice(start, stop), slice(start - top, stop - top)))
    return strips


_StripSums = Callable[[slice, slice, slice, np.ndarray | None], np.ndarray]
"""``work(read, rows, inner, hole_rows)`` -> ``k x 2``: for each of ``k`` maps of the strip's output rows (see
:func:`_strips`), its sum and its sum over ``hole_rows`` (0 without a hole)."""


def _map_sums(maps: Sequence[np.ndarray], hole_rows: np.ndarray | None) -> np.ndarray:
    return np.array([(values.sum(), 0.0 if hole_rows is None else values[hole_rows].sum()) for values in maps])


def _strip_means(work: _StripSums, shape: tuple[int, ...], halo: int, hole: np.ndarray | None) -> list[_Means]:
    """Runs ``work`` on every strip of a plane and turns its sums into means over the plane and over the hole.

    Strips run on several threads at once: numpy, numba kernels and OpenCV release the GIL, and OpenCV's own
    threads only cover its filters, not the arithmetic around them. Partial sums are added in strip order, so
    the result does not depend on scheduling.
    """
    height, width = shape[:2]

    def strip_sums(strip: tuple[slice, slice, slice]) -> np.ndarray:
        read, rows, inner = strip
        return work(read, rows, inner, None if hole is None else hole[rows])

    strips = _strips(height, halo)
    workers = min(_WORKERS, len(strips))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            partials = list(pool.map(strip_sums, strips))
    else:
        partials = [strip_sums(strip) for strip in strips]
    totals = np.sum(partials, axis=0)
    hole_pixels = 0 if hole is None else np.count_nonzero(hole)
    return [
        _Means(whole / (height * width), hole_total / hole_pixels if hole_pixels else math.nan)
        for whole, hole_total in totals
    ]


def _float64(plane: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(plane, dtype=np.float64)
