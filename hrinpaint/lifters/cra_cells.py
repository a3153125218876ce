"""The cell path of :mod:`hrinpaint.lifters.cra`: a grid of cells over the working image, attention scores of
hole cells over context cells (from the fill's own cells or a filler's attention), and the aggregation of the
attended context cells' residuals into the hole."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from hrinpaint.fillers.attention import CellAttention
from hrinpaint.lifters.cra_residual import ContextResidual, DetailSum
from hrinpaint.ops.buffers import Buffers, squared_norm
from hrinpaint.ops.patches import blend_windows, box_counts, cell_edges, summed_area, top_k_softmax

if TYPE_CHECKING:
    from hrinpaint.lifters.cra import CraConfig

# Attention weights below this add nothing visible (a 1e-4 share of a residual is far below one 8-bit step).
_NEGLIGIBLE_WEIGHT = 1e-4
# aggregate_cells keeps the residual of up to this many context cells, in at most this many bytes (the least
# recently read is dropped first), each grown by this many pixels: neighbouring hole cells mostly read the same
# context cells, over windows that lie within a few pixels of the context cell's own.
_KEPT_SOURCES = 32
_KEPT_BYTES = 64 << 20
_SOURCE_MARGIN = 8


@dataclass(frozen=True)
class CellGrid:
    """A grid of cells over the working image and its blending windows at full resolution.

    Attributes:
        shape: ``(rows, cols)``.
        row_edges, col_edges: cell boundaries in working pixels (:func:`~hrinpaint.ops.patches.cell_edges`).
        scale: full-resolution pixels per working pixel, ``(H / h, W / w)``.
        row_windows, col_windows: ``(rows, H)`` and ``(cols, W)`` per-axis windows (partition of unity).
        row_support, col_support: ``(rows, 2)`` and ``(cols, 2)`` full-resolution ranges of the windows.
        row_centres, col_centres: cell centres in full-resolution pixels.
        overlap: the windows' ramp width as a fraction of a cell.
    """

    shape: tuple[int, int]
    row_edges: np.ndarray
    col_edges: np.ndarray
    scale: tuple[float, float]
    row_windows: np.ndarray
    col_windows: np.ndarray
    row_support: np.ndarray
    col_support: np.ndarray
    row_centres: np.ndarray
    col_centres: np.ndarray
    overlap: float

    @classmethod
    def build(
        cls,
        working_shape: tuple[int, int],
        full_shape: tuple[int, int],
        shape: tuple[int, int],
        overlap: float,
    ) -> CellGrid:
        rows, cols = shape
        row_edges, col_edges = cell_edges(working_shape[0], rows), cell_edges(working_shape[1], cols)
        scale = (full_shape[0] / working_shape[0], full_shape[1] / working_shape[1])
        full_rows, full_cols = row_edges * scale[0], col_edges * scale[1]
        row_windows, row_support = blend_windows(full_rows, full_shape[0], overlap)
        col_windows, col_support = blend_windows(full_cols, full_shape[1], overlap)
        return cls(
            (rows, cols),
            row_edges,
            col_edges,
            scale,
            row_windows,
            col_windows,
            row_support,
            col_support,
            0.5 * (full_rows[:-1] + full_rows[1:]),
            0.5 * (full_cols[:-1] + full_cols[1:]),
            overlap,
        )

    def ramp_radius(self) -> int:
        """An eighth of the narrowest blending ramp at full resolution, at least 1 pixel."""
        cell = min(np.diff(self.row_edges).min() * self.scale[0], np.diff(self.col_edges).min() * self.scale[1])
        return max(1, round(self.overlap * cell / 8))

    def _count_in_boxes(
        self, working_mask: np.ndarray, top: np.ndarray, bottom: np.ndarray, left: np.ndarray, right: np.ndarray
    ) -> np.ndarray:
        """Hole pixels in the box ``top[r]:bottom[r] x left[c]:right[c]`` of every cell, flat ``(rows * cols,)``."""
        boxes = np.broadcast_arrays(top[:, None], left[None, :], bottom[:, None], right[None, :])
        return box_counts(summed_area(working_mask), *(corner.reshape(-1) for corner in boxes))

    def clean_cells(self, working_mask: np.ndarray, context_margin: float) -> np.ndarray:
        """Flat bool ``(rows * cols,)``: cells whose residual can be read without touching the hole.

        A context cell is read over a window (the cell plus half a blending ramp), shifted by up to that much
        again where a read is clamped inside the image, and each residual pixel depends on the 2 x 2 working
        pixels under the bilinear kernel; so the cell grown by ``2 * ramp + 2`` working pixels, plus
        ``context_margin`` cells, must hold no hole pixel.
        """
        cell = float(max(np.diff(self.row_edges).max(), np.diff(self.col_edges).max()))
        margin = math.ceil(self.overlap * cell) + 2 + math.ceil(context_margin * cell)
        rows, cols = self.row_edges, self.col_edges
        counts = self._count_in_boxes(
            working_mask, rows[:-1] - margin, rows[1:] + margin, cols[:-1] - margin, cols[1:] + margin
        )
        return counts == 0

    def target_cells(self, working_mask: np.ndarray) -> np.ndarray:
        """Flat indices of the cells whose window may cover a hole pixel (a superset, found at working size)."""
        rows = self.row_support / self.scale[0]
        cols = self.col_support / self.scale[1]
        counts = self._count_in_boxes(
            working_mask,
            np.floor(rows[:, 0]).astype(np.int64) - 1,
            np.ceil(rows[:, 1]).astype(np.int64) + 1,
            np.floor(cols[:, 0]).astype(np.int64) - 1,
            np.ceil(cols[:, 1]).astype(np.int64) + 1,
        )
        return np.flatnonzero(counts > 0)


def cell_descriptors(features: np.ndarray, structure_weight: float) -> np.ndarray:
    """A cell's mean colour and its structure (pixels minus the mean), the structure weighted and RMS-scaled.

    The squared distance of two descriptors is ``|mean difference|^2 + structure_weight^2 * mean over pixels of
    |structure difference|^2``.

    Shape:
        features: ``(cells, pixels, C)`` from :func:`~hrinpaint.ops.patches.cell_features`.
        Returns ``(cells, C * (pixels + 1))`` float32.
    """
    cells, pixels, _ = features.shape
    mean = features.mean(axis=1)
    structure = (features - mean[:, None, :]).reshape(cells, -1) * (structure_weight / math.sqrt(pixels))
    return np.concatenate([mean, structure], axis=1).astype(np.float32)


class AttentionScores:
    """Scores of hole cells against context cells: ``temperature * similarity - proximity * distance in cells``."""

    def __init__(self, descriptors: np.ndarray, grid: tuple[int, int], config: CraConfig) -> None:
        self.temperature = config.temperature
        self.proximity = config.proximity
        self.similarity = config.similarity
        self.columns = grid[1]
        self.descriptors = descriptors

    def __call__(self, targets: np.ndarray, context: np.ndarray) -> np.ndarray:
        """``(len(targets), len(context))`` float32 scores."""
        hole, known = self.descriptors[targets], self.descriptors[context]
        if self.similarity == "cosine":
            # centred on the context's mean: raw pixel vectors are all positive, their cosines all near 1
            centre = self.descriptors[context].mean(axis=0)
            hole, known = _unit(hole - centre), _unit(known - centre)
            similarity = hole @ known.T
        else:
            squared = (hole**2).sum(axis=1)[:, None] + (known**2).sum(axis=1)[None, :] - 2.0 * (hole @ known.T)
            similarity = -np.maximum(squared, 0.0)
        scores = self.temperature * similarity
        if self.proximity:
            hole_rows, hole_cols = np.divmod(targets, self.columns)
            known_rows, known_cols = np.divmod(context, self.columns)
            distance = np.hypot(hole_rows[:, None] - known_rows[None, :], hole_cols[:, None] - known_cols[None, :])
            scores = scores - self.proximity * distance
        return scores.astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)


def similarity_attention(
    scores: AttentionScores, targets: np.ndarray, context: np.ndarray, top_k: int | None, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax attention of hole cells over context cells, keeping each hole cell's ``top_k`` best.

    Shape:
        targets ``(n,)`` and context ``(m,)`` flat cell indices, ``m >= 1``. Returns ``indices`` ``(n, k)`` into
        ``context`` and ``weights`` ``(n, k)`` float32 (rows sum to 1), best first.
    """
    keep = len(context) if top_k is None else min(top_k, len(context))
    indices = np.empty((len(targets), keep), dtype=np.int64)
    weights = np.empty((len(targets), keep), dtype=np.float32)
    for start in range(0, len(targets), chunk_size):
        chunk = slice(start, start + chunk_size)
        indices[chunk], weights[chunk] = top_k_softmax(scores(targets[chunk], context), top_k)
    return indices, weights


def given_attention(
    attention: CellAttention, clean: np.ndarray, top_k: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A filler's cell attention, restricted to context cells whose residual is clean, top-k and renormalised.

    Returns ``(targets, context, indices, weights)`` as :func:`aggregate_cells` takes them; hole cells left with
    no usable context are dropped (they get no residual).
    """
    cells = len(clean)
    hole_cells = np.asarray(attention.hole_cells, dtype=np.int64)
    context = np.asarray(attention.context_cells, dtype=np.int64)
    for name, values in (("hole", hole_cells), ("context", context)):
        if values.size and (values.min() < 0 or values.max() >= cells):
            raise ValueError(f"attention {name} cell indices must lie in [0, {cells})")
    if context.size == 0:
        empty = np.zeros((0, 0))
        return hole_cells[:0], context, empty.astype(np.int64), empty.astype(np.float32)
    weights = np.where(clean[context][None, :], np.asarray(attention.weights, dtype=np.float64), 0.0)
    weights = np.clip(weights, 0.0, None)
    keep = weights.shape[1] if top_k is None else min(top_k, weights.shape[1])
    indices = np.argsort(-weights, axis=1, kind="stable")[:, :keep]
    kept = np.take_along_axis(weights, indices, axis=1)
    totals = kept.sum(axis=1)
    usable = totals > 0
    kept = kept[usable] / totals[usable, None]
    return hole_cells[usable], context, indices[usable], kept.astype(np.float32)


def aggregate_cells(
    residual: ContextResidual,
    mask: np.ndarray,
    grid: CellGrid,
    targets: np.ndarray,
    context: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    detail: DetailSum,
) -> None:
    """Adds to ``detail`` the residuals of the context cells each hole cell attends to.

    Hole cell ``j`` gets ``sum_i weights[j, i] * residual`` read over ``j``'s window translated by the
    whole-pixel offset from ``j``'s centre to the centre of ``context[indices[j, i]]``; windows are normalised by
    the summed windows of all targets, so the weights at every hole pixel covered by a target sum to 1.

    Shape:
        mask ``H x W`` bool; targets ``(n,)``; context ``(m,)``; indices, weights ``(n, k)``.
    """
    height, width = mask.shape
    rows, cols = grid.shape
    coverage = np.zeros((rows, cols), dtype=np.float32)
    coverage.flat[targets] = 1.0
    buffers = Buffers()
    kept = SourceResiduals(residual, grid, _KEPT_SOURCES, _SOURCE_MARGIN, _KEPT_BYTES)
    for target, sources, source_weights in zip(targets, indices, weights, strict=True):
        row, col = divmod(int(target), cols)
        top, bottom = (int(v) for v in grid.row_support[row])
        left, right = (int(v) for v in grid.col_support[col])
        hole = mask[top:bottom, left:right]
        if not hole.any():
            continue
        shape = (bottom - top, right - left)
        # Only the windows of the 3 x 3 neighbouring cells reach into this cell's box. Broadcasting, not BLAS:
        # for products this small a threaded BLAS spends more time waking threads than multiplying.
        near_rows = slice(max(0, row - 1), min(rows, row + 2))
        near_cols = slice(max(0, col - 1), min(cols, col + 2))
        col_windows = grid.col_windows[near_cols, left:right]
        near_coverage = (coverage[near_rows, near_cols][:, :, None] * col_windows[None]).sum(axis=1)
        row_windows = grid.row_windows[near_rows, top:bottom]
        total, term = buffers.get("total", shape), buffers.get("term", shape)
        np.multiply(row_windows[0][:, None], near_coverage[0][None, :], out=total)
        for row_window, column_coverage in zip(row_windows[1:], near_coverage[1:], strict=True):
            total += np.multiply(row_window[:, None], column_coverage[None, :], out=term)
        window = buffers.get("window", shape)
        np.multiply(grid.row_windows[row, top:bottom][:, None], grid.col_windows[col, left:right][None, :], out=window)
        covered = hole & (total > 1e-6)
        window /= np.maximum(total, 1e-6, out=term)
        window *= covered
        used = [(int(s), float(w)) for s, w in zip(sources, source_weights, strict=True) if w >= _NEGLIGIBLE_WEIGHT]
        patch, energy = buffers.get("patch", (*shape, 3)), buffers.get("energy", shape)
        patch.fill(0.0)
        energy.fill(0.0)
        for source, weight in used:
            source_row, source_col = divmod(int(context[source]), cols)
            shift_y = round(grid.row_centres[source_row] - grid.row_centres[row])
            shift_x = round(grid.col_centres[source_col] - grid.col_centres[col])
            shift_y = min(max(shift_y, -top), height - bottom)
            shift_x = min(max(shift_x, -left), width - right)
            source_patch, squared = kept.read(
                int(context[source]), top + shift_y, bottom + shift_y, left + shift_x, right + shift_x
            )
            cv2.scaleAdd(source_patch, weight, patch, dst=patch)
            cv2.scaleAdd(squared, weight, energy, dst=energy)
        detail.add(top, left, window, patch, energy)


class _Kept(NamedTuple):
    """A kept context cell: its window (top, bottom, left, right), the residual and squared norm over it, and the
    flat buffers (``slot``) they are views of, reused when the cell is dropped."""

    bounds: tuple[int, int, int, int]
    values: np.ndarray
    squares: np.ndarray
    slot: tuple[np.ndarray, np.ndarray]


class SourceResiduals:
    """The residual and its squared norm around recently read context cells, for :func:`aggregate_cells`.

    Neighbouring hole cells mostly attend to the same context cells, and read each over a window within a few
    pixels of the context cell's own; so the residual is computed once per context cell over its window grown
    by ``margin`` and kept, for the ``capacity`` most recently read cells. A read that does not fit is computed
    on its own. Either way the values are the same: the residual at a pixel does not depend on the window.

    Args:
        residual: where the values come from.
        grid: the cell grid; a context cell's window is its blending window's support.
        capacity: context cells kept at most; fewer when their buffers would take more than ``max_bytes``.
        margin: pixels by which a kept cell's window is grown on every side.
        max_bytes: memory for the kept cells.
    """

    def __init__(self, residual: ContextResidual, grid: CellGrid, capacity: int, margin: int, max_bytes: int) -> None:
        self.residual = residual
        self.grid = grid
        self.margin = margin
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._spare: list[tuple[np.ndarray, np.ndarray]] = []
        self._buffers = Buffers()
        rows, cols = np.diff(grid.row_support, axis=1).max(), np.diff(grid.col_support, axis=1).max()
        self._slot = (int(rows) + 2 * margin) * (int(cols) + 2 * margin)
        self.capacity = max(1, min(capacity, max_bytes // (self._slot * 4 * 4)))  # 3 + 1 float32 a pixel

    def read(self, cell: int, top: int, bottom: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        """The residual ``h x w x 3`` and its squared norm ``h x w`` over rows ``[top, bottom)`` and columns
        ``[left, right)``, read from context cell ``cell`` (flat index); valid until the next read."""
        entry = self._kept.get(cell)
        if entry is None:
            entry = self._keep(cell)
        else:
            self._kept.move_to_end(cell)
        (kept_top, kept_bottom, kept_left, kept_right), values, squares, _ = entry
        if kept_top <= top and bottom <= kept_bottom and kept_left <= left and right <= kept_right:
            rows, cols = slice(top - kept_top, bottom - kept_top), slice(left - kept_left, right - kept_left)
            return values[rows, cols], squares[rows, cols]
        shape = (bottom - top, right - left)
        values = self.residual.window(top, bottom, left, right, out=self._buffers.get("values", (*shape, 3)))
        return values, squared_norm(values, out=self._buffers.get("squares", shape))

    def _keep(self, cell: int) -> _Kept:
        """Computes and keeps the residual around ``cell``, dropping the least recently read cell if full."""
        row, col = divmod(cell, self.grid.shape[1])
        height, width = self.residual.shape
        top, bottom = (int(v) for v in self.grid.row_support[row])
        left, right = (int(v) for v in self.grid.col_support[col])
        top, bottom = max(0, top - self.margin), min(height, bottom + self.margin)
        left, right = max(0, left - self.margin), min(width, right + self.margin)
        if len(self._kept) >= self.capacity:
            self._spare.append(self._kept.popitem(last=False)[1].slot)
        slot = self._spare.pop() if self._spare else self._new_slot()
        shape = (bottom - top, right - left)
        values = slot[0][: shape[0] * shape[1] * 3].reshape(*shape, 3)
        squares = slot[1][: shape[0] * shape[1]].reshape(shape)
        self.residual.window(top, bottom, left, right, out=values)
        squared_norm(values, out=squares)
        entry = _Kept((top, bottom, left, right), values, squares, slot)
        self._kept[cell] = entry
        return entry

    def _new_slot(self) -> tuple[np.ndarray, np.ndarray]:
        return np.empty(self._slot * 3, dtype=np.float32), np.empty(self._slot, dtype=np.float32)
