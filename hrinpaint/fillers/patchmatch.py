"""Multi-scale PatchMatch completion (Wexler et al. 2007 with Barnes et al. 2009's search): sharp, no weights.

The hole is filled coarse to fine over a pyramid of the working image. The coarsest level starts from a diffusion
fill (Telea); at every level, expectation-maximisation alternates a PatchMatch nearest-neighbour search (each
patch that overlaps the hole finds the most similar patch lying wholly in the known context) with voting (each
hole pixel becomes the weighted mean of the colours its overlapping patches copy to it). The field found at one
level seeds the next finer one, so fine levels only refine.

The filler returns its finest-level field as an :class:`~hrinpaint.fillers.attention.OffsetField`, which the
``cra`` lifter uses to carry full-resolution detail from the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers import _patchmatch_kernels as kernels
from hrinpaint.fillers.attention import OffsetField
from hrinpaint.fillers.base import FillResult, check_fill_input
from hrinpaint.fillers.opencv import diffuse

# A coarser level is used only if at least this many patch centres are valid sources there: with fewer, the
# coarse fill could only repeat a handful of patches and would mislead every finer level.
_MIN_SOURCES = 25
# A coarse pixel counts as known when at least this share of its pyramid filter's weight falls on known pixels;
# its colour is then the average of those known pixels only (normalised convolution), never of hole zeros.
_KNOWN_SHARE = 0.5
# Floor on log-weights in voting, so that a poor match gets a tiny weight instead of underflowing to zero.
_MIN_LOG_WEIGHT = -60.0
#: Ways of voting: each hole pixel becomes the weighted mean of what the patches covering it copy ("mean") or what
#: the best-matching of them copies ("best").
VOTES = ("mean", "best")


@dataclass(frozen=True)
class PatchMatchConfig:
    """Options of :class:`PatchMatchFiller`.

    Attributes:
        patch_size: side of the square patches, odd, >= 3. Smaller is faster and follows edges more closely;
            larger keeps more texture structure together.
        coarsest_size: the pyramid halves the image while its short side stays at least this (pixels).
        max_levels: most pyramid levels, the working image included.
        em_iterations_coarsest: search-and-vote rounds at the coarsest level.
        em_iterations_finest: rounds at the working resolution; levels in between interpolate linearly.
        pm_iterations: PatchMatch passes (propagation and random search) per round.
        fine_search_radius: the random search starts this many pixels around a patch's current source at every
            level but the coarsest, which searches the whole image: finer levels inherit a good field and only
            refine it, so long jumps there are wasted work.
        gradient_weight: weight of the luminance-gradient channels against the Lab colour channels in the patch
            distance (0 = colour only).
        texture_weight: weight of the texture channels in the patch distance (0 = none): the lightness
            gradient's magnitude averaged over a patch, taken at the working size and carried down to every coarser
            level (Newson et al. 2014), so that a coarse level sees how textured each place is at the finest one and
            a blurred hole does not draw its patches from flat sources; in the hole the channels are voted as the
            colours are.
        gamma: the vote of a patch whose centre is ``d`` pixels inside the hole is scaled by ``gamma ** -d``, so
            patches anchored in known context lead (Wexler et al.); 1 weighs all patches alike.
        sigma_percentile: match quality enters a vote as ``exp(-cost / (2 sigma^2))`` with ``sigma^2`` this
            percentile of the level's patch costs (Wexler et al. use 75).
        top_k: context pixels kept per hole pixel in the returned offset field (1 = hard assignment).
        vote: how each round sets the hole's colours: ``"mean"``, the weighted mean of what the overlapping
            patches copy (Wexler et al.; blurs where they disagree), or ``"best"``, what the best-matching patch
            covering the pixel copies (keeps texture; measured in ``docs/methods/patchmatch.md``).
        best_levels: how many of the finest levels vote with ``vote`` (the coarser ones always take the mean,
            which settles the structure).
        seed: seeds the random search; the same seed and input give the same output.
    """

    patch_size: int = 7
    coarsest_size: int = 64
    max_levels: int = 8
    em_iterations_coarsest: int = 8
    em_iterations_finest: int = 2
    pm_iterations: int = 3
    fine_search_radius: int = 16
    gradient_weight: float = 0.0
    texture_weight: float = 7.0
    gamma: float = 1.3
    sigma_percentile: float = 75.0
    top_k: int = 1
    vote: str = "mean"
    best_levels: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.patch_size < 3 or self.patch_size % 2 == 0:
            raise ConfigError(f"patch_size must be odd and at least 3, got {self.patch_size}")
        if self.coarsest_size < self.patch_size:
            raise ConfigError(
                f"coarsest_size must be at least patch_size ({self.patch_size}), got {self.coarsest_size}"
            )
        if self.max_levels < 1:
            raise ConfigError(f"max_levels must be at least 1, got {self.max_levels}")
        if self.em_iterations_coarsest < 1 or self.em_iterations_finest < 1:
            raise ConfigError("em_iterations_coarsest and em_iterations_finest must be at least 1")
        if self.pm_iterations < 1:
            raise ConfigError(f"pm_iterations must be at least 1, got {self.pm_iterations}")
        if self.fine_search_radius < 1:
            raise ConfigError(f"fine_search_radius must be at least 1, got {self.fine_search_radius}")
        if self.gradient_weight < 0 or self.texture_weight < 0:
            raise ConfigError("gradient_weight and texture_weight must be non-negative")
        if self.gamma < 1:
            raise ConfigError(f"gamma must be at least 1, got {self.gamma}")
        if not 0 < self.sigma_percentile <= 100:
            raise ConfigError(f"sigma_percentile must be in (0, 100], got {self.sigma_percentile}")
        if not 1 <= self.top_k <= self.patch_size**2:
            raise ConfigError(f"top_k must be in [1, patch_size^2 = {self.patch_size**2}], got {self.top_k}")
        if self.vote not in VOTES:
            raise ConfigError(f"vote must be one of {VOTES}, got {self.vote!r}")
        if self.best_levels < 0:
            raise ConfigError(f"best_levels must be non-negative, got {self.best_levels}")
        if not 0 <= self.seed < 2**31:
            raise ConfigError(f"seed must be in [0, 2^31), got {self.seed}")


@dataclass(frozen=True)
class _Level:
    """One pyramid level: colours (hole pixels hold an estimate or zero) and the hole at that scale."""

    image: np.ndarray
    hole: np.ndarray


def masked_pyramid(image: np.ndarray, hole: np.ndarray, coarsest_size: int, max_levels: int) -> list[_Level]:
    """Halves the image (``pyrDown``'s filter and sizes) while the short side stays >= ``coarsest_size``.

    Hole pixels never leak into coarse levels: colours and the known weight are filtered separately and divided
    (normalised convolution); a coarse pixel is a hole where less than ``_KNOWN_SHARE`` of its weight is known.

    Returns:
        Levels, finest (the input) first.
    """
    known = (~hole).astype(np.float32)
    premultiplied = image * known[:, :, None]
    levels = [_Level(image, hole)]
    while len(levels) < max_levels:
        height, width = levels[-1].hole.shape
        if min((height + 1) // 2, (width + 1) // 2) < coarsest_size:
            break
        premultiplied = cv2.pyrDown(premultiplied)
        known = cv2.pyrDown(known)
        coarse_hole = known < _KNOWN_SHARE
        colours = premultiplied / np.maximum(known, 1e-6)[:, :, None]
        colours[coarse_hole] = 0.0
        levels.append(_Level(np.clip(colours, 0.0, 1.0).astype(np.float32), coarse_hole))
    return levels


def valid_sources(hole: np.ndarray, radius: int) -> np.ndarray:
    """True where a ``(2 radius + 1)``-square patch centred there is inside the image and holds no hole pixel."""
    height, width = hole.shape
    valid = np.zeros_like(hole)
    if height <= 2 * radius or width <= 2 * radius:
        return valid
    side = 2 * radius + 1
    hole_count = cv2.boxFilter(hole.astype(np.float32), -1, (side, side), normalize=False)
    inner = (slice(radius, height - radius), slice(radius, width - radius))
    valid[inner] = hole_count[inner] < 0.5
    return valid


def patch_targets(hole: np.ndarray, radius: int) -> np.ndarray:
    """True where a patch centred there overlaps the hole: the centres whose sources the search must find."""
    side = 2 * radius + 1
    kernel = np.ones((side, side), np.uint8)
    return cv2.dilate(hole.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def patch_features(image: np.ndarray, gradient_weight: float) -> np.ndarray:
    """The per-pixel vectors patches are compared by: Lab colour scaled to about [0, 1] per unit of lightness,
    and optionally the lightness gradient (central differences), which separates edges from flat patches of the
    same mean colour.

    Shape:
        ``h x w x 3`` RGB float32 in [0, 1] -> ``h x w x 3`` or ``h x w x 5`` float32.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2Lab) / np.float32(100.0)
    if gradient_weight == 0:
        return np.ascontiguousarray(lab, dtype=np.float32)
    grad_y, grad_x = _lightness_gradients(lab[:, :, 0], float(np.float32(0.5 * gradient_weight)))
    return np.ascontiguousarray(np.dstack([lab, grad_y, grad_x]), dtype=np.float32)


def _lightness_gradients(lightness: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The vertical and horizontal central differences of ``lightness`` times ``scale`` / 2 (edges replicated):
    what :func:`patch_features` compares and :func:`texture_map` averages."""
    border = cv2.BORDER_REPLICATE
    return (
        cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=1, scale=scale, borderType=border),
        cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=1, scale=scale, borderType=border),
    )


def texture_map(image: np.ndarray, hole: np.ndarray, side: int) -> np.ndarray:
    """The texture channels of :attr:`PatchMatchConfig.texture_weight`: the magnitudes of the lightness gradient
    (vertical, horizontal; central differences of Lab lightness / 100) averaged over ``side``-square windows of
    known pixels (normalised convolution; a gradient that crosses the hole's border is not read), zero in the
    hole, and a third channel of zeros (the vote kernels take three).

    Shape: ``h x w x 3`` RGB float32 in [0, 1], hole ``h x w`` bool -> ``h x w x 3`` float32.
    """
    lightness = cv2.cvtColor(image, cv2.COLOR_RGB2Lab)[:, :, 0] / np.float32(100.0)
    grad_y, grad_x = (np.abs(grad) for grad in _lightness_gradients(lightness, 0.5))
    readable = (cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0).astype(np.float32)
    weight = cv2.boxFilter(readable, -1, (side, side), borderType=cv2.BORDER_REFLECT)
    channels = [
        cv2.boxFilter(grad * readable, -1, (side, side), borderType=cv2.BORDER_REFLECT) / np.maximum(weight, 1e-6)
        for grad in (grad_y, grad_x)
    ]
    texture = np.dstack([*channels, np.zeros_like(lightness)]).astype(np.float32)
    texture[hole] = 0.0
    return texture


def _spread_into_hole(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``values`` with the hole set to a wide normalised blur of the known values around it (a smooth start)."""
    known = (~hole).astype(np.float32)
    sigma = max(hole.shape) / 8.0
    total = cv2.GaussianBlur(values * known[:, :, None], (0, 0), sigma)
    weight = cv2.GaussianBlur(known, (0, 0), sigma)
    fallback = values[~hole].mean(axis=0) if (~hole).any() else np.zeros(3, np.float32)
    spread = np.where(weight[:, :, None] > 1e-4, total / np.maximum(weight, 1e-6)[:, :, None], fallback)
    return np.where(hole[:, :, None], spread, values).astype(np.float32)


def spatial_terms(hole: np.ndarray, radius: int, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per patch centre: Wexler's log spatial weight ``-log(gamma) * distance into the hole`` (patches centred
    deep inside the hole vote less than those near context) and the number of the patch's pixels inside the
    image (for mean costs)."""
    inside = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    side = 2 * radius + 1
    ones = np.ones(hole.shape, np.float32)
    pixel_count = cv2.boxFilter(ones, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return -np.log(gamma) * inside, pixel_count


def vote_weights(
    cost: np.ndarray, values: np.ndarray, log_spatial: np.ndarray, targets: np.ndarray, percentile: float
) -> np.ndarray:
    """Per target patch: ``gamma^-dist * exp(-mean_cost / (2 sigma^2))`` with ``sigma^2`` the ``percentile`` of
    the targets' mean costs (``values`` = compared values per patch); 0 for non-targets."""
    mean_cost = cost / values
    sigma_squared = max(float(np.percentile(mean_cost[targets], percentile)), 1e-8)
    log_weight = np.maximum(log_spatial - mean_cost / (2.0 * sigma_squared), _MIN_LOG_WEIGHT)
    return np.where(targets, np.exp(log_weight), 0.0).astype(np.float32)


@dataclass(frozen=True)
class LevelSets:
    """What one EM round at a level needs besides the image and the field: the patch radius, the patch centres
    that overlap the hole (``targets`` and their coordinates), the hole's pixels, the valid sources, and the
    per-centre terms of :func:`spatial_terms`."""

    radius: int
    targets: np.ndarray
    target_ys: np.ndarray
    target_xs: np.ndarray
    hole_ys: np.ndarray
    hole_xs: np.ndarray
    valid: np.ndarray
    valid_ys: np.ndarray
    valid_xs: np.ndarray
    log_spatial: np.ndarray
    pixel_count: np.ndarray

    @classmethod
    def build(cls, hole: np.ndarray, radius: int, gamma: float) -> LevelSets:
        """The sets of a level whose hole is ``hole``, for patches of ``radius`` and Wexler's ``gamma``."""
        targets = patch_targets(hole, radius)
        valid = valid_sources(hole, radius)
        target_ys, target_xs = (axis.astype(np.int64) for axis in np.nonzero(targets))
        hole_ys, hole_xs = (axis.astype(np.int64) for axis in np.nonzero(hole))
        valid_ys, valid_xs = (axis.astype(np.int64) for axis in np.nonzero(valid))
        log_spatial, pixel_count = spatial_terms(hole, radius, gamma)
        return cls(
            radius, targets, target_ys, target_xs, hole_ys, hole_xs, valid, valid_ys, valid_xs, log_spatial, pixel_count
        )

    @property
    def search(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """The arguments the search kernels take after ``(features, nnf, cost)``, up to the seed."""
        return self.target_ys, self.target_xs, self.valid, self.valid_ys, self.valid_xs, self.radius


class RoundOptions(Protocol):
    """The options an EM round reads (:class:`PatchMatchConfig` and the octave lifter's config have them)."""

    gradient_weight: float
    pm_iterations: int
    sigma_percentile: float


def em_round(
    current: np.ndarray,
    nnf: np.ndarray,
    cost: np.ndarray,
    sets: LevelSets,
    options: RoundOptions,
    window: int,
    seed: int,
    vote: str = "mean",
    texture: np.ndarray | None = None,
    texture_weight: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One expectation-maximisation round: repair and measure the field, PatchMatch search in ``window``, then
    vote (see :data:`VOTES`). ``nnf`` and ``cost`` change in place; so does ``texture`` (the level's texture
    channels, :func:`texture_map`), compared with ``texture_weight`` and voted in the hole as the colours are.

    Returns:
        The new fill and the vote weight of each patch centre.
    """
    features = patch_features(current, options.gradient_weight)
    if texture is not None and texture_weight > 0:
        features = np.ascontiguousarray(np.dstack([features, texture[:, :, :2] * np.float32(texture_weight)]))
    kernels.repair_and_measure(features, nnf, cost, *sets.search, seed)
    kernels.patchmatch(features, nnf, cost, *sets.search, options.pm_iterations, window, seed + 1)
    values = sets.pixel_count * features.shape[2]
    weight = vote_weights(cost, values, sets.log_spatial, sets.targets, options.sigma_percentile)
    if texture is not None:
        texture[...] = kernels.vote(texture, nnf, weight, sets.hole_ys, sets.hole_xs, sets.radius)
    if vote == "best":
        mean_cost = cost / sets.pixel_count
        return kernels.vote_best(current, nnf, weight, mean_cost, sets.hole_ys, sets.hole_xs, sets.radius), weight
    return kernels.vote(current, nnf, weight, sets.hole_ys, sets.hole_xs, sets.radius), weight


def _level_seed(seed: int, level: int, step: int) -> int:
    """A distinct, reproducible seed for each kernel call."""
    return int(np.random.SeedSequence([seed, level, step]).generate_state(1)[0] >> 1)


class PatchMatchFiller:
    """Multi-scale PatchMatch completion; see the module docstring.

    ``fill`` returns the filled image and an :class:`OffsetField` at the working resolution.
    """

    Config = PatchMatchConfig

    def __init__(self, config: PatchMatchConfig | None = None) -> None:
        self.config = config or PatchMatchConfig()

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        """Fills ``image`` where ``mask`` is True.

        Shape:
            image: ``h x w x 3`` float32 in [0, 1]; mask: ``h x w`` bool (True = hole). Returns the same shapes;
            known pixels are bit-identical to the input.
        """
        check_fill_input(image, mask)
        if mask.all():
            raise ValueError("the mask covers the whole image: there is no context to copy patches from")
        image = np.where(mask[:, :, None], np.float32(0.0), image).astype(np.float32)
        if not mask.any():
            return FillResult(image, _identity_field(mask.shape, self.config.top_k))
        radius = self._finest_radius(mask)
        if radius == 0:
            return self._fill_tiny(image, mask)
        levels = masked_pyramid(image, mask, self.config.coarsest_size, self.config.max_levels)
        for depth in range(1, len(levels)):
            if np.count_nonzero(valid_sources(levels[depth].hole, radius)) < _MIN_SOURCES:
                levels = levels[:depth]
                break
        textures = None
        if self.config.texture_weight > 0:
            textures = masked_pyramid(
                texture_map(image, mask, 2 * radius + 1), mask, self.config.coarsest_size, len(levels)
            )
        filled, nnf, weight = self._complete(levels, radius, textures)
        hole_ys, hole_xs = np.nonzero(mask)
        sources, weights = kernels.offset_field(
            nnf, weight, hole_ys.astype(np.int64), hole_xs.astype(np.int64), radius, self.config.top_k
        )
        filled = np.where(mask[:, :, None], np.clip(filled, 0.0, 1.0), image).astype(np.float32)
        return FillResult(filled, OffsetField(sources, weights))

    def _finest_radius(self, mask: np.ndarray) -> int:
        """The configured patch radius, or the largest smaller one that still has a valid source patch (an image
        or a context too small for the configured patch); 0 when not even a 3 x 3 patch fits."""
        radius = self.config.patch_size // 2
        while radius > 0 and not valid_sources(mask, radius).any():
            radius -= 1
        return radius

    def _complete(
        self, levels: list[_Level], radius: int, textures: list[_Level] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Runs EM from the coarsest level to the finest; returns the fill, the field and the vote weights.
        ``textures``: the texture channels' levels (:func:`texture_map`), when the distance reads them."""
        config = self.config
        coarsest = len(levels) - 1
        current: np.ndarray | None = None
        texture: np.ndarray | None = None
        nnf: np.ndarray | None = None
        weight = np.zeros(levels[0].hole.shape, np.float32)
        for depth in range(coarsest, -1, -1):
            level = levels[depth]
            hole = level.hole
            height, width = hole.shape
            sets = LevelSets.build(hole, radius, config.gamma)
            targets, target_ys, target_xs = sets.targets, sets.target_ys, sets.target_xs
            if depth == coarsest:
                current = diffuse(level.image, hole, 3.0, cv2.INPAINT_TELEA) if hole.any() else level.image
                if textures is not None:
                    texture = _spread_into_hole(textures[depth].image, hole)
                nnf = np.stack(np.indices((height, width), dtype=np.int32), axis=-1)
                nnf[targets] = -1  # repaired to random valid sources below
            else:
                assert current is not None and nnf is not None
                upsampled = cv2.resize(current, (width, height), interpolation=cv2.INTER_LINEAR)
                current = np.where(hole[:, :, None], upsampled, level.image).astype(np.float32)
                if texture is not None:  # started at the coarsest level when the distance reads texture
                    enlarged = cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)
                    texture = np.where(hole[:, :, None], enlarged, textures[depth].image).astype(np.float32)
                nnf = kernels.upsample_nnf(nnf, (height, width), target_ys, target_xs)
                if len(sets.hole_ys):
                    # Vote once with the carried field, before any search, so that the level starts from sharp
                    # fine-scale source pixels rather than from the blurry enlargement of the coarse fill. Only
                    # patches whose parent voted at the coarse level vote here (a parent outside the coarse hole
                    # has no match to carry); pixels no patch votes for keep the enlargement.
                    features = patch_features(current, config.gradient_weight)
                    scratch = np.zeros((height, width), np.float32)
                    kernels.repair_and_measure(
                        features, nnf, scratch, *sets.search, _level_seed(config.seed, depth, 1000)
                    )
                    parent_rows = np.minimum(np.arange(height) // 2, weight.shape[0] - 1)
                    parent_columns = np.minimum(np.arange(width) // 2, weight.shape[1] - 1)
                    carried = np.where(targets, weight[parent_rows][:, parent_columns], 0.0).astype(np.float32)
                    current = kernels.vote(current, nnf, carried, sets.hole_ys, sets.hole_xs, radius)
                    if texture is not None:
                        texture = kernels.vote(texture, nnf, carried, sets.hole_ys, sets.hole_xs, radius)
            if len(sets.hole_ys) == 0:
                weight = np.zeros((height, width), np.float32)
                continue
            rounds = self._em_rounds(depth, coarsest)
            cost = np.zeros((height, width), np.float32)
            for step in range(rounds):
                window = max(height, width) if depth == coarsest else config.fine_search_radius
                vote = config.vote if depth < config.best_levels else "mean"
                seed = _level_seed(config.seed, depth, step)
                current, weight = em_round(
                    current, nnf, cost, sets, config, window, seed, vote, texture, config.texture_weight
                )
        assert current is not None and nnf is not None
        return current, nnf, weight

    def _em_rounds(self, depth: int, coarsest: int) -> int:
        """EM rounds at a level: ``em_iterations_coarsest`` at the top, ``em_iterations_finest`` at the bottom."""
        if coarsest == 0:
            return max(self.config.em_iterations_coarsest, self.config.em_iterations_finest)
        fraction = depth / coarsest
        first, last = self.config.em_iterations_coarsest, self.config.em_iterations_finest
        return max(1, round(last + (first - last) * fraction))

    def _fill_tiny(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        """No 3 x 3 patch of context exists: a diffusion fill, and each hole pixel's nearest known pixel as its
        source."""
        filled = diffuse(image, mask, 3.0, cv2.INPAINT_TELEA)
        _, labels = cv2.distanceTransformWithLabels(
            mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
        )
        known_ys, known_xs = np.nonzero(~mask)
        # DIST_LABEL_PIXEL numbers the zero (known) pixels from 1 in raster order.
        nearest = labels - 1
        field = _identity_field(mask.shape, self.config.top_k)
        field.sources[mask, 0, 0] = known_ys[nearest[mask]]
        field.sources[mask, 0, 1] = known_xs[nearest[mask]]
        return FillResult(filled, field)


def _identity_field(shape: tuple[int, int], top_k: int) -> OffsetField:
    """Every pixel is its own source, with all weight in the first slot."""
    positions = np.stack(np.indices(shape, dtype=np.int32), axis=-1)
    sources = np.repeat(positions[:, :, None, :], top_k, axis=2)
    weights = np.zeros((*shape, top_k), np.float32)
    weights[:, :, 0] = 1.0
    return OffsetField(sources, weights)
