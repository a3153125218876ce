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
loop over hole cells and their ``top_k`` sources: it grows with the hole, not with the region. Memory does too:
the region is read in its stored dtype (only the windows read are converted to float) and the lift is computed
and returned over the hole's bounding box only.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import FillResult
from hrinpaint.io import to_float
from hrinpaint.lifters.base import Lifter, checked_box
from hrinpaint.ops.patches import (
    bilinear_columns,
    bilinear_points,
    bilinear_window,
    blend_windows,
    box_counts,
    cell_edges,
    cell_features,
    grid_shape,
    resample_rows,
    summed_area,
    top_k_softmax,
)
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.ops.resize import area_downsample, area_downsample_pixels, resize_bilinear

FEATURE_SOURCES = ("image",)
SIMILARITIES = ("distance", "cosine")

# Attention weights below this add nothing visible (a 1e-4 share of a residual is far below one 8-bit step).
_NEGLIGIBLE_WEIGHT = 1e-4
# Hole pixels handled per step of the offset-field transfer; bounds its temporaries to a few tens of MB.
_OFFSET_CHUNK_PIXELS = 1 << 18
# Pixels per band when the summed detail is added to the base: its buffers (about 40 bytes a pixel) are reused
# band after band, and a few megabytes of them are cheaper than fresh memory the size of the hole.
_BAND_PIXELS = 1 << 19
# Blending n independent patches loses a factor sqrt(n) of contrast; a gain above this would only amplify noise
# in the local energy estimates.
_MAX_GAIN = 3.0
# aggregate_cells keeps the residual of up to this many context cells, in at most this many bytes (the least
# recently read is dropped first), each grown by this many pixels: neighbouring hole cells mostly read the same
# context cells, over windows that lie within a few pixels of the context cell's own.
_KEPT_SOURCES = 32
_KEPT_BYTES = 64 << 20
_SOURCE_MARGIN = 8
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
            raise ConfigError(f"cells must be >= 1, got {self.cells}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"temperature must be a positive finite number, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1 or None, got {self.top_k}")
        if not 0.0 < self.overlap <= 1.0:
            raise ConfigError(f"overlap must be in (0, 1], got {self.overlap}")
        for name in ("context_margin", "structure_weight", "proximity"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
        if self.feature_source not in FEATURE_SOURCES:
            raise ConfigError(f"feature_source must be one of {FEATURE_SOURCES}, got {self.feature_source!r}")
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.feature_size < 1:
            raise ConfigError(f"feature_size must be >= 1, got {self.feature_size}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")


class CraLifter(Lifter):
    """Bilinear upsampling of the fill plus high-frequency residuals aggregated from the context."""

    Config = CraConfig

    def __init__(self, config: CraConfig | None = None) -> None:
        self.config = config or CraConfig()

    def lift(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filled: FillResult,
        working_mask: np.ndarray,
        box: Box | None = None,
        working_image: np.ndarray | None = None,
    ) -> np.ndarray:
        full_shape, working_shape = mask.shape, working_mask.shape
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != full_shape:
            raise ValueError(f"cra expects an H x W x 3 image and an H x W mask, got {image.shape}, {mask.shape}")
        if filled.image.shape != (*working_shape, 3):
            raise ValueError(f"fill {filled.image.shape} does not match the working mask {working_shape}")
        if working_shape[0] > full_shape[0] or working_shape[1] > full_shape[1]:
            raise ValueError(f"working shape {working_shape} is larger than the region {full_shape}")
        box = checked_box(box, mask)
        if working_shape == full_shape:
            return np.clip(filled.image[box.slices], 0.0, 1.0)
        hole = bounding_box(mask)
        if hole is None:
            return np.clip(bilinear_window(filled.image, full_shape, box), 0.0, 1.0)
        # Everything below works over the hole's bounding box, never over the whole region.
        residual = ContextResidual(image, working_shape, working_image)
        detail = DetailSum(mask, hole)
        attention = filled.attention if self.config.use_filler_attention else None
        if isinstance(attention, OffsetField):
            transfer_offsets(residual, mask, working_mask, attention, detail)
            # the field blends between working pixels, so its ramps are one working pixel wide
            radius = max(1, round(min(residual.scale) / 8))
        else:
            radius = self._aggregate(residual, mask, filled.image, working_mask, attention, detail)
        lifted = detail.finish(filled.image, radius if self.config.match_energy else None)
        if box == hole:
            return lifted
        result = np.clip(bilinear_window(filled.image, full_shape, box), 0.0, 1.0)
        result[hole.top - box.top : hole.bottom - box.top, hole.left - box.left : hole.right - box.left] = lifted
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
    own pixels, not the region's; ``image`` stays in its stored dtype and only the pixels read are converted.

    Args:
        image: ``H x W x 3`` uint8, uint16, or float in [0, 1].
        working_shape: ``(h, w)``.
        low: ``image`` area-downsampled to ``working_shape`` (float32), when the caller has it. Its working hole
            pixels may hold anything (the lifter's working image has them cleared): the residual is only read
            where the bilinear kernel sees no working hole pixel.
    """

    def __init__(self, image: np.ndarray, working_shape: tuple[int, int], low: np.ndarray | None = None) -> None:
        self.image = image
        self.shape = image.shape[:2]
        if low is None:
            low = area_downsample_pixels(image, working_shape)
        elif low.shape != (*working_shape, 3):
            raise ValueError(f"the working image {low.shape} does not match the working shape {working_shape}")
        self.low = low
        self.wide = resize_bilinear(self.low, (working_shape[0], self.shape[1]))
        self.scale = (self.shape[0] / working_shape[0], self.shape[1] / working_shape[1])
        self._buffers = Buffers()

    def window(self, top: int, bottom: int, left: int, right: int, out: np.ndarray | None = None) -> np.ndarray:
        """The residual over rows ``[top, bottom)`` and columns ``[left, right)``: ``h x w x 3`` float32.

        ``out`` (``h x w x 3`` float32), when given, receives the residual and is returned.
        """
        low = resample_rows(self.wide[:, left:right], self.shape[0], (top, bottom), out=out)
        pixels = self.image[top:bottom, left:right]
        return np.subtract(to_float(pixels, out=self._buffers.get("pixels", pixels.shape)), low, out=low)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The residual at pixels ``(rows, cols)`` (int arrays of one shape ``S``): ``S x 3`` float32."""
        flat_rows, flat_cols = rows.reshape(-1), cols.reshape(-1)
        low = bilinear_points(self.low, self.shape, flat_rows, flat_cols)
        values = np.subtract(to_float(self.image[flat_rows, flat_cols]), low, out=low)
        return values.reshape(*rows.shape, 3)


class DetailSum:
    """Sums the detail moved into the hole onto the base, and the energy that detail had where it came from.

    Blending independent residual patches (window ramps, soft attention) averages their detail away: two
    patches mixed half and half keep half their energy, which shows as a grid of soft lines along cell borders.
    Blending identical patches loses nothing. So :meth:`finish` can rescale the sum by
    ``sqrt(source energy / energy of the sum)``, both averaged locally: 1 where the blended patches agree, up to
    ``sqrt(n)`` where ``n`` independent ones are mixed. The result keeps the contrast of the detail it copies and
    never amplifies coherent detail (a gain > 1 on identical patches would show as bright lines instead).

    The detail and its energy are summed over the hole's bounding box only (four floats a pixel), and the base
    is computed band by band when the sum is finished: nothing here grows with the region around the hole.
    """

    def __init__(self, mask: np.ndarray, box: Box) -> None:
        self.mask = mask
        self.box = box
        self.detail = np.zeros((*box.shape, 3), dtype=np.float32)
        self.energy = np.zeros(box.shape, dtype=np.float32)
        self._buffers = Buffers()

    def add(self, top: int, left: int, window: np.ndarray, patch: np.ndarray, energy: np.ndarray) -> None:
        """Adds ``window * patch`` and ``window * energy`` at ``(top, left)``; ``window`` is 0 off the hole.

        ``patch`` and ``energy`` are scaled by ``window`` in place (the caller's buffers, reused per cell).
        """
        box = self.box
        # the window is 0 outside the hole, so clipping to the hole's bounding box loses nothing
        clip_top, clip_left = max(top, box.top), max(left, box.left)
        clip_bottom = min(top + window.shape[0], box.bottom)
        clip_right = min(left + window.shape[1], box.right)
        if clip_top >= clip_bottom or clip_left >= clip_right:
            return
        inner = (slice(clip_top - top, clip_bottom - top), slice(clip_left - left, clip_right - left))
        target = (slice(clip_top - box.top, clip_bottom - box.top), slice(clip_left - box.left, clip_right - box.left))
        weights = window[inner]
        patch, energy = patch[inner], energy[inner]
        scale_channels(patch, weights, self._buffers)
        energy *= weights
        self.detail[target] += patch
        self.energy[target] += energy

    def add_pixels(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, energy: np.ndarray) -> None:
        """Adds per-pixel detail ``(n, 3)`` and energy ``(n,)`` at distinct hole pixels ``(rows, cols)``."""
        self.detail[rows - self.box.top, cols - self.box.left] += values
        self.energy[rows - self.box.top, cols - self.box.left] += energy

    def finish(self, fill: np.ndarray, radius: int | None) -> np.ndarray:
        """The base plus the energy-matched detail (with a ``radius``, see the class doc), clipped to [0, 1].

        Args:
            fill: the working-resolution fill, whose bilinear upsampling is the base under the detail.
            radius: half-size in pixels of the box filter (applied twice) that averages the energies; ``None``
                adds the detail as it is.

        Returns:
            ``box.height x box.width x 3`` float32, written over the summed detail (which is then gone).
        """
        box, full_shape = self.box, self.mask.shape
        wide_fill = bilinear_columns(fill, full_shape[1], (box.left, box.right))
        pad = 0 if radius is None else 2 * radius
        band_rows = max(1, _BAND_PIXELS // box.width)
        buffers = Buffers()
        # A band's smoothing reads ``pad`` rows above it, which the band before has overwritten with its result
        # by then: the squared norms of their detail are carried over from before the overwrite.
        carried = 0
        for top in range(0, box.height, band_rows):
            bottom = min(box.height, top + band_rows)
            detail = self.detail[top:bottom]
            base = resample_rows(
                wide_fill, full_shape[0], (box.top + top, box.top + bottom), out=buffers.get("base", detail.shape)
            )
            if radius is not None:
                outer_top, outer_bottom = top - carried, min(box.height, bottom + pad)
                squared = buffers.get("squared", (outer_bottom - outer_top, box.width))
                if carried:
                    squared[:carried] = buffers.get("above", (carried, box.width))
                squared_norm(self.detail[top:outer_bottom], out=squared[carried:])
                carried = min(pad, bottom)
                above = squared[bottom - carried - outer_top : bottom - outer_top]
                buffers.get("above", (carried, box.width))[...] = above
                size = (2 * radius + 1, 2 * radius + 1)
                summed = _smooth(squared, size, buffers)
                gain = _smooth(self.energy[outer_top:outer_bottom], size, buffers, "source")
                # gain = sqrt(source / summed), clipped to [1, _MAX_GAIN], and 1 where there is no summed energy
                np.maximum(gain, 0.0, out=gain)
                no_energy = summed <= 1e-12
                np.maximum(summed, 1e-12, out=summed)
                np.divide(gain, summed, out=gain)
                np.sqrt(gain, out=gain)
                np.clip(gain, 1.0, _MAX_GAIN, out=gain)
                gain[no_energy] = 1.0
                scale_channels(detail, gain[top - outer_top : bottom - outer_top], buffers)
            detail += base
            np.clip(detail, 0.0, 1.0, out=detail)
        return self.detail


class Buffers:
    """Scratch arrays reused by name across the iterations of a loop.

    Temporaries of a megabyte or so, allocated afresh per cell or band, go back to the system when freed and
    are faulted in again by the next iteration; on the reference machine that costs more than the arithmetic
    on them. ``get`` hands out a float32 view of the requested shape on a buffer that only ever grows.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(size, dtype=np.float32)
        return array[:size].reshape(shape)


def squared_norm(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``|pixel|^2`` over the 3 channels, ``h x w`` float32 (OpenCV: about 5 times faster than ``einsum``).

    ``out`` (``h x w`` float32, contiguous), when given, receives the result and is returned.
    """
    squares = cv2.multiply(pixels, pixels)
    if out is None:
        return cv2.transform(squares, _CHANNEL_SUM)
    cv2.transform(squares, _CHANNEL_SUM, dst=out)
    return out


def scale_channels(pixels: np.ndarray, weights: np.ndarray, buffers: Buffers | None = None) -> None:
    """``pixels *= weights[:, :, None]`` in place, for ``h x w x 3`` float32 pixels and ``h x w`` weights.

    NumPy broadcasts the weights with an innermost loop of 3 elements, about ten times slower than OpenCV on
    the weights merged to 3 channels first.
    """
    merged = cv2.merge([weights] * 3) if buffers is None else buffers.get("merged", pixels.shape)
    if buffers is not None:
        cv2.merge([weights] * 3, dst=merged)
    cv2.multiply(pixels, merged, dst=pixels)


def _smooth(values: np.ndarray, size: tuple[int, int], buffers: Buffers, name: str = "summed") -> np.ndarray:
    """Two box filters (a tent), zero outside the array, so that pixels off the hole count as no energy.

    The result is the buffer ``name`` of ``buffers``.
    """
    once = cv2.blur(values, size, dst=buffers.get("once", values.shape), borderType=cv2.BORDER_CONSTANT)
    return cv2.blur(once, size, dst=buffers.get(name, values.shape), borderType=cv2.BORDER_CONSTANT)


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
