"""Exemplar detail at every octave: the PatchMatch field carried up from the working size to full resolution.

Upsampling a working fill (``upsample``) or adding the context's finest residual along the working field
(``cra``) leaves the octaves in between without detail: at 100 % the fill is a haze with grain on top. This
lifter takes Wexler et al.'s and Barnes et al.'s coarse-to-fine scheme to full resolution instead. From the
working size up, octave by octave (each level twice the one before, the last one the region itself):

1. the level's known pixels are the region area-downsampled (a pixel any hole pixel touches is a hole); its hole
   starts from the previous level's fill enlarged;
2. the nearest-neighbour field is carried up: each patch centre takes its parent's displacement, doubled;
3. a few rounds of PatchMatch (propagation and a random search in a small window around the carried source)
   and voting refine the field and the fill at that level, so each band is copied from real context at its
   own scale rather than interpolated.

Only patch centres that overlap the hole are searched and voted, and each level works in the box that holds them
and the sources they start from, so the work grows with the hole. Three measured choices
(``docs/methods/patchmatch.md``):

- voting takes the weighted mean of the patches (``vote="mean"``): the best-matching patch per pixel
  (``vote="best"``) measured the same band energies after the restoration below but left hard seams between
  regions copied from places of different brightness (a sunset sky);
- octaves above ``search_side`` (1024 px) are lifted by ``cra``: the context's residual moved along the field
  found at the last searched level, which measured nearly as sharp as a search at full resolution in a third of
  the time;
- at the last searched level the hole's colours are solved again from the gradients their sources have, with the
  known pixels as the boundary (``colour="poisson"``, :mod:`~hrinpaint.lifters.octave_poisson`): the steps where
  neighbouring blocks were copied from places of different brightness (a sky, a reflection) are spread over the
  blocks instead of standing at their seams, and the border is met as a Poisson blend meets it, save for known
  pixels far from what the fill predicts (a remnant of the object), which count less; measured +0.58 dB of hole
  PSNR at 2048 px over the membrane correction it replaced (``colour="membrane"``: the mismatch along the border
  only, interpolated smoothly into the hole). A band-energy restoration (:func:`restore_bands`) then brings each
  octave's detail in the hole up to that of the context nearby, since matching still prefers flat sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers import _patchmatch_kernels as kernels
from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import FillResult, unknown_attention
from hrinpaint.fillers.opencv import telea_prefill
from hrinpaint.fillers.patchmatch import (
    VOTES,
    LevelSets,
    em_round,
    patch_features,
    patch_targets,
    vote_weights,
)
from hrinpaint.lifters.base import TwoStepLifter, add_correction, checked_box
from hrinpaint.lifters.cra import CraLifter
from hrinpaint.lifters.octave_bands import keep_band_energy, mix_low_band, push_pull, restore_bands
from hrinpaint.lifters.octave_poisson import poisson_fill
from hrinpaint.ops.patches import bilinear_window
from hrinpaint.ops.regions import Box
from hrinpaint.ops.resize import area_downsample_pixels, downsample_mask, resize_bilinear
from hrinpaint.pixels import to_float

__all__ = ["OctaveConfig", "OctaveLifter", "membrane", "mix_low_band", "push_pull", "restore_bands"]

COLOURS = ("none", "membrane", "poisson")


@dataclass(frozen=True)
class OctaveConfig:
    """Options of :class:`OctaveLifter`.

    Attributes:
        patch_size: side of the square patches, odd, >= 3.
        em_iterations: search-and-vote rounds at each level above the working size.
        pm_iterations: PatchMatch passes (propagation and random search) per round.
        search_radius: the random search starts this many pixels (of the level) around a patch's carried source.
        vote: how each round sets the hole's colours: ``"mean"``, the weighted mean of what its patches copy
            (Wexler et al.), or ``"best"``, what the best-matching patch covering the pixel copies (sharp where
            patches disagree).
        colour: ``"poisson"``: the last searched level's hole re-solved from its sources' gradients with the known
            pixels as the boundary (:func:`~hrinpaint.lifters.octave_poisson.poisson_fill`: no seams between
            blocks copied from places of different brightness); ``"membrane"``: only the fill's mismatch with the
            known pixels along the hole's border, interpolated smoothly into the hole and removed (the default until
            session 25); ``"none"``: no correction.
        gamma: Wexler's spatial weight, as in PatchMatch's voting.
        sigma_percentile: match quality in voting, as in PatchMatch.
        gradient_weight: weight of the lightness gradient in the patch distance (0 = Lab colour only).
        restore_gain: most amplitude gain of the band-energy restoration (see :func:`restore_bands`) in the two
            finest octaves; 1 = no restoration.
        coarse_gain: the same for the coarser octaves it restores (the ones just above the working size, which
            the working size's mean vote left flattest).
        restore_bands: how many of the finest octaves it restores.
        restore_passes: how many times the restoration measures and amplifies again (one pass falls short where
            flat and detailed parts of the fill lie close; see :func:`restore_bands`); the gains bound all passes
            together.
        restore_levels: the restoration pools the context's energy by this many levels of the fill's blurred
            luma, each hole pixel aiming at context of its own brightness (see :func:`restore_bands`); 1 = one
            pool. 4 (the default since session 29, with ``coarse_gain`` 3.8) measured +0.05 dB on 2048 px object
            holes (thick -0.01), every band in range, a cleaner sky above the horizon on ``11.jpg``, and every
            network method above it.
        restore_context: the restoration reads the context this many pixels of its coarsest octave around the
            hole's box.
        low_sigma: the fill's low band, below a Gaussian of this many full-resolution pixels, is mixed with a
            smooth estimate's (Telea's fill at the working size; :func:`mix_low_band`); 0 = no mix.
        low_weight: the exemplar fill's share of that low band; 1 (the default) = no mix. 0.5 measured 0.3 dB more
            hole PSNR but left dark halos where the exemplar fill has an edge that Telea's has not.
        low_grow: the smooth estimate reads the context from this many working pixels beyond the hole's border.
        keep_bands: with a filler's correction (a network's low band), the luma detail of this many of the finest
            octaves is kept at the energy it had before the correction (:func:`keep_band_energy`, gain at most
            ``coarse_gain``): a network changes structure, not the amount of detail; 0 = off.
        search_side: levels whose long side is larger than this are not searched: ``cra`` lifts them (the
            context's residual moved along the field of the last searched level, far cheaper than a search over
            the most pixels). The first level above the working size is always searched.
        cra_levels: how many of the finest octaves ``cra`` lifts at least; 0 searches every octave up to
            ``search_side``.
        seed: seeds the random search.
    """

    patch_size: int = 7
    em_iterations: int = 1
    pm_iterations: int = 2
    search_radius: int = 4
    vote: str = "mean"
    colour: str = "poisson"
    gamma: float = 1.3
    sigma_percentile: float = 75.0
    gradient_weight: float = 0.0
    search_side: int = 1024
    cra_levels: int = 0
    restore_gain: float = 1.5
    coarse_gain: float = 3.8
    restore_bands: int = 4
    restore_passes: int = 2
    restore_levels: int = 4
    restore_context: int = 8
    low_sigma: float = 12.0
    low_weight: float = 1.0
    low_grow: int = 0
    keep_bands: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.patch_size < 3 or self.patch_size % 2 == 0:
            raise ConfigError(f"patch_size must be odd and at least 3, got {self.patch_size}")
        if min(self.em_iterations, self.cra_levels) < 0:
            raise ConfigError("em_iterations and cra_levels must be non-negative")
        restore = (self.restore_gain, self.coarse_gain, self.restore_bands, self.restore_context, self.restore_passes)
        if min(*restore, self.restore_levels) < 1:
            raise ConfigError(
                "restore_gain, coarse_gain, restore_bands, restore_context, restore_passes and restore_levels must be"
                " at least 1"
            )
        if min(self.low_sigma, self.low_grow, self.keep_bands) < 0 or not 0 <= self.low_weight <= 1:
            raise ConfigError("low_sigma, low_grow and keep_bands must be non-negative and low_weight in [0, 1]")
        if self.pm_iterations < 1 or self.search_radius < 1 or self.search_side < 1:
            raise ConfigError("pm_iterations and search_radius must be at least 1")
        if self.vote not in VOTES:
            raise ConfigError(f"vote must be one of {VOTES}, got {self.vote!r}")
        if self.colour not in COLOURS:
            raise ConfigError(f"colour must be one of {COLOURS}, got {self.colour!r}")
        if self.gamma < 1 or not 0 < self.sigma_percentile <= 100 or self.gradient_weight < 0:
            raise ConfigError("gamma >= 1, 0 < sigma_percentile <= 100 and gradient_weight >= 0 are needed")


def level_shapes(full: tuple[int, int], working: tuple[int, int]) -> list[tuple[int, int]]:
    """The shapes of the levels above the working size, coarsest first, the last one ``full``: each level halves
    the next, down to the first one less than about 1.4 times the working size."""
    ratio = max(full[0] / working[0], full[1] / working[1])
    octaves = max(1, math.ceil(math.log2(ratio) - 0.5)) if ratio > 1 else 0
    return [(-(-full[0] // 2**level), -(-full[1] // 2**level)) for level in range(octaves - 1, -1, -1)]


def displacements(field: OffsetField, hole: np.ndarray) -> np.ndarray:
    """A displacement ``(dy, dx)`` per working pixel from a filler's offset field: a hole pixel's best source
    minus its position, and for every other pixel that of the nearest hole pixel (so that patch centres in the
    band around the hole start near where their hole neighbours copy from).

    Shape: ``field.sources`` ``(h, w, k, 2)``, hole ``h x w`` -> ``h x w x 2`` int32.
    """
    height, width = hole.shape
    positions = np.stack(np.indices((height, width), dtype=np.int32), axis=-1)
    moves = field.sources[:, :, 0, :].astype(np.int32) - positions
    _, labels = cv2.distanceTransformWithLabels(
        (~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    hole_ys, hole_xs = np.nonzero(hole)  # DIST_LABEL_PIXEL numbers the zero (hole) pixels from 1 in raster order
    nearest = labels - 1
    return moves[hole_ys[nearest], hole_xs[nearest]]


def start_displacements(filled: FillResult, hole: np.ndarray) -> np.ndarray | None:
    """Where the first level's search starts, by the kind of the fill's attention: a PatchMatch field's
    :func:`displacements`; None (a random field searched over the whole level) for a network's cell attention,
    which places cells rather than pixels, and for a fill without attention."""
    match filled.attention:
        case OffsetField() as field:
            return displacements(field, hole)
        case CellAttention() | None:
            return None
        case other:
            unknown_attention(other)


def carry_displacements(coarse: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each fine pixel takes its parent's displacement scaled by the size ratio (about 2)."""
    height, width = shape
    ratio_y, ratio_x = height / coarse.shape[0], width / coarse.shape[1]
    parent_y = np.minimum((np.arange(height) / ratio_y).astype(np.int64), coarse.shape[0] - 1)
    parent_x = np.minimum((np.arange(width) / ratio_x).astype(np.int64), coarse.shape[1] - 1)
    parents = coarse[parent_y][:, parent_x].astype(np.float32)
    parents[..., 0] *= ratio_y
    parents[..., 1] *= ratio_x
    return np.rint(parents).astype(np.int32)


class OctaveLifter(TwoStepLifter):
    """PatchMatch refinement at every octave from the working size to full resolution; see the module docstring.

    With a filler that returns an :class:`OffsetField` (``patchmatch``) the field is carried up from the working
    size; with any other filler the first level starts from a random field and searches the whole region.
    """

    Config = OctaveConfig
    corrects = True

    def __init__(self, config: OctaveConfig | None = None) -> None:
        self.config = config or OctaveConfig()

    def lift(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filled: FillResult,
        working_mask: np.ndarray,
        box: Box | None = None,
        working_image: np.ndarray | None = None,
    ) -> np.ndarray:
        box = checked_box(box, mask)
        full_shape, working_shape = mask.shape, working_mask.shape
        if filled.image.shape != (*working_shape, 3):
            raise ValueError(f"fill {filled.image.shape} does not match the working mask {working_shape}")
        fill = np.clip(filled.image, 0.0, 1.0).astype(np.float32)
        if working_shape == full_shape or not mask.any():
            plain = fill[box.slices] if working_shape == full_shape else resize_bilinear(fill, full_shape)[box.slices]
            return add_correction(plain, filled, mask, box)
        first_mask, moves = working_mask, start_displacements(filled, working_mask)
        shapes = level_shapes(full_shape, working_shape)
        searched = [
            shape
            for level, shape in enumerate(shapes[: max(0, len(shapes) - self.config.cra_levels)])
            if level == 0 or max(shape) <= self.config.search_side
        ]
        for level, shape in enumerate(searched):
            if shape == full_shape:
                known, hole = to_float(image), mask
            else:
                known, hole = area_downsample_pixels(image, shape), downsample_mask(mask, shape)
            fill = resize_bilinear(fill, shape)
            if moves is None:
                moves, work = np.zeros((*shape, 2), np.int32), Box(0, 0, *shape)
                carried = None
            else:
                moves = carry_displacements(moves, shape)
                work = self._work_box(hole, moves)
                carried = moves[work.slices]
            last = level == len(searched) - 1
            fill[work.slices], moves[work.slices] = self._level(
                known[work.slices], hole[work.slices], fill[work.slices], carried, level, last
            )
            working_mask, working_image = hole, np.where(hole[:, :, None], np.float32(0.0), known)
        if not searched:
            lifted = CraLifter().lift(image, mask, filled, working_mask, box, working_image)
        elif fill.shape[:2] == full_shape:
            lifted = fill[box.slices]
        else:
            # cra lifts the rest: the finest residual moved along the field of the last searched level
            field = OffsetField(_sources(moves, working_mask), np.ones((*working_mask.shape, 1), np.float32))
            lifted = CraLifter().lift(image, mask, FillResult(fill, field), working_mask, box, working_image)
        # a filler's correction (a network's low band) comes before the detail steps: it stands for the smooth
        # estimate that the low-band mix would take from Telea, and the restoration sees the band it leaves
        before = lifted
        lifted = add_correction(lifted, filled, mask, box)
        mix = filled.correction is None and self.config.low_sigma > 0 and self.config.low_weight < 1
        keep = filled.correction is not None and self.config.keep_bands > 0
        if self.config.restore_gain > 1 or self.config.coarse_gain > 1 or mix or keep:
            lifted = self._restore(image, mask, box, lifted, filled.image, first_mask, mix, before if keep else None)
        return lifted

    def _restore(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        box: Box,
        lifted: np.ndarray,
        working_fill: np.ndarray,
        working_mask: np.ndarray,
        mix: bool,
        before: np.ndarray | None = None,
    ) -> np.ndarray:
        """The low band mixed with Telea's (:func:`mix_low_band`, when ``mix``), then :func:`restore_bands`, over
        the hole's box grown by a margin of context (read from ``image``). With ``before`` (the lifted fill before
        a filler's correction) the result then keeps, octave by octave, at least the detail that ``before``
        restored alone has (:func:`keep_band_energy`): a correction never leaves less detail than the default."""
        config = self.config
        margin = max(config.restore_context << config.restore_bands, 3 * math.ceil(config.low_sigma))
        area_box = box.expand(margin, mask.shape)
        area = to_float(image[area_box.slices])
        hole = mask[area_box.slices]
        inner = box.within(area_box)
        area[inner] = np.where(hole[inner][:, :, None], lifted, area[inner])
        if mix:
            smooth_mask = working_mask
            if config.low_grow > 0:  # the border pixels a hand-drawn mask leaves of the object are not spread
                size = 2 * config.low_grow + 1
                grown = cv2.dilate(working_mask.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
                smooth_mask = grown if (~grown).any() else working_mask
            smooth = bilinear_window(telea_prefill(working_fill, smooth_mask), mask.shape, area_box)
            area = mix_low_band(area, smooth, hole, config.low_sigma, config.low_weight)
        restore = config.restore_gain > 1 or config.coarse_gain > 1
        gains = (
            config.restore_bands,
            config.restore_gain,
            config.coarse_gain,
            config.restore_passes,
            config.restore_levels,
        )
        if restore:
            area = restore_bands(area, hole, *gains)
        if before is not None:  # the default's own output (its fill restored alone) is the reference for detail
            reference = area.copy()
            reference[inner] = np.where(hole[inner][:, :, None], before, area[inner])
            if restore:
                reference = restore_bands(reference, hole, *gains)
            area = keep_band_energy(area, reference, hole, config.keep_bands, config.coarse_gain)
        return area[inner]

    def _work_box(self, hole: np.ndarray, moves: np.ndarray) -> Box:
        """The part of a level the search needs: every patch centre that overlaps the hole and the sources it
        starts from, grown by a patch and twice the search window (where the search may move them)."""
        radius = self.config.patch_size // 2
        ys, xs = np.nonzero(patch_targets(hole, radius))
        if ys.size == 0:
            return Box(0, 0, 1, 1)
        source_ys, source_xs = ys + moves[ys, xs, 0], xs + moves[ys, xs, 1]
        pad = radius + 2 * self.config.search_radius + 2
        height, width = hole.shape
        top = max(0, min(int(ys.min()), int(source_ys.min())) - pad)
        left = max(0, min(int(xs.min()), int(source_xs.min())) - pad)
        bottom = min(height, max(int(ys.max()), int(source_ys.max())) + 1 + pad)
        right = min(width, max(int(xs.max()), int(source_xs.max())) + 1 + pad)
        return Box(top, left, bottom, right)

    def _level(
        self,
        known: np.ndarray,
        hole: np.ndarray,
        enlarged: np.ndarray,
        moves: np.ndarray | None,
        level: int,
        last: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One level: returns the fill (known pixels exact) and the displacement field for the next level."""
        config = self.config
        radius = config.patch_size // 2
        height, width = hole.shape
        current = np.where(hole[:, :, None], enlarged, known).astype(np.float32)
        sets = LevelSets.build(hole, radius, config.gamma)
        if not hole.any() or not sets.valid.any():
            return current, np.zeros((height, width, 2), np.int32) if moves is None else moves
        positions = np.stack(np.indices((height, width), dtype=np.int32), axis=-1)
        if moves is None:
            nnf = positions.copy()
            nnf[sets.targets] = -1  # random valid sources, then a search over the whole level
            window = max(height, width)
        else:
            nnf = np.where(sets.targets[:, :, None], positions + moves, positions).astype(np.int32)
            window = config.search_radius
        cost = np.zeros((height, width), np.float32)
        seed = int(np.random.SeedSequence([config.seed, level]).generate_state(1)[0] >> 1)
        features = patch_features(current, config.gradient_weight)
        kernels.repair_and_measure(features, nnf, cost, *sets.search, seed)
        values = sets.pixel_count * features.shape[2]
        weight = vote_weights(cost, values, sets.log_spatial, sets.targets, config.sigma_percentile)
        current = kernels.vote(current, nnf, weight, sets.hole_ys, sets.hole_xs, radius)  # the carried field first
        for step in range(config.em_iterations):
            current, weight = em_round(current, nnf, cost, sets, config, window, seed + 2 * step + 2, config.vote)
            window = config.search_radius
        if last and config.colour == "poisson":  # the hole's colours from its sources' gradients: no seams
            current = poisson_fill(current, nnf, hole)
        if last and config.colour == "membrane":
            current += membrane(known, kernels.vote(current, nnf, weight, *_ring(hole), radius), hole)
            np.clip(current, 0.0, 1.0, out=current)
        return current, nnf - positions


def _sources(moves: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """An offset field's sources ``(h, w, 1, 2)`` from displacements: a hole pixel's source is its position
    moved, every other pixel its own source."""
    positions = np.stack(np.indices(hole.shape, dtype=np.int32), axis=-1)
    return np.where(hole[:, :, None], positions + moves, positions)[:, :, None, :].astype(np.int32)


# Known pixels within this distance of the hole are where the fill's mismatch with its surroundings is read.
_RING = 2
# The mismatch is averaged along the border over about this many pixels before it is carried inside.
_RING_SIGMA = 4.0


def _ring(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The known pixels within ``_RING`` pixels of the hole, as ``(ys, xs)`` int64."""
    side = 2 * _RING + 1
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool) & ~hole
    ys, xs = np.nonzero(ring)
    return ys.astype(np.int64), xs.astype(np.int64)


def membrane(known: np.ndarray, predicted: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The colour correction that makes a fill continuous with its border, zero outside the hole.

    ``predicted`` is what the fill's patches put on the known pixels around the hole; the mismatch
    ``known - predicted`` there is averaged along the border and interpolated smoothly into the hole (push-pull
    over a pyramid, a membrane), as a Poisson blend would: a patch copied from a darker place is brought to its
    new surroundings' level at the border, and the correction fades towards the middle of the hole's span.

    Shape: ``h x w x 3`` float32 (twice), hole ``h x w`` -> ``h x w x 3`` float32.
    """
    ring = np.zeros(hole.shape, np.float32)
    ring[_ring(hole)] = 1.0
    jump = (known - predicted) * ring[:, :, None]
    spread = cv2.GaussianBlur(ring, (0, 0), _RING_SIGMA)
    jump = cv2.GaussianBlur(jump, (0, 0), _RING_SIGMA) / np.maximum(spread, 1e-6)[:, :, None]
    return push_pull(jump * ring[:, :, None], ring) * hole[:, :, None]
