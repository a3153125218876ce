"""The Zoom-to-Inpaint generator as a filler: coarse fill, x2 zoom, high-resolution refinement, zoom back out.

The network runs at ``size`` (by default half its training crop: the crop is the high-resolution label and the
network's input was that crop area-downsampled by 2); a larger working image is area-downsampled for it, and its
change to the default's fill comes back below a Gaussian only (see
:class:`~hrinpaint.fillers.network.GeneratorFiller`). With ``attention = True`` the refiner's attention scores
become a :class:`~hrinpaint.fillers.attention.CellAttention`, so ``zoom+cra`` moves full-resolution residuals with
the network's own choice of context above the working size.
"""

from __future__ import annotations

from dataclasses import dataclass

from hrinpaint.fillers.network import GeneratorFiller, NetworkFillerConfig, shipped_weights

__all__ = ["SHIPPED_WEIGHTS", "ZoomFiller", "ZoomFillerConfig", "shipped_weights"]

#: The weights that ship inside the package (``configs/zoom-cpu.toml``).
SHIPPED_WEIGHTS = "zoom.safetensors"


@dataclass(frozen=True)
class ZoomFillerConfig(NetworkFillerConfig):
    """Options of the ``zoom`` filler; ``size`` None is its training crop.

    The network learned from crops halved (its input) and the crops themselves (the refiner's labels). Run on
    inputs the size of the crop (the refiner then works at twice that), it measured best on Kodak at 512 px
    (24 photos, medium and thick holes, hole PSNR): 18.04 dB, against 17.95 at half the crop (its training
    input) and 17.87 at the working size; Telea 17.80 (``scripts/compare_variants.py``, 2026-11-23).
    """


class ZoomFiller(GeneratorFiller):
    """Fills with the Zoom-to-Inpaint generator (weights from :attr:`ZoomFillerConfig.weights` or shipped ones)."""

    Config = ZoomFillerConfig
    model_name = "zoom"
    shipped = SHIPPED_WEIGHTS
    train_hint = (
        "train and export them (`hrinpaint train configs/zoom-cpu.toml --run runs/zoom`, then export the run to "
        "hrinpaint/weights/zoom.safetensors) or pass weights"
    )
