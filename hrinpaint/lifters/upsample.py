"""The naive lifter, the baseline to beat: resample the working-resolution fill to full size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.base import FillResult
from hrinpaint.lifters.base import TwoStepLifter, checked_box
from hrinpaint.ops.patches import bilinear_window
from hrinpaint.ops.regions import Box
from hrinpaint.ops.resize import resize_bicubic


@dataclass(frozen=True)
class UpsampleConfig:
    """Attributes:
    interpolation: ``"bicubic"`` or ``"bilinear"``.
    """

    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ConfigError(f"interpolation must be 'bicubic' or 'bilinear', got {self.interpolation!r}")


class UpsampleLifter(TwoStepLifter):
    """Bicubic (or bilinear) upsampling of the fill: right colours and structure, no high-frequency detail."""

    Config = UpsampleConfig

    def __init__(self, config: UpsampleConfig | None = None) -> None:
        self.config = config or UpsampleConfig()

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
        if self.config.interpolation == "bilinear":
            return bilinear_window(filled.image, mask.shape, box)
        return resize_bicubic(filled.image, mask.shape)[box.slices]
