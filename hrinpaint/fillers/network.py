"""What every network filler does around its network: run it at its own size, bring the fill back, paste the hole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrinpaint.errors import InputError
from hrinpaint.fillers.base import check_fill_input
from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side, resize_bilinear

if TYPE_CHECKING:
    import torch


_MODELS: dict[str, tuple[Any, dict[str, Any]]] = {}


@dataclass(frozen=True)
class NetworkFillerConfig:
    """Options every network filler has.

    Attributes:
        weights: a ``.safetensors`` file with its manifest; None for the shipped network.
        size: long side the network runs at; None for the filler's default (from the manifest), 0 for the
            working size as given.
        threads: torch CPU threads; 0 keeps torch's default.
    """

    weights: str | None = None
    size: int | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


def load_cached(path: Path, model_name: str) -> tuple[Any, dict[str, Any]]:
    """The model and manifest at ``path``, loaded once per process; weights of another model are an error."""
    from hrinpaint.nn.weights import load_model

    key = str(path.resolve())
    if key not in _MODELS:
        model, manifest = load_model(path)
        if manifest["model"] != model_name:
            raise InputError(f"weights {path} hold a {manifest['model']!r} model, not {model_name}")
        _MODELS[key] = model, manifest
    return _MODELS[key]


def fill_at_size(
    image: np.ndarray,
    mask: np.ndarray,
    size: int | None,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    threads: int = 0,
) -> np.ndarray:
    """Runs ``run(net_image, net_mask) -> net_fill`` with the long side shrunk to ``size`` (None: as given).

    The input is checked; an image without hole comes back as a copy and ``run`` is not called. Otherwise the
    image is area-downsampled and the mask shrunk so that any pixel touching the hole is hole; the fill is
    brought back bilinearly and only hole pixels are taken from it. ``threads`` (0 = torch's default) sets
    torch's CPU threads first.

    Shape:
        image ``H x W x 3`` float32 in [0, 1], mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    check_fill_input(image, mask)
    if not mask.any():
        return image.copy()
    if threads:
        import torch  # noqa: F811 - imported here so that importing this module does not load torch

        torch.set_num_threads(threads)
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
