"""The LaMa generator as a filler, from the official checkpoints converted by ``hrinpaint models import-lama``.

No LaMa weights ship with hrinpaint: convert the official Big-LaMa ``best.ckpt`` once and pass the result as
``weights`` (``--weights`` on the command line). LaMa generalises well above its training resolution, so it runs at
the working size as given unless ``size`` says otherwise. Its generator declares a front/rear split, which makes
``lama+refine`` the paper's system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrinpaint.device import check_device_name
from hrinpaint.errors import ConfigError
from hrinpaint.fillers.base import FillResult
from hrinpaint.fillers.network import fill_at_size, load_cached, to_array, to_tensors, weights_path

_CONVERT_HINT = "convert the official best.ckpt with `hrinpaint models import-lama best.ckpt -o big-lama.safetensors`"


@dataclass(frozen=True)
class LamaFillerConfig:
    """Options of the ``lama`` filler.

    Attributes:
        weights: a ``.safetensors`` file with its manifest, made by ``hrinpaint models import-lama`` (required).
        size: long side the network runs at (a larger working image is area-downsampled for it); 0 for the
            working size as given.
        threads: torch CPU threads during a fill (put back afterwards); 0 keeps torch's setting.
        device: where the network runs: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.
            There is no ``half``: LaMa's Fourier layers stay in float32 (cuFFT takes float16 only for power-of-two
            sizes, and a working image rarely has them).
    """

    weights: str | None = None
    size: int = 0
    threads: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.size < 0 or self.threads < 0:
            raise ConfigError(f"size and threads must be >= 0, got {self.size} and {self.threads}")
        check_device_name(self.device)


class LamaFiller:
    """Fills with the LaMa generator; ``model`` is the generator (front/rear split for ``refine``)."""

    Config = LamaFillerConfig

    def __init__(self, config: LamaFillerConfig | None = None) -> None:
        self.config = config or LamaFillerConfig()
        path = weights_path(self.config.weights, "", "lama", _CONVERT_HINT)
        self.model, self.manifest = load_cached(path, "lama", self.config.device)

    @property
    def network_size(self) -> int | None:
        """Long side the network runs at; None for the working size as given."""
        return self.config.size or None

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        import torch

        def run(net_image: np.ndarray, net_mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = self.model(*to_tensors(net_image, net_mask, self.model))
            return to_array(out)

        return FillResult(fill_at_size(image, mask, self.config.size, run, self.config.threads))
