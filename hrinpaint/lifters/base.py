"""The detail step: from a fill at the working resolution to a fill at full resolution."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.ops.resize import area_downsample


class Lifter(ABC):
    """Turns a region at full resolution into a filled region, using a filler at the working resolution.

    The default :meth:`run` is the two-step scheme shared by most methods: area-downsample the region to the
    working size, fill it there, then :meth:`lift` the fill back to full resolution. A method that interleaves
    the two (a generator pyramid, zoom-in refinement) overrides :meth:`run` instead.
    """

    def run(self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray) -> np.ndarray:
        """Fills ``image`` where ``mask`` is True, working at the size of ``working_mask``.

        Shape:
            image: ``H x W x 3`` float32 in [0, 1], hole pixels zeroed; mask: ``H x W`` bool;
            working_mask: ``h x w`` bool, ``mask`` downsampled (any covered hole pixel makes a hole), or ``mask``
            itself when the region is filled at its own resolution.
            Returns ``H x W x 3`` float32; only its hole pixels are used by the caller.
        """
        if working_mask.shape == mask.shape:
            return filler.fill(image, mask).image
        working_image = area_downsample(image, working_mask.shape)
        working_image[working_mask] = 0.0  # cells that averaged hole zeros in are holes too; clear them
        filled = filler.fill(working_image, working_mask)
        return self.lift(image, mask, filled, working_mask)

    @abstractmethod
    def lift(self, image: np.ndarray, mask: np.ndarray, filled: FillResult, working_mask: np.ndarray) -> np.ndarray:
        """Returns the full-resolution fill of ``image``'s hole from ``filled`` (the working-resolution fill).

        Shape:
            image: ``H x W x 3`` float32 (hole zeroed); mask: ``H x W`` bool; ``filled.image``: ``h x w x 3``;
            working_mask: ``h x w`` bool.
        """
