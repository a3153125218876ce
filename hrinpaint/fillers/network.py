"""What every network filler does around its network: run it at its own size, bring the fill back, paste the hole."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side, resize_bilinear

if TYPE_CHECKING:
    import torch


def fill_at_size(
    image: np.ndarray,
    mask: np.ndarray,
    size: int | None,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Runs ``run(net_image, net_mask) -> net_fill`` with the long side shrunk to ``size`` (None: as given).

    The image is area-downsampled and the mask shrunk so that any pixel touching the hole is hole; the fill is
    brought back bilinearly and only hole pixels are taken from it.

    Shape:
        image ``H x W x 3`` float32 in [0, 1], mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    shape = image.shape[:2]
    net_shape = fit_long_side(shape, size) if size else shape
    scaled = net_shape != shape
    net_image = area_downsample(image, net_shape) if scaled else image
    net_mask = downsample_mask(mask, net_shape) if scaled else mask
    net_fill = run(net_image, net_mask)
    fill = resize_bilinear(net_fill, shape) if scaled else net_fill
    return np.where(mask[..., None], fill, image).astype(np.float32)


def to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``1 x 3 x H x W`` and ``1 x 1 x H x W`` float tensors from the canonical arrays."""
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    return (
        torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None],
        torch.from_numpy(mask.astype(np.float32))[None, None],
    )
