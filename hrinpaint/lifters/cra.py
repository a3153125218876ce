"""Contextual residual aggregation (Yi et al. 2020, "HiFill"), training-free and usable with any filler.

The fill at the working resolution carries the low frequencies: ``up = bilinear(fill, (H, W))``. What the
working resolution cannot hold lives in the *residual* of the known context,
``image - bilinear(area_downsample(image))``. Each hole cell of a grid over the working image borrows the
residual of the context cells it resembles, and the result is ``up + aggregated residual`` in the hole.

What moves the residual depends on the fill's attention (``FillResult.attention``; ``CraLifter.transfer`` is the
one place that maps each kind to its transfer):

- an :class:`~hrinpaint.fillers.attention.OffsetField` in ``FillResult.attention`` (PatchMatch): residuals move
  pixel by pixel along the field's displacements;
- a :class:`~hrinpaint.fillers.attention.CellAttention` (a network's contextual attention): its weights;
- none: the filled working image's own cells, by the similarity of their pixels (softmax with a temperature).

Residual patches move by whole-pixel translations (never resampled, so no detail is lost) and are blended with
raised-cosine windows that sum to one, so cell borders leave no seam; blending loses the contrast of independent
patches, which :class:`DetailSum` restores. The residual is computed only where it is read, and the work is a
loop over hole cells and their ``top_k`` sources: it grows with the hole, not with the region. Memory does too:
the region is read in its stored dtype (only the windows read are converted to float) and the lift is computed
and returned over the hole's bounding box only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import Attention, FillResult, unknown_attention
from hrinpaint.lifters.base import TwoStepLifter, checked_box
from hrinpaint.lifters.cra_cells import (
    AttentionScores,
    CellGrid,
    SourceResiduals,
    aggregate_cells,
    cell_descriptors,
    given_attention,
    similarity_attention,
)
from hrinpaint.lifters.cra_residual import ContextResidual, DetailSum, contextual_residual, transfer_offsets
from hrinpaint.ops.buffers import Buffers, scale_channels, squared_norm
from hrinpaint.ops.patches import bilinear_window, cell_features, grid_shape
from hrinpaint.ops.regions import Box, bounding_box

# The residual transfer lives in cra_residual, the cells and their attention in cra_cells, the scratch buffers
# in ops.buffers; their names stay importable from here.
__all__ = [
    "SIMILARITIES",
    "AttentionScores",
    "Buffers",
    "CellGrid",
    "ContextResidual",
    "CraConfig",
    "CraLifter",
    "DetailSum",
    "SourceResiduals",
    "aggregate_cells",
    "cell_descriptors",
    "contextual_residual",
    "given_attention",
    "scale_channels",
    "similarity_attention",
    "squared_norm",
    "transfer_offsets",
]

SIMILARITIES = ("distance", "cosine")


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
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.feature_size < 1:
            raise ConfigError(f"feature_size must be >= 1, got {self.feature_size}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")


class CraLifter(TwoStepLifter):
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
        radius = self.transfer(residual, mask, filled.image, working_mask, attention, detail)
        lifted = detail.finish(filled.image, radius if self.config.match_energy else None)
        if box == hole:
            return lifted
        result = np.clip(bilinear_window(filled.image, full_shape, box), 0.0, 1.0)
        result[hole.within(box)] = lifted
        return result

    def transfer(
        self,
        residual: ContextResidual,
        mask: np.ndarray,
        fill: np.ndarray,
        working_mask: np.ndarray,
        attention: Attention | None,
        detail: DetailSum,
    ) -> int:
        """Moves the context's residual into the hole along ``attention`` (added to ``detail``): the one place
        that maps each kind of attention to its transfer. Returns the radius over which energy matching averages
        (an eighth of a blending ramp).

        - :class:`OffsetField`: pixel by pixel along the field's displacements;
        - :class:`CellAttention`: cell by cell with the filler's weights, on the filler's grid;
        - None: cell by cell, with weights from the similarity of the filled working image's own cells.
        """
        config = self.config
        working_shape = working_mask.shape
        match attention:
            case OffsetField():
                transfer_offsets(residual, mask, working_mask, attention, detail)
                # the field blends between working pixels, so its ramps are one working pixel wide
                return max(1, round(min(residual.scale) / 8))
            case CellAttention():
                if tuple(attention.image_shape) != working_shape:
                    raise ValueError(
                        f"attention covers a {attention.image_shape} image, the working image is {working_shape}"
                    )
                shape = (int(attention.grid_shape[0]), int(attention.grid_shape[1]))
                grid, clean = self._grid(mask, working_mask, shape)
                targets, context, indices, weights = given_attention(attention, clean, config.top_k)
            case None:
                shape = grid_shape(working_shape, config.cells)
                grid, clean = self._grid(mask, working_mask, shape)
                targets, context = grid.target_cells(working_mask), np.flatnonzero(clean)
                if len(context) == 0 or len(targets) == 0:
                    return 1
                descriptors = cell_descriptors(cell_features(fill, shape, config.feature_size), config.structure_weight)
                scores = AttentionScores(descriptors, shape, config)
                indices, weights = similarity_attention(scores, targets, context, config.top_k, config.chunk_size)
            case _:
                unknown_attention(attention)
        aggregate_cells(residual, mask, grid, targets, context, indices, weights, detail)
        return grid.ramp_radius()

    def _grid(self, mask: np.ndarray, working_mask: np.ndarray, shape: tuple[int, int]) -> tuple[CellGrid, np.ndarray]:
        """The cell grid of ``shape`` cells over the working image, and which of its cells are clean context."""
        grid = CellGrid.build(working_mask.shape, mask.shape, shape, self.config.overlap)
        return grid, grid.clean_cells(working_mask, self.config.context_margin)
