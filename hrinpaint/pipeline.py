"""The pipeline: validate, split the hole into regions with context, fill each at a working size, paste back.

Only hole pixels of the output ever differ from the input. The image can stay in its integer dtype (uint8 or
uint16, as decoded): each region goes to the lifter as a view in that dtype, the lifter converts only what it
reads to the canonical float32 form and returns the fill of the hole's bounding box, whose hole pixels are
converted back and pasted. Known pixels are untouched by construction, and memory grows with the holes, not with
a float copy of the whole photo or of a region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrinpaint.bounds import check_bounds
from hrinpaint.errors import InputError
from hrinpaint.fillers import FILLERS, Filler
from hrinpaint.io import from_float
from hrinpaint.lifters import LIFTERS, Lifter
from hrinpaint.methods import resolve_method
from hrinpaint.ops.morphology import dilate
from hrinpaint.ops.regions import Box, bounding_box, hole_regions
from hrinpaint.ops.resize import downsample_mask, fit_long_side

#: ``progress(done, total)`` in regions.
ProgressCallback = Callable[[int, int], None]

_INTEGER_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
_FLOAT_SLACK = 1e-4
_PASTE_BAND_PIXELS = 1 << 18


@dataclass(frozen=True)
class PipelineOptions:
    """How the pipeline cuts and scales the work.

    Attributes:
        working_size: long side, in pixels, at which the filler works; regions larger than this are
            area-downsampled to it (aspect kept), smaller ones are filled at their own resolution.
        context: margin around each hole as a fraction of the hole box's long side.
        min_margin: smallest margin in full-resolution pixels.
        max_pixels: largest image accepted, in pixels.
        grow: pixels by which the hole is grown before filling (covers the halo and shadow fringe that a
            rough mask leaves around an object); those pixels then count as hole and may change.
    """

    working_size: int = 512
    context: float = 1.0
    min_margin: int = 32
    max_pixels: int = 400_000_000
    grow: int = 0

    def __post_init__(self) -> None:
        # every field is bounded (hrinpaint.bounds); ConfigError is a ValueError too
        check_bounds("pipeline", "", dataclasses.asdict(self))


@dataclass
class Inpainter:
    """A configured method: ``Inpainter(filler, lifter, options)(image, mask) -> image``."""

    filler: Filler
    lifter: Lifter
    options: PipelineOptions = field(default_factory=PipelineOptions)
    name: str = "custom"

    @classmethod
    def from_method(
        cls,
        method: str | None = None,
        filler_config: dict[str, Any] | None = None,
        lifter_config: dict[str, Any] | None = None,
        **options: Any,
    ) -> Inpainter:
        """Builds the named method (``None`` = the default) with optional per-part config."""
        spec = resolve_method(method)
        pipeline_options = PipelineOptions(**options)  # bad options fail before a part is built
        filler = FILLERS.build(spec.filler, **(filler_config or {}))
        lifter = LIFTERS.build(spec.lifter, **(lifter_config or {}))
        return cls(filler, lifter, pipeline_options, spec.name)

    def regions(self, mask: np.ndarray) -> list[Box]:
        """The regions of interest that this pipeline fills for ``mask``."""
        return hole_regions(mask, self.options.context, self.options.min_margin)

    def working_mask(self, mask: np.ndarray) -> np.ndarray:
        """A region's mask at its working size: the configured long side, doubled while the downsampled mask would
        leave no known pixel (a thin frame of context around a huge hole); ``mask`` itself at native size."""
        long_side = self.options.working_size
        while True:
            shape = fit_long_side(mask.shape, long_side)
            if shape == mask.shape:
                return mask
            working = downsample_mask(mask, shape)
            if not working.all():
                return working
            long_side *= 2

    def __call__(self, image: np.ndarray, mask: np.ndarray, progress: ProgressCallback | None = None) -> np.ndarray:
        """Returns a new image, same shape and dtype as ``image``, with the hole filled.

        Args:
            image: ``H x W x 3`` RGB; float32/float64 in [0, 1], uint8 or uint16.
            mask: ``H x W``; True or non-zero = hole.
            progress: called as ``progress(done, total)`` after each region.

        Raises:
            InputError: wrong shapes or dtypes, values out of range, too many pixels, or a mask with no known
                pixel to draw context from.
        """
        mask = validate(image, mask, self.options.max_pixels)
        if self.options.grow:
            mask = dilate(mask, self.options.grow)
            if mask.all():
                raise InputError(f"the mask grown by {self.options.grow} px covers the whole image")
        result = image.copy()
        if not mask.any():
            return result
        regions = self.regions(mask)
        for done, box in enumerate(regions, start=1):
            region_mask = mask[box.slices]
            # The region goes to the lifter as stored (a view, no float copy) and only the hole's bounding box
            # comes back: at 8K, float copies of whole regions cost more time in fresh memory than the lifting.
            hole = bounding_box(region_mask)
            assert hole is not None  # every region holds a hole
            filled = self.lifter.run(image[box.slices], region_mask, self.filler, self.working_mask(region_mask), hole)
            if filled.shape != (*hole.shape, 3):
                raise RuntimeError(f"{self.name} returned {filled.shape} for a hole box of {hole.shape}")
            _paste(result[box.slices][hole.slices], filled, region_mask[hole.slices])
            if progress is not None:
                progress(done, len(regions))
        return result


def validate(image: np.ndarray, mask: np.ndarray, max_pixels: int) -> np.ndarray:
    """Checks an image and mask pair at the public entry point; returns the mask as bool."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise InputError(f"image must be an H x W x 3 RGB array, got shape {shape}")
    if image.dtype not in (np.float32, np.float64) and image.dtype not in _INTEGER_DTYPES:
        raise InputError(f"image dtype must be float32/float64 in [0, 1], uint8 or uint16, got {image.dtype}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InputError(
            f"image is {image.shape[1]}x{image.shape[0]} = {image.shape[0] * image.shape[1]:,} pixels, "
            f"over the limit of {max_pixels:,}"
        )
    if image.dtype.kind == "f":
        low, high = float(np.min(image)), float(np.max(image))
        # a little slack for rounding (area averaging of 1.0 can give 1.0000001); fills are clipped anyway
        if not (-_FLOAT_SLACK <= low and high <= 1.0 + _FLOAT_SLACK):  # also catches NaN
            raise InputError(f"float image values must be in [0, 1], got [{low}, {high}]")
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise InputError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    mask = mask.astype(bool) if mask.dtype != bool else mask
    if mask.all():
        raise InputError("the mask covers the whole image: there is no known pixel to draw context from")
    return mask


def _paste(target: np.ndarray, filled: np.ndarray, hole: np.ndarray) -> None:
    """Writes ``filled`` into ``target`` where ``hole`` is True, converted to ``target``'s dtype.

    Band by band: the conversion's temporaries are then a few megabytes reused, not fresh memory the size of
    the hole's box (which on the reference machine costs about as much as the conversion itself).
    """
    band_rows = max(1, _PASTE_BAND_PIXELS // max(1, target.shape[1]))
    for top in range(0, target.shape[0], band_rows):
        rows = slice(top, top + band_rows)
        np.copyto(target[rows], _as_dtype(filled[rows], target.dtype), where=hole[rows, :, None])


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float fill values in the image's own dtype (rounded for integer images, clipped for float ones)."""
    if np.dtype(dtype).kind == "u":
        return from_float(values, dtype)
    return np.clip(values, 0.0, 1.0).astype(dtype)
