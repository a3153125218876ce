"""The Pyramid Generator as a filler: sub-generators from a quarter of the working size up, structure first.

The network's top level runs at ``size`` (by default its training crop, from its manifest); a larger working image
is area-downsampled for it, every level prefilled with the default's fill, and only its change below a Gaussian
is kept (see :class:`~hrinpaint.fillers.network.GeneratorFiller`; the method ``pyramid`` takes the default
method's lifter). With ``attention = True`` the top level's attention scores become a
:class:`~hrinpaint.fillers.attention.CellAttention` for ``cra``; by default the lifter gets the default's offset
field and lifts as the default does.

``extra_levels`` is the paper's other way up: while the working image is at least twice the top level, the top
sub-generator runs again at x2 (its weights reused, fused like any level), up to ``extra_levels`` times; the
network then covers up to ``size * 2 ** extra_levels`` of the working image itself, and ``cra`` only the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.network import GeneratorFiller, NetworkFillerConfig, Prefill, shipped_weights

if TYPE_CHECKING:
    import torch

__all__ = ["SHIPPED_WEIGHTS", "PyramidFiller", "PyramidFillerConfig", "extra_levels_for", "shipped_weights"]

#: The weights that ship inside the package (trained with ``configs/pyramid-cpu.toml``).
SHIPPED_WEIGHTS = "pyramid.safetensors"


@dataclass(frozen=True)
class PyramidFillerConfig(NetworkFillerConfig):
    """Options of the ``pyramid`` filler; ``size`` None is its training crop (the top level's size).

    Attributes:
        extra_levels: at most this many levels above the top one, each x2, run by the top sub-generator while
            the working image's long side is at least the next level's size (never with ``size = 0``). 1 by
            default: the shipped 256 px pyramid then fills a 512 px working image with a fourth level at 512 px,
            and ``cra`` lifts the rest. Measured against 0 (the top level's fill brought to the working size, then
            ``cra``) with ``scripts/compare_variants.py``, 2026-11-23: Kodak at 512 px (medium, thick) 18.33
            against 18.16 dB hole PSNR; 6 hires photos (thick, box) at 1024 px 18.39 against 18.15, at 2048 px
            19.07 against 18.75, sharpness 0.61 / 1.35 against 0.72 / 1.24, about 1 s more per photo.
        attention: False by default: ``cra`` lifts along the default's offset field (the base the network's
            low band corrects). With the shipped network's scores it over-sharpened (6 hires photos at 2048 px,
            thick and box: mean sharpness 5.7, up to 40.9 on calm water, a visible speckle),
            ``scripts/compare_variants.py``, 2026-11-23.
    """

    extra_levels: int = 1
    attention: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.extra_levels < 0:
            raise ConfigError(f"extra_levels must be >= 0, got {self.extra_levels}")


def extra_levels_for(long_side: int, top_size: int | None, most: int) -> int:
    """How many x2 levels above a top level of ``top_size`` fit into a working image of ``long_side`` (at most
    ``most``); 0 when the network runs at the working size as given (``top_size`` None)."""
    extra = 0
    while top_size and extra < most and top_size * 2 ** (extra + 1) <= long_side:
        extra += 1
    return extra


class PyramidFiller(GeneratorFiller):
    """Fills with the Pyramid Generator (weights from :attr:`PyramidFillerConfig.weights` or shipped ones)."""

    Config = PyramidFillerConfig
    model_name = "pyramid"
    shipped = SHIPPED_WEIGHTS
    train_hint = (
        "train and export them (`hrinpaint train configs/pyramid-cpu.toml --run runs/pyramid`, then export the run "
        "to hrinpaint/weights/pyramid.safetensors) or pass weights"
    )

    def network_call(
        self, shape: tuple[int, int], prefill: Prefill | None
    ) -> tuple[int | None, Callable[[torch.Tensor, torch.Tensor], Any]]:
        """The top level at the training crop, plus the extra levels that fit; ``prefill`` fills every level."""
        top_size = self.network_size
        extra = extra_levels_for(max(shape), top_size, self.config.extra_levels)

        def call(image: torch.Tensor, mask: torch.Tensor) -> Any:
            return self.model(image, mask, prefill if self.model.residual else None, extra)

        return (top_size * 2**extra if top_size else None), call
