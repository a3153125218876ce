"""What every network filler does around its network: run it at its own size, bring the fill back, paste the hole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrinpaint.device import MODELS, check_device_name, model_placement, torch_threads
from hrinpaint.errors import InputError
from hrinpaint.fillers.attention import CellAttention
from hrinpaint.fillers.base import FillResult, check_fill_input
from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side, resize_bilinear

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class NetworkFillerConfig:
    """Options every network filler has.

    Attributes:
        weights: a ``.safetensors`` file with its manifest; None for the shipped network.
        size: long side the network runs at; None for the filler's default (from the manifest), 0 for the
            working size as given.
        threads: torch CPU threads during a fill (put back afterwards); 0 keeps torch's setting.
        device: where the network runs: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.
        half: run the network in float16 on a GPU (ignored on the CPU).
        residual_lift: for a network that starts from a Telea prefill and runs below the working size, bring back
            only what it changed: the working image's own Telea fill plus the upsampled difference between the
            network's fill and Telea's at the network's size (False: the network's fill upsampled). An untrained
            network then gives exactly Telea at the working size, and a trained one keeps the border detail that
            upsampling a smaller fill blurs.
        attention: hand the network's attention scores to the lifter (``cra`` moves context residuals along
            them); False lets ``cra`` find its own by cell similarity. Where a filler defaults to False it
            measured better that way.
    """

    weights: str | None = None
    size: int | None = None
    threads: int = 0
    device: str = "auto"
    half: bool = False
    residual_lift: bool = True
    attention: bool = True

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        check_device_name(self.device)


def shipped_weights(name: str) -> Path:
    """Path of a weights file shipped in ``hrinpaint/weights``."""
    return Path(str(resources.files("hrinpaint") / "weights" / name))


def weights_path(weights: str | None, shipped: str, model_name: str, hint: str) -> Path:
    """The weights to load: ``weights`` when given, else the shipped file (``shipped`` empty: none ship, so
    ``weights`` is required); a readable error naming ``hint`` when they are missing. The one lookup of every
    network part (fillers and lifters)."""
    if weights:
        path = Path(weights)
        if not path.exists():
            raise InputError(f"{model_name} weights {path} do not exist; {hint}")
        return path
    if not shipped:
        raise InputError(f"{model_name} needs weights (none ship with hrinpaint): {hint}")
    path = shipped_weights(shipped)
    if not path.exists():
        raise InputError(f"no {model_name} weights ship with hrinpaint yet: {hint}")
    return path


def load_cached(path: Path, model_name: str, device: str = "cpu", half: bool = False) -> tuple[Any, dict[str, Any]]:
    """The model and manifest at ``path`` on ``device`` (float16 with ``half``, never on the CPU), loaded once per
    process, device and precision (:data:`hrinpaint.device.MODELS`); weights of another model are an error."""
    return MODELS.load(path, model_name, device, half)


def fill_at_size(
    image: np.ndarray,
    mask: np.ndarray,
    size: int | None,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    threads: int = 0,
    prefill: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Runs ``run(net_image, net_mask) -> net_fill`` with the long side shrunk to ``size`` (None: as given).

    The input is checked; an image without hole comes back as a copy and ``run`` is not called. Otherwise the
    image is area-downsampled and the mask shrunk so that any pixel touching the hole is hole; the fill is
    brought back bilinearly and only hole pixels are taken from it. ``threads`` (0 = torch's setting) sets
    torch's CPU threads while ``run`` runs. With ``prefill(image, mask) -> filled image`` (the fill the network
    starts from), a scaled run brings back only the network's change: ``prefill`` at the full size plus the upsampled
    ``net_fill - prefill(net_image, net_mask)``.

    Shape:
        image ``H x W x 3`` float32 in [0, 1], mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    check_fill_input(image, mask)
    if not mask.any():
        return image.copy()
    shape = image.shape[:2]
    net_shape = fit_long_side(shape, size) if size else shape
    scaled = net_shape != shape
    net_image = area_downsample(image, net_shape) if scaled else image
    net_mask = downsample_mask(mask, net_shape) if scaled else mask
    with torch_threads(threads):
        net_fill = run(net_image, net_mask)
    if not scaled:
        fill = net_fill
    elif prefill is None:
        fill = resize_bilinear(net_fill, shape)
    else:
        change = net_fill - prefill(net_image, net_mask)
        fill = np.clip(prefill(image, mask) + resize_bilinear(change.astype(np.float32), shape), 0.0, 1.0)
    return np.where(mask[..., None], fill, image).astype(np.float32)


def batch_prefill(image: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor | None:
    """The hole's prefill for a ``B x 3 x H x W`` batch (None for ``kind == "none"``), computed on the CPU: what a
    prefilled network starts from, the same in training and in the fillers."""
    if kind == "none":
        return None
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    from hrinpaint.fillers.opencv import telea_prefill

    images = image.detach().cpu().permute(0, 2, 3, 1).numpy()
    holes = mask.detach().cpu()[:, 0].numpy() > 0.5
    filled = np.stack([telea_prefill(np.ascontiguousarray(x), h) for x, h in zip(images, holes, strict=True)])
    return torch.from_numpy(filled).permute(0, 3, 1, 2).contiguous().to(image.device, image.dtype)


def to_tensors(image: np.ndarray, mask: np.ndarray, model: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``1 x 3 x H x W`` and ``1 x 1 x H x W`` float tensors from the canonical arrays, on ``model``'s device and in
    its dtype when a model is given."""
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    image_tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    mask_tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    if model is None:
        return image_tensor, mask_tensor
    device, dtype = model_placement(model)
    return image_tensor.to(device, dtype), mask_tensor.to(device, dtype)


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """A ``1 x 3 x H x W`` network output as an ``H x W x 3`` float32 array on the host."""
    return tensor[0].permute(1, 2, 0).float().cpu().numpy()


def cell_attention(out: Any, shape: tuple[int, int]) -> CellAttention:
    """A generator's attention scores (``out.scores``: ``1 x N x N``, ``out.hole_cells``, ``out.grid``) as cell
    attention over ``shape``; the grid covers the network's padded image, so it matches ``shape`` up to the
    padding."""
    scores = out.scores[0].float().cpu().numpy()
    hole = out.hole_cells[0, 0].float().cpu().numpy().reshape(-1) > 0.5
    hole_cells = np.flatnonzero(hole)
    context = np.flatnonzero(scores[hole_cells].sum(axis=0) > 0) if len(hole_cells) else np.zeros(0, np.int64)
    weights = scores[np.ix_(hole_cells, context)].astype(np.float32)
    return CellAttention(shape, out.grid, hole_cells.astype(np.int64), context.astype(np.int64), weights)


class GeneratorFiller:
    """A trained generator with contextual attention as a filler (``hifill``, ``zoom``, ``pyramid``).

    The network runs at :attr:`network_size` (a larger working image is area-downsampled for it and its fill
    brought back); a ``telea``-prefilled generator gets Telea's fill of its hole; its attention scores go to
    ``cra`` as :class:`~hrinpaint.fillers.attention.CellAttention`. A subclass names its ``model_name``, its
    ``shipped`` weights file and a ``train_hint``, and may change :meth:`default_size`.
    """

    Config = NetworkFillerConfig
    model_name = ""
    shipped = ""
    train_hint = "train and export them (see configs/) or pass weights"

    def __init__(self, config: NetworkFillerConfig | None = None) -> None:
        self.config = config or self.Config()
        path = weights_path(self.config.weights, self.shipped, self.model_name, self.train_hint)
        self.model, self.manifest = load_cached(path, self.model_name, self.config.device, self.config.half)

    def default_size(self) -> int | None:
        """The network's long side when the config leaves it open: its training resolution."""
        return int(self.manifest.get("training", {}).get("resolution", 0)) or None

    @property
    def network_size(self) -> int | None:
        """Long side of the network's input; None for the working size as given."""
        if self.config.size is None:
            return self.default_size()
        return self.config.size or None

    def telea(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """Telea's fill of a ``1 x 3 x H x W`` image's hole (``mask`` ``1 x 1 x H x W``) for a ``telea``-prefilled
        generator; None for one without a prefill."""
        return batch_prefill(image, mask, self.model.config.prefill)

    def network_call(self, shape: tuple[int, int]) -> tuple[int | None, Callable[[torch.Tensor, torch.Tensor], Any]]:
        """For a working image of ``shape``: the long side to run the network at (None: as given) and the call
        ``(image, mask) -> output`` on its tensors."""
        return self.network_size, lambda image, mask: self.model(image, mask, self.telea(image, mask))

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        import torch  # noqa: F811 - imported here so that importing this module does not load torch

        size, call = self.network_call(image.shape[:2])
        outputs = []

        def run(net_image: np.ndarray, net_mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                outputs.append(call(*to_tensors(net_image, net_mask, self.model)))
            return to_array(outputs[0].image)

        prefill = None
        if self.config.residual_lift and self.model.config.prefill == "telea":
            from hrinpaint.fillers.opencv import telea_prefill

            prefill = telea_prefill
        result = fill_at_size(image, mask, size, run, self.config.threads, prefill)
        attention = cell_attention(outputs[0], image.shape[:2]) if outputs and self.config.attention else None
        return FillResult(result, attention)
