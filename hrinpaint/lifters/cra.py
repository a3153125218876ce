"""Contextual residual aggregation (Yi et al. 2020, "HiFill"), training-free and usable with any filler.

The fill at the working resolution carries the low frequencies: ``up = bilinear(fill, (H, W))``. What the
working resolution cannot hold lives in the *residual* of the known context,
``image - bilinear(area_downsample(image))``. Each hole cell of a grid over the working image borrows the
residual of the context cells it resembles, and the result is ``up + aggregated residual`` in the hole.

Where the attention comes from, in order of preference:

- an :class:`~hrinpaint.fillers.attention.OffsetField` in ``FillResult.attention`` (PatchMatch): residuals move
  pixel by pixel along the field's displacements;
- a :class:`~hrinpaint.fillers.attention.CellAttention` (a network's contextual attention): its weights;
- otherwise the filled working image's own cells: similarity of their pixels, softmax with a temperature.

Residual patches move by whole-pixel translations (never resampled, so no detail is lost) and are blended with
raised-cosine windows that sum to one, so cell borders leave no seam; blending loses the contrast of independent
patches, which :class:`DetailSum` restores. The residual is computed only where it is read, and the work is a
loop over hole cells and their ``top_k`` sources: it grows with the hole, not with the region.
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
    bilinear_points,
    blend_windows,
    box_counts,
    cell_edges,
    cell_features,
    grid_shape,
    resample_rows,
    summed_area,
    top_k_softmax,
)
from hrinpaint.ops.resize import area_downsample, resize_bilinear

FEATURE_SOURCES = ("image",)
SIMILARITIES = ("distance", "cosine")

# Attention weights below this add nothing visible (a 1e-4 share of a residual is far below one 8-bit step).
_NEGLIGIBLE_WEIGHT = 1e-4
# Hole pixels handled per step of the offset-field transfer; bounds its temporaries to a few tens of MB.
_OFFSET_CHUNK_PIXELS = 1 << 18
# Pixels per band when the summed detail is added to the base (bounds the temporaries of energy matching).
_BAND_PIXELS = 1 << 21
# Blending n independent patches loses a factor sqrt(n) of contrast; a gain above this would only amplify noise
# in the local energy estimates.
_MAX_GAIN = 3.0
_CHANNEL_SUM = np.ones((1, 3), dtype=np.float32)


@dataclass(frozen=True)
class CraConfig:
    """Attributes:
    cells: cells along the long side of the working image (32 gives 16 px cells at 512); the short side gets
        as many as keep the cells square-ish.
    temperature: softmax sharpness: scores are ``temperature * similarity - proximity * distance``.
    top_k: keep the ``top_k`` best context cells per hole cell (weights renormalised); ``None`` keeps all, which
        is slow at high resolution. Applies to a filler's attention too.
    overlap: width of the blending ramp across each cell border, as a fraction of a cell, in ``(0, 1]``.
    context_margin: extra cells of distance required between a context cell and the hole, beyond the minimum
        that keeps hole-contaminated residuals out.
    feature_source: what the similarity compares; ``"image"``: the filled working image's cells.
    feature_size: each cell is area-resampled to ``feature_size x feature_size`` pixels for the similarity.
    similarity: ``"distance"``: minus the squared distance of cell descriptors (mean colour and weighted
        structure, see :func:`cell_descriptors`); ``"cosine"``: cosine of the descriptors centred on the
        context's mean, as in contextual attention.
    structure_weight: weight of a cell's structure (its pixels minus its mean) against its mean colour. High
        values keep a smooth fill from borrowing the residual of edges, which shows as embossed outlines.
    proximity: score lost per cell of distance between a hole cell and a context cell; nearby context is the
        better guess when the fill (diffusion, say) says little about texture.
    match_energy: restore the contrast that blending independent patches averages away (see :class:`DetailSum`).
    use_filler_attention: use the attention the filler returns (a PatchMatch offset field, a network's cell
        attention) when there is one; False always computes attention from the filled working image.
    chunk_size: hole cells whose similarities are computed at once (bounds memory).
    """

    cells: int = 32
    temperature: float = 10.0
    top_k: int | None = 4
    overlap: float = 0.5
    context_margin: float = 0.0
    feature_source: str = "image"
    feature_size: int = 3
    similarity: str = "distance"
    structure_weight: float = 4.0
    proximity: float = 1.0
    match_energy: bool = True
    use_filler_attention: bool = True
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
        for name in ("context_margin", "structure_weight", "proximity"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.feature_source not in FEATURE_SOURCES:
            raise ValueError(f"feature_source must be one of {FEATURE_SOURCES}, got {self.feature_source!r}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.feature_size < 1:
            raise ValueError(f"feature_size must be >= 1, got {self.feature_size}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")


class CraLifter(Lifter):
    """Bilinear upsampling of the fill plus high-frequency residuals aggregated from the context."""

    Config = CraConfig

    def __init__(self, config: CraConfig | None = None) -> None:
        self.config = config or CraConfig()

    def lift(self, image: np.ndarray, mask: np.ndarray, filled: FillResult, working_mask: np.ndarray) -> np.ndarray:
        full_shape, working_shape = image.shape[:2], working_mask.shape
        if image.ndim != 3 or image.shape[2] != 3 or mask.shape != full_shape:
            raise ValueError(f"cra expects an H x W x 3 image and an H x W mask, got {image.shape}, {mask.shape}")
        if filled.image.shape != (*working_shape, 3):
            raise ValueError(f"fill {filled.image.shape} does not match the working mask {working_shape}")
        if working_shape[0] > full_shape[0] or working_shape[1] > full_shape[1]:
            raise ValueError(f"working shape {working_shape} is larger than the region {full_shape}")
        result = resize_bilinear(filled.image, full_shape)
        if working_shape == full_shape or not mask.any():
            return np.clip(result, 0.0, 1.0, out=result)
        residual = ContextResidual(image, working_shape)
        detail = DetailSum(result, mask)
        attention = filled.attention if self.config.use_filler_attention else None
        if isinstance(attention, OffsetField):
            transfer_offsets(residual, mask, working_mask, attention, detail)
            # the field blends between working pixels, so its ramps are one working pixel wide
            radius = max(1, round(min(residual.scale) / 8))
        else:
            radius = self._aggregate(residual, mask, filled.image, working_mask, attention, detail)
        detail.finish(filled.image, radius if self.config.match_energy else None)
        return result

    def _aggregate(
        self,
        residual: ContextResidual,
        mask: np.ndarray,
        fill: np.ndarray,
        working_mask: np.ndarray,
        attention: object,
        detail: DetailSum,
    ) -> int:
        """The cell path; returns the radius over which energy matching averages (an eighth of a ramp)."""
        config = self.config
        working_shape = working_mask.shape
        if isinstance(attention, CellAttention):
            if tuple(attention.image_shape) != working_shape:
                raise ValueError(
                    f"attention covers a {attention.image_shape} image, the working image is {working_shape}"
                )
            shape = (int(attention.grid_shape[0]), int(attention.grid_shape[1]))
        else:
            shape = grid_shape(working_shape, config.cells)
        grid = CellGrid.build(working_shape, mask.shape, shape, config.overlap)
        clean = grid.clean_cells(working_mask, config.context_margin)
        if isinstance(attention, CellAttention):
            targets, context, indices, weights = given_attention(attention, clean, config.top_k)
        else:
            targets, context = grid.target_cells(working_mask), np.flatnonzero(clean)
            if len(context) == 0 or len(targets) == 0:
                return 1
            descriptors = cell_descriptors(cell_features(fill, shape, config.feature_size), config.structure_weight)
            scores = AttentionScores(descriptors, shape, config)
            indices, weights = similarity_attention(scores, targets, context, config.top_k, config.chunk_size)
        aggregate_cells(residual, mask, grid, targets, context, indices, weights, detail)
        return grid.ramp_radius()


def contextual_residual(image: np.ndarray, working_shape: tuple[int, int]) -> np.ndarray:
    """The high frequencies that the working resolution loses: ``image - bilinear(area_downsample(image))``.

    The reference definition over a whole image; :class:`ContextResidual` computes the same values only where
    they are read. Meaningful only where the bilinear kernel saw no hole pixel (:meth:`CellGrid.clean_cells`).

    Shape:
        image: ``H x W x 3`` float32. Returns ``H x W x 3`` float32, roughly in [-1, 1].
    """
    low = resize_bilinear(area_downsample(image, working_shape), image.shape[:2])
    np.subtract(image, low, out=low)
    return low


class ContextResidual:
    """:func:`contextual_residual` of ``image``, computed on demand for a window or for scattered pixels.

    Keeps the area-downsampled image and its horizontal bilinear pass (``h x W``, small), so a window costs its
    own pixels, not the region's.
    """

    def __init__(self, image: np.ndarray, working_shape: tuple[int, int]) -> None:
        self.image = image
        self.shape = image.shape[:2]
        self.low = area_downsample(image, working_shape)
        self.wide = resize_bilinear(self.low, (working_shape[0], self.shape[1]))
        self.scale = (self.shape[0] / working_shape[0], self.shape[1] / working_shape[1])

    def window(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """The residual over rows ``[top, bottom)`` and columns ``[left, right)``: ``h x w x 3`` float32."""
        low = resample_rows(self.wide[:, left:right], self.shape[0], (top, bottom))
        return np.subtract(self.image[top:bottom, left:right], low, out=low)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The residual at pixels ``(rows, cols)`` (int arrays of one shape ``S``): ``S x 3`` float32."""
        flat_rows, flat_cols = rows.reshape(-1), cols.reshape(-1)
        values = self.image[flat_rows, flat_cols] - bilinear_points(self.low, self.shape, flat_rows, flat_cols)
        return values.reshape(*rows.shape, 3)


class DetailSum:
    """Sums the detail moved into the hole onto the base, and the energy that detail had where it came from.

    Blending independent residual patches (window ramps, soft attention) averages their detail away: two
    patches mixed half and half keep half their energy, which shows as a grid of soft lines along cell borders.
    Blending identical patches loses nothing. So :meth:`finish` can rescale the sum by
    ``sqrt(source energy / energy of the sum)``, both averaged locally: 1 where the blended patches agree, up to
    ``sqrt(n)`` where ``n`` independent ones are mixed. The result keeps the contrast of the detail it copies and
    never amplifies coherent detail (a gain > 1 on identical patches would show as bright lines instead).

    The detail is added straight into ``result`` (``result - base`` recovers it); the energy needs one float per
    pixel of the hole's bounding box.
    """

    def __init__(self, result: np.ndarray, mask: np.ndarray) -> None:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        self.top, self.bottom = int(rows[0]), int(rows[-1]) + 1
        self.left, self.right = int(cols[0]), int(cols[-1]) + 1
        self.result = result
        self.mask = mask
        self.energy = np.zeros((self.bottom - self.top, self.right - self.left), dtype=np.float32)

    def add(self, top: int, left: int, window: np.ndarray, patch: np.ndarray, energy: np.ndarray) -> None:
        """Adds ``window * patch`` and ``window * energy`` at ``(top, left)``; ``window`` is 0 off the hole."""
        bottom, right = top + window.shape[0], left + window.shape[1]
        region = self.result[top:bottom, left:right]
        region += window[:, :, None] * patch
        # the window is 0 outside the hole, so clipping to the hole's bounding box loses nothing
        clip_top, clip_left = max(top, self.top), max(left, self.left)
        clip_bottom, clip_right = min(bottom, self.bottom), min(right, self.right)
        if clip_top < clip_bottom and clip_left < clip_right:
            inner = (slice(clip_top - top, clip_bottom - top), slice(clip_left - left, clip_right - left))
            rows = slice(clip_top - self.top, clip_bottom - self.top)
            self.energy[rows, clip_left - self.left : clip_right - self.left] += window[inner] * energy[inner]

    def add_pixels(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, energy: np.ndarray) -> None:
        """Adds per-pixel detail ``(n, 3)`` and energy ``(n,)`` at distinct hole pixels ``(rows, cols)``."""
        self.result[rows, cols] += values
        self.energy[rows - self.top, cols - self.left] += energy

    def finish(self, fill: np.ndarray, radius: int | None) -> None:
        """Energy-matches the summed detail (with a ``radius``, see the class doc) and clips the hole to [0, 1].

        Args:
            fill: the working-resolution fill, whose bilinear upsampling is the base under the detail.
            radius: half-size in pixels of the box filter (applied twice) that averages the energies.
        """
        columns = slice(self.left, self.right)
        pad = 0 if radius is None else 2 * radius
        if radius is not None:
            wide_fill = resize_bilinear(fill, (fill.shape[0], self.mask.shape[1]))[:, columns]
        band_rows = max(1, _BAND_PIXELS // (self.right - self.left))
        for top in range(self.top, self.bottom, band_rows):
            bottom = min(self.bottom, top + band_rows)
            target = self.result[top:bottom, columns]
            if radius is not None:
                outer_top, outer_bottom = max(self.top, top - pad), min(self.bottom, bottom + pad)
                hole = self.mask[outer_top:outer_bottom, columns]
                base = resample_rows(wide_fill, self.mask.shape[0], (outer_top, outer_bottom))
                detail = np.where(hole[:, :, None], self.result[outer_top:outer_bottom, columns] - base, 0.0)
                size = (2 * radius + 1, 2 * radius + 1)
                summed = _smooth(_squared_norm(detail), size)
                source = _smooth(self.energy[outer_top - self.top : outer_bottom - self.top], size)
                gain = np.sqrt(np.maximum(source, 0.0) / np.maximum(summed, 1e-12))
                gain = np.where(summed > 1e-12, np.clip(gain, 1.0, _MAX_GAIN), 1.0).astype(np.float32)
                inner = slice(top - outer_top, bottom - outer_top)
                matched = base[inner] + gain[inner, :, None] * detail[inner]
                np.copyto(target, matched, where=hole[inner][:, :, None])
            np.clip(target, 0.0, 1.0, out=target)


def _squared_norm(pixels: np.ndarray) -> np.ndarray:
    """``|pixel|^2`` over the 3 channels, ``h x w`` float32 (OpenCV: about 5 times faster than ``einsum``)."""
    return cv2.transform(cv2.multiply(pixels, pixels), _CHANNEL_SUM)


def _smooth(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Two box filters (a tent), zero outside the array, so that pixels off the hole count as no energy."""
    once = cv2.blur(values, size, borderType=cv2.BORDER_CONSTANT)
    return cv2.blur(once, size, borderType=cv2.BORDER_CONSTANT)


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
    for target, sources, source_weights in zip(targets, indices, weights, strict=True):
        row, col = divmod(int(target), cols)
        top, bottom = (int(v) for v in grid.row_support[row])
        left, right = (int(v) for v in grid.col_support[col])
        hole = mask[top:bottom, left:right]
        if not hole.any():
            continue
        # Only the windows of the 3 x 3 neighbouring cells reach into this cell's box. Broadcasting, not BLAS:
        # for products this small a threaded BLAS spends more time waking threads than multiplying.
        near_rows = slice(max(0, row - 1), min(rows, row + 2))
        near_cols = slice(max(0, col - 1), min(cols, col + 2))
        col_windows = grid.col_windows[near_cols, left:right]
        near_coverage = (coverage[near_rows, near_cols][:, :, None] * col_windows[None]).sum(axis=1)
        total = (grid.row_windows[near_rows, top:bottom][:, :, None] * near_coverage[:, None, :]).sum(axis=0)
        window = np.outer(grid.row_windows[row, top:bottom], grid.col_windows[col, left:right])
        window = np.where(hole & (total > 1e-6), window / np.maximum(total, 1e-6), 0.0).astype(np.float32)
        used = [(int(s), float(w)) for s, w in zip(sources, source_weights, strict=True) if w >= _NEGLIGIBLE_WEIGHT]
        patch = np.zeros((bottom - top, right - left, 3), dtype=np.float32)
        energy = np.zeros((bottom - top, right - left), dtype=np.float32)
        for source, weight in used:
            source_row, source_col = divmod(int(context[source]), cols)
            shift_y = round(grid.row_centres[source_row] - grid.row_centres[row])
            shift_x = round(grid.col_centres[source_col] - grid.col_centres[col])
            shift_y = min(max(shift_y, -top), height - bottom)
            shift_x = min(max(shift_x, -left), width - right)
            source_patch = residual.window(top + shift_y, bottom + shift_y, left + shift_x, right + shift_x)
            cv2.scaleAdd(source_patch, weight, patch, dst=patch)
            cv2.scaleAdd(_squared_norm(source_patch), weight, energy, dst=energy)
        detail.add(top, left, window, patch, energy)


def transfer_offsets(
    residual: ContextResidual, mask: np.ndarray, working_mask: np.ndarray, field: OffsetField, detail: DetailSum
) -> None:
    """Adds to ``detail`` residuals moved along a working-resolution offset field.

    A full-resolution hole pixel ``p`` lies among 4 working pixels ``q``; each brings ``k`` sources with
    weights. Source ``s`` of ``q`` moves ``p`` by ``round((s - q) * scale)`` full-resolution pixels (so ``p``
    keeps its place inside the working pixel) and the residual there is taken; the 4 neighbours are blended
    bilinearly, so the detail changes smoothly where the field does. Sources outside the image or on
    hole-contaminated residual (within one working pixel of the working hole) are dropped and the rest
    renormalised; a pixel left with none gets no detail.

    Shape:
        mask ``H x W``; working_mask ``h x w``; ``field.sources`` ``(h, w, k, 2)``.
    """
    working_shape = working_mask.shape
    if field.sources.shape[:2] != working_shape:
        raise ValueError(f"offset field {field.sources.shape[:2]} does not match the working image {working_shape}")
    height, width = mask.shape
    scale_y, scale_x = residual.scale
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
        total = np.zeros(hole_y.size, dtype=np.float32)
        aggregated = np.zeros((hole_y.size, 3), dtype=np.float32)
        energy = np.zeros(hole_y.size, dtype=np.float32)
        for near_y, weight_y in _bilinear_neighbours(hole_y, scale_y, working_shape[0]):
            for near_x, weight_x in _bilinear_neighbours(hole_x, scale_x, working_shape[1]):
                source = sources[near_y, near_x]  # (n, k, 2)
                shift_y = np.rint((source[..., 0] - near_y[:, None]) * scale_y).astype(np.int64)
                shift_x = np.rint((source[..., 1] - near_x[:, None]) * scale_x).astype(np.int64)
                target_y, target_x = hole_y[:, None] + shift_y, hole_x[:, None] + shift_x
                inside = (target_y >= 0) & (target_y < height) & (target_x >= 0) & (target_x < width)
                target_y, target_x = np.where(inside, target_y, 0), np.where(inside, target_x, 0)
                working_y = np.minimum(((target_y + 0.5) / scale_y).astype(np.int64), working_shape[0] - 1)
                working_x = np.minimum(((target_x + 0.5) / scale_x).astype(np.int64), working_shape[1] - 1)
                usable = inside & clean[working_y, working_x]
                corner = (weight_y * weight_x)[:, None] * source_weights[near_y, near_x]
                term = np.where(usable, corner, 0.0).astype(np.float32)
                samples = residual.at(target_y, target_x)
                total += term.sum(axis=1)
                aggregated += np.einsum("nk,nkc->nc", term, samples)
                energy += np.einsum("nk,nkc,nkc->n", term, samples, samples)
        covered = total > 1e-6
        scale = np.where(covered, 1.0 / np.maximum(total, 1e-6), 0.0).astype(np.float32)
        detail.add_pixels(hole_y, hole_x, aggregated * scale[:, None], energy * scale)


def _bilinear_neighbours(positions: np.ndarray, scale: float, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two working pixels around each full-resolution position along one axis, with bilinear weights."""
    coordinate = (positions + 0.5) / scale - 0.5
    lower = np.floor(coordinate).astype(np.int64)
    fraction = (coordinate - lower).astype(np.float32)
    # past the first or last centre both neighbours clip to the same border pixel, so the split does not matter
    return [(np.clip(lower, 0, size - 1), 1.0 - fraction), (np.clip(lower + 1, 0, size - 1), fraction)]
