"""Contextual residual aggregation (Yi et al. 2020, "HiFill"), training-free and usable with any filler.

The fill at the working resolution carries the low frequencies: ``up = bilinear(fill, (H, W))``. What the working
resolution cannot hold lives in the *residual* of the known context, ``image - bilinear(area_downsample(image))``.
Each hole cell of a grid over the working image borrows the residual of the context cells it resembles, and the
result is ``up + aggregated residual`` in the hole.

Where the attention comes from, in order of preference:

- a :class:`~hrinpaint.fillers.attention.OffsetField` in ``FillResult.attention`` (PatchMatch): residuals move
  pixel by pixel along the field's displacements;
- a :class:`~hrinpaint.fillers.attention.CellAttention` (a network's contextual attention): its weights;
- otherwise the filled working image's own cells: cosine similarity of their pixels, softmax with a temperature.

Residual patches are moved by whole-pixel translations (never resampled, so no detail is lost) and blended with
raised-cosine windows that sum to one, so cell borders leave no seam. The work is a loop over hole cells and their
``top_k`` sources: it grows with the hole, not with the region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import FillResult
from hrinpaint.lifters.base import Lifter
from hrinpaint.ops.patches import (
    blend_windows,
    box_counts,
    cell_edges,
    cell_features,
    grid_shape,
    summed_area,
    top_k_softmax,
)
from hrinpaint.ops.resize import area_downsample, resize_bilinear

FEATURE_SOURCES = ("image",)

# Attention weights below this add nothing visible (a 1e-4 share of a residual is far below one 8-bit step).
_NEGLIGIBLE_WEIGHT = 1e-4
# Hole pixels handled per step of the offset-field transfer; bounds its temporaries to a few tens of MB.
_OFFSET_CHUNK_PIXELS = 1 << 18


@dataclass(frozen=True)
class CraConfig:
    """Attributes:
    cells: cells along the long side of the working image (32 gives 16 px cells at 512); the short side gets
        as many as keep the cells square-ish.
    temperature: softmax sharpness applied to cosine similarities (scores are ``temperature * cosine``).
    top_k: keep only the ``top_k`` strongest context cells per hole cell (renormalised); ``None`` keeps all,
        which is slow at high resolution and blurs the detail it averages.
    overlap: width of the blending ramp across each cell border, as a fraction of a cell, in ``(0, 1]``.
    context_margin: extra cells of distance required between a context cell and the hole, beyond the minimum
        that keeps hole-contaminated residuals out.
    feature_source: what the similarity compares; ``"image"``: the filled working image's cell pixels.
    feature_size: each cell is area-resampled to ``feature_size x feature_size`` pixels for the similarity.
    chunk_size: hole cells whose similarities are computed at once (bounds memory).
    """

    cells: int = 32
    temperature: float = 10.0
    top_k: int | None = 4
    overlap: float = 0.5
    context_margin: float = 0.0
    feature_source: str = "image"
    feature_size: int = 3
    chunk_size: int = 256

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError(f"cells must be >= 1, got {self.cells}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k}")
        if not 0.0 < self.overlap <= 1.0:
            raise ValueError(f"overlap must be in (0, 1], got {self.overlap}")
        if not (math.isfinite(self.context_margin) and self.context_margin >= 0):
            raise ValueError(f"context_margin must be >= 0, got {self.context_margin}")
        if self.feature_source not in FEATURE_SOURCES:
            raise ValueError(f"feature_source must be one of {FEATURE_SOURCES}, got {self.feature_source!r}")
        if self.feature_size < 1:
            raise ValueError(f"feature_size must be >= 1, got {self.feature_size}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")


class CraLifter(Lifter):
    """Bilinear upsampling of the fill plus high-frequency residuals aggregated from the context."""

    Config = CraConfig

    def __init__(self, config: CraConfig | None = None) -> None:
        self.config = config or CraConfig()

    def lift(
        self, image: np.ndarray, mask: np.ndarray, filled: FillResult, working_mask: np.ndarray
    ) -> np.ndarray:
        full_shape, working_shape = image.shape[:2], working_mask.shape
        if image.ndim != 3 or image.shape[2] != 3 or mask.shape != full_shape:
            raise ValueError(
                f"cra expects an H x W x 3 image and an H x W mask, got {image.shape} and {mask.shape}"
            )
        if filled.image.shape != (*working_shape, 3):
            raise ValueError(f"fill {filled.image.shape} does not match the working mask {working_shape}")
        if working_shape[0] > full_shape[0] or working_shape[1] > full_shape[1]:
            raise ValueError(f"working shape {working_shape} is larger than the region {full_shape}")
        result = resize_bilinear(filled.image, full_shape)
        if working_shape == full_shape or not mask.any():
            return np.clip(result, 0.0, 1.0, out=result)
        residual = contextual_residual(image, working_shape)
        attention = filled.attention
        if isinstance(attention, OffsetField):
            transfer_offsets(residual, mask, working_mask, attention, result)
        else:
            self._aggregate(residual, mask, filled.image, working_mask, attention, result)
        return np.clip(result, 0.0, 1.0, out=result)

    def _aggregate(
        self,
        residual: np.ndarray,
        mask: np.ndarray,
        fill: np.ndarray,
        working_mask: np.ndarray,
        attention: object,
        result: np.ndarray,
    ) -> None:
        config = self.config
        working_shape = working_mask.shape
        if isinstance(attention, CellAttention):
            if tuple(attention.image_shape) != working_shape:
                raise ValueError(
                    f"attention covers a {attention.image_shape} image, the working image is {working_shape}"
                )
            grid = CellGrid.build(working_shape, mask.shape, tuple(attention.grid_shape), config.overlap)
        else:
            grid = CellGrid.build(
                working_shape, mask.shape, grid_shape(working_shape, config.cells), config.overlap
            )
        clean = grid.clean_cells(working_mask, config.context_margin)
        if isinstance(attention, CellAttention):
            targets, context, indices, weights = given_attention(attention, clean, config.top_k)
        else:
            targets = grid.target_cells(working_mask)
            context = np.flatnonzero(clean)
            if len(context) == 0 or len(targets) == 0:
                return
            features = cell_features(fill, grid.row_edges, grid.col_edges, config.feature_size)
            indices, weights = similarity_attention(
                features, targets, context, config.temperature, config.top_k, config.chunk_size
            )
        aggregate_cells(residual, mask, grid, targets, context, indices, weights, result)


def contextual_residual(image: np.ndarray, working_shape: tuple[int, int]) -> np.ndarray:
    """The high frequencies that the working resolution loses: ``image - bilinear(area_downsample(image))``.

    Only meaningful where the downsampled pixels under the bilinear kernel saw no hole pixel (see
    :meth:`CellGrid.clean_cells`); near the hole the zeroed hole pixels leak in.

    Shape:
        image: ``H x W x 3`` float32. Returns ``H x W x 3`` float32, roughly in [-1, 1].
    """
    low = resize_bilinear(area_downsample(image, working_shape), image.shape[:2])
    np.subtract(image, low, out=low)
    return low


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

    def _cell_boxes(self, margins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        top, bottom, left, right = margins
        return np.stack(
            np.broadcast_arrays(top[:, None], left[None, :], bottom[:, None], right[None, :]), axis=0
        ).reshape(4, -1)

    def clean_cells(self, working_mask: np.ndarray, context_margin: float) -> np.ndarray:
        """Flat bool ``(rows * cols,)``: cells whose residual can be read without touching the hole.

        A context cell is read over its window (the cell plus half the blending ramp), shifted by up to that much
        again where a read is clamped inside the image, and each full-resolution residual pixel depends on the
        2 x 2 working pixels under the bilinear kernel; so the cell grown by ``2 * ramp + 1`` working pixels,
        plus ``context_margin`` cells, must hold no hole pixel.
        """
        cell = float(max(np.diff(self.row_edges).max(), np.diff(self.col_edges).max()))
        margin = math.ceil(self.overlap * cell) + 2 + math.ceil(context_margin * cell)
        top, left, bottom, right = self._cell_boxes(
            (
                self.row_edges[:-1] - margin,
                self.row_edges[1:] + margin,
                self.col_edges[:-1] - margin,
                self.col_edges[1:] + margin,
            )
        )
        return box_counts(summed_area(working_mask), top, left, bottom, right) == 0

    def target_cells(self, working_mask: np.ndarray) -> np.ndarray:
        """Flat indices of the cells whose window may cover a hole pixel (a superset, found at working size)."""
        rows = self.row_support.astype(np.float64) / self.scale[0]
        cols = self.col_support.astype(np.float64) / self.scale[1]
        top, left, bottom, right = self._cell_boxes(
            (
                np.floor(rows[:, 0]).astype(np.int64) - 1,
                np.ceil(rows[:, 1]).astype(np.int64) + 1,
                np.floor(cols[:, 0]).astype(np.int64) - 1,
                np.ceil(cols[:, 1]).astype(np.int64) + 1,
            )
        )
        return np.flatnonzero(box_counts(summed_area(working_mask), top, left, bottom, right) > 0)


def similarity_attention(
    features: np.ndarray,
    targets: np.ndarray,
    context: np.ndarray,
    temperature: float,
    top_k: int | None,
    chunk_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention of hole cells over context cells: softmax of ``temperature * cosine`` of their features.

    Features are centred on the context's mean first, so that cosine compares how cells differ from their
    surroundings (colour and structure) rather than being near 1 for any two positive pixel vectors.

    Shape:
        features: ``(cells, F)``; targets ``(n,)`` and context ``(m,)`` flat cell indices, ``m >= 1``.
        Returns ``indices`` ``(n, k)`` into ``context`` and ``weights`` ``(n, k)`` (rows sum to 1).
    """
    features = features - features[context].mean(axis=0)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    features = features / np.maximum(norms, 1e-6)
    context_features = features[context].T
    keep = len(context) if top_k is None else min(top_k, len(context))
    indices = np.empty((len(targets), keep), dtype=np.int64)
    weights = np.empty((len(targets), keep), dtype=np.float32)
    for start in range(0, len(targets), chunk_size):
        chunk = slice(start, start + chunk_size)
        scores = temperature * (features[targets[chunk]] @ context_features)
        indices[chunk], weights[chunk] = top_k_softmax(scores, top_k)
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
    residual: np.ndarray,
    mask: np.ndarray,
    grid: CellGrid,
    targets: np.ndarray,
    context: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    result: np.ndarray,
) -> None:
    """Adds to ``result``'s hole pixels the residuals of the context cells each hole cell attends to.

    Hole cell ``j`` gets ``sum_i weights[j, i] * residual`` read over ``j``'s window translated by the whole-pixel
    offset from ``j``'s centre to the centre of ``context[indices[j, i]]``; windows are normalised by the summed
    windows of all target cells, so every hole pixel covered by any target gets weights summing to 1.

    Shape:
        residual, result: ``H x W x 3`` float32; mask ``H x W`` bool; targets ``(n,)``; context ``(m,)``;
        indices, weights ``(n, k)``.
    """
    height, width = mask.shape
    rows, cols = grid.shape
    coverage = np.zeros((rows, cols), dtype=np.float32)
    coverage.flat[targets] = 1.0
    for target, sources, source_weights in zip(targets, indices, weights, strict=True):
        row, col = divmod(int(target), cols)
        top, bottom = (int(v) for v in grid.row_support[row])
        left, right = (int(v) for v in grid.col_support[col])
        hole = mask[top:bottom, left:right]
        if not hole.any():
            continue
        row_windows, col_windows = grid.row_windows[:, top:bottom], grid.col_windows[:, left:right]
        total = row_windows.T @ coverage @ col_windows
        window = np.outer(row_windows[row], col_windows[col])
        window = np.where(hole & (total > 1e-6), window / np.maximum(total, 1e-6), 0.0).astype(np.float32)
        patch = np.zeros((bottom - top, right - left, 3), dtype=np.float32)
        for source, weight in zip(sources, source_weights, strict=True):
            if weight < _NEGLIGIBLE_WEIGHT:
                continue
            source_row, source_col = divmod(int(context[source]), cols)
            shift_y = round(grid.row_centres[source_row] - grid.row_centres[row])
            shift_x = round(grid.col_centres[source_col] - grid.col_centres[col])
            shift_y = min(max(shift_y, -top), height - bottom)
            shift_x = min(max(shift_x, -left), width - right)
            source_patch = residual[top + shift_y : bottom + shift_y, left + shift_x : right + shift_x]
            cv2.scaleAdd(source_patch, float(weight), patch, dst=patch)
        region = result[top:bottom, left:right]
        region += window[:, :, None] * patch


def transfer_offsets(
    residual: np.ndarray, mask: np.ndarray, working_mask: np.ndarray, field: OffsetField, result: np.ndarray
) -> None:
    """Adds to ``result``'s hole pixels residuals moved along a working-resolution offset field.

    A full-resolution hole pixel ``p`` lies among 4 working pixels ``q``; each brings ``k`` sources with weights.
    Source ``s`` of ``q`` moves ``p`` by ``round((s - q) * scale)`` full-resolution pixels (so ``p`` keeps its
    sub-cell offset), and the residual there is taken; the 4 neighbours are blended bilinearly, so the detail
    changes smoothly where the field does. Sources outside the image or on hole-contaminated residual (within one
    working pixel of the working hole) are dropped and the rest renormalised; a pixel with none keeps zero.

    Shape:
        residual, result: ``H x W x 3`` float32; mask ``H x W``; working_mask ``h x w``;
        ``field.sources`` ``(h, w, k, 2)``.
    """
    working_shape = working_mask.shape
    if field.sources.shape[:2] != working_shape:
        raise ValueError(
            f"offset field {field.sources.shape[:2]} does not match the working image {working_shape}"
        )
    height, width = mask.shape
    scale_y, scale_x = height / working_shape[0], width / working_shape[1]
    # A residual pixel is clean when no working hole pixel is under its bilinear kernel.
    clean = cv2.dilate(working_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    sources = field.sources.astype(np.int64)
    source_weights = field.weights.astype(np.float32)
    band_rows = max(1, _OFFSET_CHUNK_PIXELS // width)
    for band_top in range(0, height, band_rows):
        hole_y, hole_x = np.nonzero(mask[band_top : band_top + band_rows])
        if hole_y.size == 0:
            continue
        hole_y += band_top
        neighbours_y = _bilinear_neighbours(hole_y, scale_y, working_shape[0])
        neighbours_x = _bilinear_neighbours(hole_x, scale_x, working_shape[1])
        total = np.zeros(hole_y.size, dtype=np.float32)
        aggregated = np.zeros((hole_y.size, 3), dtype=np.float32)
        for near_y, weight_y in neighbours_y:
            for near_x, weight_x in neighbours_x:
                corner = (weight_y * weight_x)[:, None]
                source = sources[near_y, near_x]  # (n, k, 2)
                target_y = hole_y[:, None] + np.rint((source[..., 0] - near_y[:, None]) * scale_y).astype(
                    np.int64
                )
                target_x = hole_x[:, None] + np.rint((source[..., 1] - near_x[:, None]) * scale_x).astype(
                    np.int64
                )
                inside = (target_y >= 0) & (target_y < height) & (target_x >= 0) & (target_x < width)
                target_y, target_x = np.where(inside, target_y, 0), np.where(inside, target_x, 0)
                working_y = np.minimum(((target_y + 0.5) / scale_y).astype(np.int64), working_shape[0] - 1)
                working_x = np.minimum(((target_x + 0.5) / scale_x).astype(np.int64), working_shape[1] - 1)
                usable = inside & clean[working_y, working_x]
                term = np.where(usable, corner * source_weights[near_y, near_x], 0.0).astype(np.float32)
                total += term.sum(axis=1)
                aggregated += np.einsum("nk,nkc->nc", term, residual[target_y, target_x])
        covered = total > 1e-6
        aggregated[covered] /= total[covered, None]
        aggregated[~covered] = 0.0
        result[hole_y, hole_x] += aggregated


def _bilinear_neighbours(
    positions: np.ndarray, scale: float, size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two working pixels around each full-resolution position along one axis, with bilinear weights."""
    coordinate = (positions + 0.5) / scale - 0.5
    lower = np.floor(coordinate).astype(np.int64)
    fraction = (coordinate - lower).astype(np.float32)
    # past the first or last centre both neighbours clip to the same border pixel, so the split does not matter
    return [(np.clip(lower, 0, size - 1), 1.0 - fraction), (np.clip(lower + 1, 0, size - 1), fraction)]
