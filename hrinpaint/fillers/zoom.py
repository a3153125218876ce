"""The Zoom-to-Inpaint generator as a filler: coarse fill, x2 zoom, high-resolution refinement, zoom back out.

The network runs at ``size`` (by default half its training crop: the crop is the high-resolution label and the
network's input was that crop area-downsampled by 2); a larger working image is area-downsampled for it and its
fill upsampled back. The refiner's attention scores become a
:class:`~hrinpaint.fillers.attention.CellAttention`, so the method ``zoom`` (``zoom+cra``) moves full-resolution
residuals with the network's own choice of context above the working size.
"""

from __future__ import annotations

from dataclasses import dataclass

from hrinpaint.fillers.network import GeneratorFiller, NetworkFillerConfig, shipped_weights

__all__ = ["LABEL_SCALE", "SHIPPED_WEIGHTS", "ZoomFiller", "ZoomFillerConfig", "shipped_weights"]

#: The weights that ship inside the package (``configs/zoom-cpu.toml``).
SHIPPED_WEIGHTS = "zoom.safetensors"

#: The training crop is this many times the network's input size.
LABEL_SCALE = 2


@dataclass(frozen=True)
class ZoomFillerConfig(NetworkFillerConfig):
    """Options of the ``zoom`` filler; ``size`` None is half its training crop (its high-resolution label)."""


class ZoomFiller(GeneratorFiller):
    """Fills with the Zoom-to-Inpaint generator (weights from :attr:`ZoomFillerConfig.weights` or shipped ones)."""

    Config = ZoomFillerConfig
    model_name = "zoom"
    shipped = SHIPPED_WEIGHTS
    train_hint = (
        "train and export them (`hrinpaint train configs/zoom-cpu.toml --run runs/zoom`, then export the run to "
        "hrinpaint/weights/zoom.safetensors) or pass weights"
    )

    def default_size(self) -> int | None:
        """Half the training crop: the crop was the label, the network's input that crop halved."""
        crop = int(self.manifest.get("training", {}).get("resolution", 0))
        return crop // LABEL_SCALE or None
