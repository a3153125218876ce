"""The detail step: from a fill at the working resolution to a fill at full resolution.

:class:`Lifter` is the one interface (a Protocol, as :class:`~hrinpaint.fillers.base.Filler` is): ``run``, which
every lifter implements. The common paths are shared pieces, not a method to override or to break:

- :func:`fill_at_native_size` and :func:`fill_at_working_size`: the filler's call on a region (its hole cleared
  first), at the region's own size or area-downsampled to the working size;
- :func:`add_correction`: a fill's smooth correction brought up and added to a lifted fill;
- :class:`TwoStepLifter`: the base of the lifters whose ``run`` is the two-step scheme (``upsample``, ``cra``,
  ``octave``): they write :meth:`TwoStepLifter.lift` only. A lifter that interleaves filling and lifting
  (``refine``: a network optimised level by level; ``shift``: a second network over the lifted fill, gated)
  writes its own ``run`` from the pieces above.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.ops.resize import area_downsample_pixels
from hrinpaint.pixels import to_float


class Lifter(Protocol):
    """Turns a region at full resolution into a filled region, using a filler at the working resolution.

    The region comes as it is stored (a view into a uint8 photo, usually) and the result covers only ``box``:
    at 8K, a float copy of a whole region is hundreds of megabytes that take longer to allocate than the lift
    itself takes to run.

    Two optional class attributes are read before a lifter is built: ``float32_filler = True`` keeps the filler
    in float32 when ``half`` is asked for (the pipeline), and ``check_filler(filler)`` raises for a filler the
    lifter cannot work with (the server lists such methods as unavailable).
    """

    def run(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> np.ndarray:
        """Fills ``image`` where ``mask`` is True, working at the size of ``working_mask``; returns ``box`` of it.

        Shape:
            image: ``H x W x 3`` uint8, uint16, or float in [0, 1]; its hole pixels are never used (they still
            hold what is being removed). mask: ``H x W`` bool. working_mask: ``h x w`` bool, ``mask`` downsampled
            (a working pixel that any hole pixel touches is a hole), or ``mask`` itself when the region is filled
            at its own resolution. box: a part of the region holding every hole pixel (the hole's bounding box,
            say); ``None`` is the whole region.
            Returns ``box.height x box.width x 3`` float32; only its hole pixels are used by the caller.
        """
        ...


def fill_at_native_size(image: np.ndarray, mask: np.ndarray, filler: Filler) -> FillResult:
    """The filler's fill of the region at its own size: the region in float with its hole cleared, so that the
    filler never sees the hole's old content.

    Shape: image ``H x W x 3`` (any stored dtype), mask ``H x W`` bool -> a fill of ``H x W x 3`` float32.
    """
    region = to_float(image)
    region[mask] = 0.0
    return filler.fill(region, mask)


def fill_at_working_size(image: np.ndarray, working_mask: np.ndarray, filler: Filler) -> tuple[FillResult, np.ndarray]:
    """The filler's fill of the region area-downsampled to the working size, and that working image.

    Working pixels that any hole pixel touches are holes, and cleared: so the averages of the others saw known
    pixels only, and the hole needs no clearing at full resolution. The filler gets a copy, so the working image
    returned (hole cleared) is what the lifter may read as context.

    Shape: image ``H x W x 3`` (any stored dtype), working_mask ``h x w`` bool -> (a fill of ``h x w x 3``,
    ``h x w x 3`` float32).
    """
    working_image = area_downsample_pixels(image, working_mask.shape)
    working_image[working_mask] = 0.0
    return filler.fill(working_image.copy(), working_mask), working_image


class TwoStepLifter(ABC):
    """A lifter whose ``run`` is the two-step scheme: fill at the working size, then :meth:`lift` the fill to full
    resolution and add the fill's correction; a region already at its working size is filled there and returned
    with its correction. A subclass writes :meth:`lift` only; it must not override ``run`` (a lifter that needs
    another ``run`` is a plain :class:`Lifter` built from this module's functions). A subclass that sets
    ``corrects`` adds the correction inside :meth:`lift` itself (before its own detail steps), and ``run`` then
    does not add it again."""

    #: whether :meth:`lift` adds ``filled.correction`` itself
    corrects: ClassVar[bool] = False

    def run(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> np.ndarray:
        """:meth:`Lifter.run` by the two-step scheme."""
        box = checked_box(box, mask)
        if working_mask.shape == mask.shape:
            return fill_at_native_size(image, mask, filler).corrected()[box.slices]
        filled, working_image = fill_at_working_size(image, working_mask, filler)
        return self.lift_corrected(image, mask, filled, working_mask, box=box, working_image=working_image)

    def lift_corrected(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filled: FillResult,
        working_mask: np.ndarray,
        box: Box | None = None,
        working_image: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`lift` with the fill's correction in it (added here unless the class ``corrects`` itself)."""
        lifted = self.lift(image, mask, filled, working_mask, box=box, working_image=working_image)
        return lifted if self.corrects else add_correction(lifted, filled, mask, checked_box(box, mask))

    @abstractmethod
    def lift(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filled: FillResult,
        working_mask: np.ndarray,
        box: Box | None = None,
        working_image: np.ndarray | None = None,
    ) -> np.ndarray:
        """Returns the full-resolution fill of ``image``'s hole over ``box``, from ``filled`` (the working fill);
        ``filled.correction`` is left to the caller (:func:`add_correction`) unless the class ``corrects``.

        Shape:
            image: ``H x W x 3`` uint8, uint16, or float in [0, 1] (hole pixels never used); mask: ``H x W``
            bool; ``filled.image``: ``h x w x 3``; working_mask: ``h x w`` bool; box: a part of the region
            holding every hole pixel, ``None`` for the whole region; working_image: ``image`` area-downsampled
            to ``h x w`` float32 with the working hole cleared, when the caller has it (saves a pass over the
            region).
            Returns ``box.height x box.width x 3`` float32.
        """


def registered_two_step(name: str) -> TwoStepLifter:
    """The registered lifter ``name`` (``"default"``: the default method's), refused unless it is a
    :class:`TwoStepLifter`: a lifter that builds on another's lift (``shift``'s stage 1, ``refine``'s default
    output) needs one that can lift a given working fill."""
    from hrinpaint.lifters import LIFTERS
    from hrinpaint.methods import DEFAULT_METHOD, resolve_method

    lifter = LIFTERS.build(resolve_method(DEFAULT_METHOD).lifter if name == "default" else name)
    if not isinstance(lifter, TwoStepLifter):
        raise ConfigError(f"lifter {name!r} does not lift a given working fill; a two-step lifter is needed here")
    return lifter


def checked_box(box: Box | None, mask: np.ndarray) -> Box:
    """``box``, or the whole region for ``None``; raises ``ValueError`` unless it lies in the region and holds
    every hole pixel."""
    height, width = mask.shape
    if box is None:
        return Box(0, 0, height, width)
    if not (0 <= box.top < box.bottom <= height and 0 <= box.left < box.right <= width):
        raise ValueError(f"box {box} does not lie in a region of {mask.shape}")
    hole = bounding_box(mask)
    if hole is not None and not box.contains(hole):
        raise ValueError(f"box {box} does not hold the hole's bounding box {hole}")
    return box


def add_correction(lifted: np.ndarray, filled: FillResult, mask: np.ndarray, box: Box) -> np.ndarray:
    """``lifted`` (the fill over ``box`` at full resolution) plus the fill's ``correction`` brought up bilinearly,
    in the hole, clipped; ``lifted`` itself when the fill has none. A filler's smooth correction (a network's
    low band) so survives whatever the lifter does to its image."""
    if filled.correction is None:
        return lifted
    from hrinpaint.ops.patches import bilinear_window

    up = bilinear_window(np.ascontiguousarray(filled.correction, dtype=np.float32), mask.shape, box)
    corrected = np.clip(lifted + up, 0.0, 1.0)
    return np.where(mask[box.slices][..., None], corrected, lifted).astype(np.float32)
