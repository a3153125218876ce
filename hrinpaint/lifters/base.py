"""The detail step: from a fill at the working resolution to a fill at full resolution."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.ops.resize import area_downsample_pixels
from hrinpaint.pixels import to_float


class Lifter(ABC):
    """Turns a region at full resolution into a filled region, using a filler at the working resolution.

    The default :meth:`run` is the two-step scheme shared by most methods: area-downsample the region to the
    working size, fill it there, then :meth:`lift` the fill back to full resolution. A method that interleaves
    the two (a generator pyramid, zoom-in refinement) overrides :meth:`run` instead.

    The region comes as it is stored (a view into a uint8 photo, usually) and the result covers only ``box``:
    at 8K, a float copy of a whole region is hundreds of megabytes that take longer to allocate than the lift
    itself takes to run.
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
        box = checked_box(box, mask)
        if working_mask.shape == mask.shape:
            region = to_float(image)
            region[mask] = 0.0  # the filler must not see the hole's old content
            return filler.fill(region, mask).corrected()[box.slices]
        # Working pixels that any hole pixel touches are holes, and cleared: so the averages of the others saw
        # known pixels only, and the hole needs no clearing at full resolution.
        working_image = area_downsample_pixels(image, working_mask.shape)
        working_image[working_mask] = 0.0
        filled = filler.fill(working_image.copy(), working_mask)
        lifted = self.lift(image, mask, filled, working_mask, box=box, working_image=working_image)
        return add_correction(lifted, filled, mask, box)

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
        """Returns the full-resolution fill of ``image``'s hole over ``box``, from ``filled`` (the working fill).

        Shape:
            image: ``H x W x 3`` uint8, uint16, or float in [0, 1] (hole pixels never used); mask: ``H x W``
            bool; ``filled.image``: ``h x w x 3``; working_mask: ``h x w`` bool; box: a part of the region
            holding every hole pixel, ``None`` for the whole region; working_image: ``image`` area-downsampled
            to ``h x w`` float32 with the working hole cleared, when the caller has it (saves a pass over the
            region).
            Returns ``box.height x box.width x 3`` float32.
        """


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
