"""The HiFill generator as a filler: a trained network fills the working image and hands its attention to ``cra``.

The network runs at ``size`` (by default the resolution it was trained at, from its manifest); a larger working
image is area-downsampled for it and its fill upsampled back. Its attention scores (one cell per 16 x 16 network
pixels) become a :class:`~hrinpaint.fillers.attention.CellAttention`, so ``hifill+cra`` moves full-resolution
residuals with the network's own choice of context, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hrinpaint.fillers.attention import CellAttention
from hrinpaint.fillers.base import FillResult
from hrinpaint.fillers.network import NetworkFillerConfig, fill_at_size, load_cached, to_tensors
from hrinpaint.fillers.opencv import telea_prefill

#: The weights that ship inside the package.
SHIPPED_WEIGHTS = "hifill.safetensors"


def shipped_weights(name: str = SHIPPED_WEIGHTS) -> Path:
    """Path of a weights file shipped in ``hrinpaint/weights``."""
    return Path(str(resources.files("hrinpaint") / "weights" / name))


@dataclass(frozen=True)
class HiFillFillerConfig(NetworkFillerConfig):
    """Options of the ``hifill`` filler; ``size`` None is its training resolution."""


class HiFillFiller:
    """Fills with the HiFill generator (weights from :attr:`HiFillFillerConfig.weights` or the shipped ones)."""

    Config = HiFillFillerConfig

    def __init__(self, config: HiFillFillerConfig | None = None) -> None:
        self.config = config or HiFillFillerConfig()
        weights = Path(self.config.weights) if self.config.weights else shipped_weights()
        self.model, self.manifest = load_cached(weights, "hifill")

    @property
    def network_size(self) -> int | None:
        if self.config.size is None:
            return int(self.manifest.get("training", {}).get("resolution", 0)) or None
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
        return FillResult(result, self._attention(outputs[0], image.shape[:2]) if outputs else None)

    @staticmethod
    def _attention(out: Any, shape: tuple[int, int]) -> CellAttention:
        """The network's scores as cell attention over ``shape``; cells follow the network's 16 px grid."""
        scores = out.scores[0].numpy()
        hole = out.hole_cells[0, 0].numpy().reshape(-1) > 0.5
        hole_cells = np.flatnonzero(hole)
        context = np.flatnonzero(scores[hole_cells].sum(axis=0) > 0) if len(hole_cells) else np.zeros(0, np.int64)
        weights = scores[np.ix_(hole_cells, context)].astype(np.float32)
        return CellAttention(shape, out.grid, hole_cells.astype(np.int64), context.astype(np.int64), weights)
