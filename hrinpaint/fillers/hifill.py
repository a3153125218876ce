"""The HiFill generator as a filler: a trained network corrects the default's fill of the working image.

The network runs at ``size`` (by default the resolution it was trained at, from its manifest); a larger working
image is area-downsampled for it, and its change to the default's fill comes back below a Gaussian only (see
:class:`~hrinpaint.fillers.network.GeneratorFiller`). With ``attention = True`` its attention scores (one cell per
16 x 16 network pixels) become a :class:`~hrinpaint.fillers.attention.CellAttention`, so ``hifill+cra`` moves
full-resolution residuals with the network's own choice of context, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrinpaint.fillers import network
from hrinpaint.fillers.network import GeneratorFiller, NetworkFillerConfig

#: The weights that ship inside the package.
SHIPPED_WEIGHTS = "hifill.safetensors"


def shipped_weights(name: str = SHIPPED_WEIGHTS) -> Path:
    """Path of a weights file shipped in ``hrinpaint/weights`` (the HiFill generator's by default)."""
    return network.shipped_weights(name)


@dataclass(frozen=True)
class HiFillFillerConfig(NetworkFillerConfig):
    """Options of the ``hifill`` filler; ``size`` None is its training resolution."""


class HiFillFiller(GeneratorFiller):
    """Fills with the HiFill generator (weights from :attr:`HiFillFillerConfig.weights` or the shipped ones)."""

    Config = HiFillFillerConfig
    model_name = "hifill"
    shipped = SHIPPED_WEIGHTS
    train_hint = "train and export them (`hrinpaint train configs/hifill-cpu.toml`) or pass weights"
