"""The Zoom-to-Inpaint generator as a filler: coarse fill, x2 zoom, high-resolution refinement, zoom back out.

The network runs at ``size`` (by default half its training crop: the crop is the high-resolution label and the
network's input was that crop area-downsampled by 2); a larger working image is area-downsampled for it and its
fill upsampled back. The refiner's attention scores become a
:class:`~hrinpaint.fillers.attention.CellAttention`, so the method ``zoom`` (``zoom+cra``) moves full-resolution
residuals with the network's own choice of context above the working size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrinpaint.errors import InputError
from hrinpaint.fillers.attention import CellAttention
from hrinpaint.fillers.base import FillResult
from hrinpaint.fillers.hifill import shipped_weights
from hrinpaint.fillers.network import NetworkFillerConfig, fill_at_size, load_cached, to_tensors
from hrinpaint.fillers.opencv import telea_prefill

#: The weights that ship inside the package (once trained: ``configs/zoom-cpu.toml``).
SHIPPED_WEIGHTS = "zoom.safetensors"

#: The training crop is this many times the network's input size.
LABEL_SCALE = 2

_TRAIN_HINT = (
    "train and export them (`hrinpaint train configs/zoom-cpu.toml --run runs/zoom`, then export the run to "
    "hrinpaint/weights/zoom.safetensors) or pass weights"
)


@dataclass(frozen=True)
class ZoomFillerConfig(NetworkFillerConfig):
    """Options of the ``zoom`` filler; ``size`` None is half its training crop (its high-resolution label)."""


class ZoomFiller:
    """Fills with the Zoom-to-Inpaint generator (weights from :attr:`ZoomFillerConfig.weights` or shipped ones)."""

    Config = ZoomFillerConfig

    def __init__(self, config: ZoomFillerConfig | None = None) -> None:
        self.config = config or ZoomFillerConfig()
        if self.config.weights:
            weights = Path(self.config.weights)
            if not weights.exists():
                raise InputError(f"zoom weights {weights} do not exist")
        else:
            weights = shipped_weights(SHIPPED_WEIGHTS)
            if not weights.exists():
                raise InputError(f"no zoom weights ship with hrinpaint yet: {_TRAIN_HINT}")
        self.model, self.manifest = load_cached(weights, "zoom")

    @property
    def network_size(self) -> int | None:
        """Long side of the network's input; None for the working size as given."""
        if self.config.size is None:
            crop = int(self.manifest.get("training", {}).get("resolution", 0))
            return crop // LABEL_SCALE or None
        return self.config.size or None

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        import torch

        outputs = []

        def run(net_image: np.ndarray, net_mask: np.ndarray) -> np.ndarray:
            prefill = None
            if self.model.config.prefill == "telea":
                prefill = torch.from_numpy(telea_prefill(net_image, net_mask).transpose(2, 0, 1).copy())[None]
            with torch.inference_mode():
                outputs.append(self.model(*to_tensors(net_image, net_mask), prefill))
            return outputs[0].image[0].permute(1, 2, 0).numpy()

        result = fill_at_size(image, mask, self.network_size, run, self.config.threads)
        return FillResult(result, cell_attention(outputs[0], image.shape[:2]) if outputs else None)


def cell_attention(out: Any, shape: tuple[int, int]) -> CellAttention:
    """A network's attention scores (``out.scores``, ``out.hole_cells``, ``out.grid``) as cell attention over
    ``shape``; the grid covers the network's padded image, so it matches ``shape`` up to the padding."""
    scores = out.scores[0].numpy()
    hole = out.hole_cells[0, 0].numpy().reshape(-1) > 0.5
    hole_cells = np.flatnonzero(hole)
    context = np.flatnonzero(scores[hole_cells].sum(axis=0) > 0) if len(hole_cells) else np.zeros(0, np.int64)
    weights = scores[np.ix_(hole_cells, context)].astype(np.float32)
    return CellAttention(shape, out.grid, hole_cells.astype(np.int64), context.astype(np.int64), weights)
