"""Diffusion fillers from OpenCV: Telea's fast marching and Navier-Stokes. Cheap, smooth, no weights."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.base import FillResult, check_fill_input
from hrinpaint.pixels import from_float


@dataclass(frozen=True)
class DiffusionConfig:
    """Options of the OpenCV diffusion fillers.

    Attributes:
        radius: neighbourhood radius in working-resolution pixels that each filled pixel averages over.
    """

    radius: float = 5.0

    def __post_init__(self) -> None:
        if self.radius <= 0:
            raise ConfigError(f"radius must be positive, got {self.radius}")


def diffuse(image: np.ndarray, mask: np.ndarray, radius: float, flags: int) -> np.ndarray:
    """Runs ``cv2.inpaint`` on float input without quantising: OpenCV only takes 8-bit images, so the 8-bit fill
    is used for hole pixels only and known pixels keep their float values."""
    check_fill_input(image, mask)
    as_bytes = from_float(image, np.uint8)
    filled = cv2.inpaint(as_bytes, mask.astype(np.uint8), radius, flags).astype(np.float32) / 255.0
    return np.where(mask[:, :, None], filled, image)


class _DiffusionFiller:
    """An OpenCV diffusion method, chosen by the subclass's ``flags``."""

    Config = DiffusionConfig
    flags: int

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.config = config or DiffusionConfig()

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        return FillResult(diffuse(image, mask, self.config.radius, self.flags))


class TeleaFiller(_DiffusionFiller):
    """Telea (2004) fast-marching inpainting."""

    flags = cv2.INPAINT_TELEA


class NavierStokesFiller(_DiffusionFiller):
    """Bertalmio et al. (2001) Navier-Stokes inpainting."""

    flags = cv2.INPAINT_NS


def telea_prefill(image: np.ndarray, mask: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """The diffusion fill a ``prefill = "telea"`` network starts from (training and inference use this one).

    Shape:
        image ``H x W x 3`` float32 in [0, 1] (hole pixels ignored), mask ``H x W`` bool; returns the same shape.
    """
    return diffuse(np.where(mask[:, :, None], 0.0, image).astype(np.float32), mask, radius, cv2.INPAINT_TELEA)
