"""Multiscale feature refinement (Kulshreshtha et al. 2022): optimise a network's features at inference, coarse to fine.

A network fills best near its training resolution; run at a higher one, it loses global structure. The lifter
builds an image pyramid with factor 2 from about the network's working size up to the region's full size
(shrunk to a pixel budget), fills the coarsest level with one plain pass, and at every finer level optimises the
latent feature map of the network's *front* (Adam) so that the *rear*'s prediction, downscaled (5x5 Gaussian,
sigma 1, then bilinear), matches the previous level's result inside the hole eroded by a disk, while also
matching the known pixels at its own level. Nothing is trained; only the features of one image change.

With a band-split network filler (``GeneratorFiller`` with ``band > 0``, the default) every level starts from the
default method's output there and keeps only the prediction's change below the filler's Gaussian (scaled to the
level); the finest level's change is brought up to full size and added to the default's output. So the texture
is the default's at any size, and a network that changes nothing gives the default exactly. The levels run from
about the network's size up to ``max_side`` (two or more for any region above the network's size); ``max_side =
0`` refines up to the full size with the paper's count of levels.

With ``band = 0`` (and for ``lama``) the network's whole prediction is kept, each refined level anchored to the
coarser one's colours (``anchor``), and the finest level lifted to full size by ``lift``.

It needs the network: the filler must be *refinable*, that is, hold its generator in ``filler.model`` and the
generator must declare a front/rear split (:class:`~hrinpaint.nn.split.Splittable`: ``lama``, ``hifill``). A filler
that also has ``network_size`` (the long side it runs its network at, ``hifill``: its training resolution) sets
the coarsest level; otherwise the pipeline's working size does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hrinpaint.errors import ConfigError, InpaintError
from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.fillers.gate import agreed, gate_masks, ring_fit
from hrinpaint.fillers.network import GeneratorFiller, band_merge, default_filler, on_hole
from hrinpaint.lifters.base import TwoStepLifter, checked_box, registered_two_step
from hrinpaint.lifters.cra import CraLifter
from hrinpaint.lifters.octave import OctaveConfig
from hrinpaint.lifters.octave_bands import keep_in_context
from hrinpaint.lifters.refine_levels import pyramid_shapes
from hrinpaint.lifters.refine_loop import (
    _features_only,
    _to_numpy,
    _to_tensor,
    anchor_low_frequencies,
    downscale,
    gaussian_blur,
    refine_level,
    refinement_loss,
)
from hrinpaint.nn.split import Splittable
from hrinpaint.ops.morphology import erode
from hrinpaint.ops.patches import bilinear_window
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.ops.resize import (
    area_downsample_pixels,
    downsample_mask,
    fit_long_side,
    resize_bicubic,
    resize_bilinear,
)
from hrinpaint.pixels import to_float

__all__ = [
    "DefaultOutput",
    "RefineConfig",
    "RefineLifter",
    "RefineProgress",
    "RefineStep",
    "anchor_low_frequencies",
    "downscale",
    "gaussian_blur",
    "pyramid_shapes",
    "refine_level",
    "refinement_loss",
    "split_model",
]


@dataclass(frozen=True)
class RefineConfig:
    """Options of the ``refine`` lifter; the defaults are the paper's.

    Attributes:
        max_scales: most levels in the pyramid, the coarsest (plain pass) included.
        pixel_budget: most pixels of the finest level; a larger region is refined at the largest size under the
            budget and its fill upsampled (bicubic). Memory for the optimisation grows with this.
        lr: Adam's learning rate on the features.
        iterations: Adam steps per refined level.
        erosion: diameter in pixels of the disk the hole is eroded by, at the coarser level, before the
            consistency loss (the paper's 15 px): thin parts of the hole, where the network is already right at
            every scale, are left alone.
        checkpointing: recompute the rear's activations in the backward pass instead of keeping them (less
            memory, about one more forward of the rear per step).
        max_side: the finest refined level's long side is at most this (and its pixels at most ``pixel_budget``);
            a larger region is brought the rest of the way (see ``lift``). The levels then run from about the
            network's size up (at least two for any region above it, at most ``max_scales``). 0 refines up to the
            full size, as the paper does, with the paper's count of levels (see ``min_side``).
        min_side: with ``max_side = 0``, the official count of levels: ``1 + round(log2(short side / min_side))``
            (the short side after the pixel budget), at most ``max_scales``.
        anchor: (``band = 0``) after each refined level, replace the prediction's low frequencies by the coarser
            level's result (:func:`anchor_low_frequencies`). A network run above its training resolution can drift
            in colour
            (the shipped ``hifill`` darkens a large hole by 2-5 levels at 1024 px), more than 15 small steps on
            its features correct; the anchor keeps the coarse level's colours and takes only the new detail.
        lift: (``band = 0``) how the finest refined level reaches the full size when it is smaller: ``"cra"``
            moves the context's detail into the hole (:class:`~hrinpaint.lifters.cra.CraLifter`), ``"upsample"``
            is bicubic. With a band split, the default's output at full size takes the finest level's change.
        keep_bands: (band split) the luma detail of this many of the finest octaves is kept at least at the
            default's output's (:func:`~hrinpaint.lifters.octave_bands.keep_band_energy`, gain at most the octave
            lifter's ``coarse_gain``): the refined correction changes structure, not the amount of detail; 0 = off.
        gate_agree: (band split, gated) keep, of the refined correction, only what the refinement of the grown
            hole (the one the gate's ring checks) agrees with (:func:`~hrinpaint.fillers.gate.agreed`), as
            ``shift``'s option.
    """

    max_scales: int = 3
    pixel_budget: int = 1_800_000
    lr: float = 0.002
    iterations: int = 15
    erosion: int = 15
    checkpointing: bool = False
    max_side: int = 1024
    min_side: int = 512
    anchor: bool = True
    lift: str = "cra"
    keep_bands: int = 5
    gate_agree: bool = False

    def __post_init__(self) -> None:
        if self.max_scales < 1:
            raise ConfigError(f"max_scales must be >= 1, got {self.max_scales}")
        if self.pixel_budget < 1:
            raise ConfigError(f"pixel_budget must be positive, got {self.pixel_budget}")
        if self.lr <= 0 or self.iterations < 0 or self.erosion < 0:
            raise ConfigError("lr must be positive, iterations and erosion non-negative")
        if self.max_side < 0 or self.min_side < 1:
            raise ConfigError(f"max_side must be >= 0 and min_side >= 1, got {self.max_side} and {self.min_side}")
        if self.keep_bands < 0:
            raise ConfigError(f"keep_bands must be non-negative, got {self.keep_bands}")
        if self.lift not in ("cra", "upsample"):
            raise ConfigError(f"lift must be 'cra' or 'upsample', got {self.lift!r}")
        object.__setattr__(self, "pixel_budget", int(self.pixel_budget))  # 1.8e6 from a config file is a float


@dataclass(frozen=True)
class RefineStep:
    """A progress report: one after the plain pass and one per loss evaluated at every refined level.

    Attributes:
        scale: level index, 0 = coarsest; scales: levels in all; shape: ``(height, width)`` of this level.
        iteration: Adam steps taken before ``loss`` was measured (0 to ``iterations``; the last one measures
            the features the level's result comes from); 0 for the plain pass.
        loss: the refinement loss; NaN for the plain pass.
    """

    scale: int
    scales: int
    shape: tuple[int, int]
    iteration: int
    iterations: int
    loss: float


RefineProgress = Callable[[RefineStep], None]


def split_model(filler: Filler) -> Splittable:
    """The filler's generator, checked for a front/rear split; a readable error for any other filler."""
    model = getattr(filler, "model", None)
    if not isinstance(model, Splittable) or not isinstance(model, torch.nn.Module):
        raise InpaintError(
            f"refine needs a network filler whose generator declares a front/rear split (lama, hifill); "
            f"{type(filler).__name__} has none"
        )
    return model


class RefineLifter:
    """Multiscale feature refinement of a refinable network filler (``lama+refine``, ``hifill+refine``).

    A :class:`~hrinpaint.lifters.base.Lifter` with its own ``run``: it needs the filler's network, not only its
    fill, so it has no ``lift`` of a given working fill.

    Args:
        config: the options.
        progress: called with a :class:`RefineStep` after the plain pass and after each loss evaluation.
    """

    Config = RefineConfig
    #: Its Adam steps on the filler's features need float32: ``half`` never applies to the filler it refines.
    float32_filler = True
    #: raises for a filler this lifter cannot work with; the server offers ``*+refine`` only where it passes
    check_filler = staticmethod(split_model)

    def __init__(self, config: RefineConfig | None = None, progress: RefineProgress | None = None) -> None:
        self.config = config or RefineConfig()
        self.progress = progress

    def run(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> np.ndarray:
        """Fills the region's hole through the pyramid; returns the region (or ``box`` of it, when given).

        Shape:
            image: ``H x W x 3`` uint8, uint16 or float in [0, 1] (hole pixels never used); mask: ``H x W``
            bool; working_mask: the pipeline's working-size mask (only its size is used).
        """
        model = split_model(filler)
        levels = self._levels(image, mask, filler, working_mask)
        box = checked_box(box, mask)
        if isinstance(filler, GeneratorFiller) and filler.config.band > 0:
            hole, default, correction = self._banded(image, mask, filler, model, levels, working_mask)
            if not filler.config.gate:
                correction = correction * np.float32(filler.config.weight)
            else:
                gain, grown_box, grown = self._gate_gain(image, mask, filler, model, working_mask)
                if grown_box is not None and grown is not None:  # both, or neither (no ring)
                    inside = hole.within(grown_box)
                    if self.config.gate_agree:
                        correction = agreed(correction, grown[inside])
                    if isinstance(gain, np.ndarray):  # a gain field over the grown hole's box
                        gain = gain[inside][..., None]
                correction = correction * (gain if isinstance(gain, np.ndarray) else np.float32(gain))
            output = np.clip(default + correction, 0.0, 1.0)
            if self.config.keep_bands:  # the default's output is the reference for the amount of detail
                keep = self.config.keep_bands
                output = keep_in_context(image, mask, hole, output, default, keep, OctaveConfig.coarse_gain)
            filled = to_float(image[box.slices])
            np.copyto(filled[hole.within(box)], output, where=mask[hole.slices][..., None])
            return filled
        result = self._refine(model, filler, levels)
        if result.shape[:2] == mask.shape:
            return np.where(mask[..., None], result, to_float(image))[box.slices]
        if self.config.lift == "cra":
            return CraLifter().lift(image, mask, FillResult(result), levels[-1][1], box, levels[-1][0])
        return resize_bicubic(result, mask.shape)[box.slices]

    def _levels(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The pyramid's levels (image and mask at each size, coarsest first)."""
        coarsest_side = getattr(filler, "network_size", None) or max(working_mask.shape)
        finest = mask.shape
        if self.config.max_side and max(finest) > self.config.max_side:
            finest = fit_long_side(finest, self.config.max_side)
        min_side = 0 if self.config.max_side else self.config.min_side
        shapes = pyramid_shapes(finest, coarsest_side, self.config.max_scales, self.config.pixel_budget, min_side)
        levels = [self._level(image, mask, shape) for shape in shapes]
        while len(levels) > 1 and levels[0][1].all():  # a level with no known pixel gives no guidance
            levels.pop(0)
        if levels[0][1].all():  # even the finest: fill at full size, where the pipeline made sure of context
            levels = [self._level(image, mask, mask.shape)]
        return levels

    def _gate_gain(
        self, image: np.ndarray, mask: np.ndarray, filler: GeneratorFiller, model: Splittable, working_mask: np.ndarray
    ) -> tuple[float | np.ndarray, Box | None, np.ndarray | None]:
        """The filler's gate for the refined correction: the hole grown by a ring
        (:func:`~hrinpaint.fillers.gate.gate_ring`) is refined the same way, and the gain is how far that
        correction moves the default's output towards the ring's known pixels
        (:func:`~hrinpaint.fillers.gate.ring_gain`). With the filler's ``gate_sigma`` above 0, a gain field
        instead (:func:`~hrinpaint.fillers.gate.gain_field`, its sigma scaled from the working size to this one).
        Returned with the grown hole's box and that refinement's correction over it (None without a ring). Costs a
        second refinement."""
        masks = gate_masks(mask, working_mask)
        if masks is None:
            return 1.0, None, None
        ring, grown, grown_working = masks
        progress, self.progress = self.progress, None  # the check's steps are not the fill's
        try:
            levels = self._levels(image, grown, filler, grown_working)
            hole, default, correction = self._banded(image, grown, filler, model, levels, grown_working)
        finally:
            self.progress = progress
        sigma = filler.config.gate_sigma * max(mask.shape) / max(working_mask.shape)
        missing = to_float(image[hole.slices]) - default
        return ring_fit(correction, missing, ring[hole.slices], sigma, filler.config.gate_cap), hole, correction

    def _banded(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filler: GeneratorFiller,
        model: Splittable,
        levels: list[tuple[np.ndarray, np.ndarray]],
        working_mask: np.ndarray,
    ) -> tuple[Box, np.ndarray, np.ndarray]:
        """Refinement of a band-split network filler: every level starts from the default method's output there,
        and only the network's change below the filler's Gaussian (scaled to the level) is kept, so the result is
        the default's output plus the refined network's structure and colour correction; without any change it
        is exactly the default's output. Returns the hole's box, the default's output over it and the correction
        there (zero outside the hole)."""
        hole = bounding_box(mask)
        assert hole is not None
        default = DefaultOutput(image, mask, working_mask, hole)
        bases = [default.at(*level) for level in levels]
        working_side = max(working_mask.shape)

        def sigma(shape: tuple[int, int]) -> float:
            return filler.config.band * max(shape) / working_side

        scales = len(levels)
        level_image, level_mask = levels[0]
        result = filler.fill_on(level_image, level_mask, FillResult(bases[0]), sigma(level_mask.shape)).corrected()
        self._report(RefineStep(0, scales, level_mask.shape, 0, 0, math.nan))
        device = next(model.parameters()).device  # type: ignore[attr-defined]
        radius = self.config.erosion // 2
        with _features_only(model):  # type: ignore[arg-type]
            for scale in range(1, scales):
                target = erode(level_mask, radius) if radius else level_mask
                correction = resize_bilinear(result - bases[scale - 1], levels[scale][1].shape)
                previous = _to_tensor(result, device)
                level_image, level_mask = levels[scale]

                def report(step: int, loss: float, at: int = scale, shape: tuple[int, int] = level_mask.shape) -> None:
                    self._report(RefineStep(at, scales, shape, step, self.config.iterations, loss))

                start = np.clip(bases[scale] + correction, 0.0, 1.0)
                prediction, _ = refine_level(
                    model,
                    _to_tensor(level_image, device),
                    _to_tensor(level_mask, device),
                    previous,
                    _to_tensor(target, device),
                    self.config,
                    report,
                    _to_tensor(start, device),
                )
                change = np.where(level_mask[..., None], _to_numpy(prediction) - bases[scale], 0.0)
                result = band_merge(bases[scale], change, level_mask, sigma(level_mask.shape))
        correction = np.where(levels[-1][1][..., None], result - bases[-1], 0.0).astype(np.float32)
        if correction.shape[:2] == mask.shape:
            lifted = correction[hole.slices]
        else:
            lifted = bilinear_window(correction, mask.shape, hole)
        return hole, default.output, np.where(mask[hole.slices][..., None], lifted, 0.0).astype(np.float32)

    @staticmethod
    def _level(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The region (as stored) and mask at ``shape`` in float; a pixel that any hole pixel touches is a hole
        (and zeroed)."""
        if shape == mask.shape:
            level_image, level_mask = to_float(image), mask.copy()
        else:
            level_image, level_mask = area_downsample_pixels(image, shape), downsample_mask(mask, shape)
        level_image[level_mask] = 0.0
        return level_image, level_mask

    def _refine(self, model: Splittable, filler: Filler, levels: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The plain pass at the coarsest level, then one refinement per finer level; the finest result."""
        config, scales = self.config, len(levels)
        image, mask = levels[0]
        result = filler.fill(image, mask).corrected()
        self._report(RefineStep(0, scales, mask.shape, 0, 0, math.nan))
        if scales == 1:
            return result
        device = next(model.parameters()).device  # type: ignore[attr-defined]
        radius = config.erosion // 2
        with _features_only(model):  # type: ignore[arg-type]
            for scale in range(1, scales):
                previous = _to_tensor(result, device)
                target = erode(mask, radius) if radius else mask
                image, mask = levels[scale]

                def report(step: int, loss: float, scale: int = scale, shape: tuple[int, int] = mask.shape) -> None:
                    self._report(RefineStep(scale, scales, shape, step, config.iterations, loss))

                prediction, _ = refine_level(
                    model,
                    _to_tensor(image, device),
                    _to_tensor(mask, device),
                    previous,
                    _to_tensor(target, device),
                    config,
                    report,
                )
                if config.anchor:
                    prediction = anchor_low_frequencies(prediction, previous)
                fill = np.clip(_to_numpy(prediction), 0.0, 1.0)
                result = np.where(mask[..., None], fill, image).astype(np.float32)
        return result

    def _report(self, step: RefineStep) -> None:
        if self.progress is not None:
            self.progress(step)


class DefaultOutput:
    """The default method run on a region (through the registries, so it follows whatever the default is): its
    output over the hole's box, and its working fill, from which :meth:`at` gives its output at any level."""

    def __init__(self, image: np.ndarray, mask: np.ndarray, working_mask: np.ndarray, hole: Box) -> None:
        self.lifter: TwoStepLifter = registered_two_step("default")  # at() lifts the kept fill to other levels
        kept = _KeptFill(default_filler())
        self.output = self.lifter.run(image, mask, kept, working_mask, hole)
        assert kept.result is not None
        self.fill: FillResult = kept.result
        self.working_mask, self.hole, self.full_shape = working_mask, hole, mask.shape

    def at(self, level_image: np.ndarray, level_mask: np.ndarray) -> np.ndarray:
        """The default's output at a level (``level_image`` and ``level_mask`` at its size, hole cleared): its
        working fill averaged down to it, lifted up to it, or its output at the full size."""
        if level_mask.shape == self.full_shape:
            filled = level_image.copy()
            np.copyto(filled[self.hole.slices], self.output, where=level_mask[self.hole.slices][..., None])
            return filled
        if max(level_mask.shape) <= max(self.working_mask.shape):
            return on_hole(self.fill.image, level_image, level_mask)
        lifted = self.lifter.lift(level_image, level_mask, self.fill, self.working_mask)
        return np.where(level_mask[..., None], lifted, level_image).astype(np.float32)


class _KeptFill:
    """A filler that keeps what the filler it wraps returned."""

    def __init__(self, filler: Filler) -> None:
        self.filler = filler
        self.result: FillResult | None = None

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        result = self.result = self.filler.fill(image, mask)
        return result
