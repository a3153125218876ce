"""What the generators share: the prefilled ones' (``hifill``, ``zoom``, ``pyramid``) config checks and base class
(it holds the config), the input check every generator makes (``lama``'s and ``shift``'s too) and the prefill paste
at the start of a prefilled generator's forward pass.

A config's checks raise :class:`hrinpaint.errors.ConfigError` (a ``ValueError``) with one line;
:meth:`hrinpaint.registry.Registry.build` adds the part's name to it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from hrinpaint.errors import ConfigError
from hrinpaint.nn.layers import GATE_KINDS, check_choice

#: What a hole holds when it enters a generator: ``none`` (zero, the papers' input) or a fill computed by the caller
#: (``telea``, ``patchmatch``), on which the generator predicts a residual.
PREFILLS = ("none", "telea", "patchmatch")


def check_generator_config(config: Any, gates: tuple[str, ...], dilations: tuple[str, ...]) -> None:
    """The checks every prefilled generator's config makes: ``config.width`` at least 1, ``config.prefill`` in
    :data:`PREFILLS`, each field named in ``gates`` a gate kind, every rate in the fields named in ``dilations`` at
    least 1. Those fields become tuples (a JSON manifest gives lists), so that the frozen config stays hashable and
    comparable."""
    if config.width < 1:
        raise ConfigError(f"width must be positive, got {config.width}")
    check_choice("prefill", config.prefill, PREFILLS)
    for name in gates:
        check_choice("gate", getattr(config, name), GATE_KINDS)
    if any(rate < 1 for name in dilations for rate in getattr(config, name)):
        raise ConfigError("dilations must be >= 1")
    for name in dilations:
        object.__setattr__(config, name, tuple(getattr(config, name)))


class PrefilledGenerator(nn.Module):
    """The base of the generators whose config has a ``prefill``: it holds the config (``Config()`` when none is
    given) and says whether the generator predicts a residual on a prefilled hole."""

    Config: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        self.config = config or self.Config()

    @property
    def residual(self) -> bool:
        """Whether the generator predicts a residual on a prefilled hole (``config.prefill`` is not ``none``)."""
        return self.config.prefill != "none"


def check_image_mask(image: torch.Tensor, mask: torch.Tensor) -> None:
    """Raises a ValueError unless ``image`` is ``B x 3 x H x W`` and ``mask`` ``B x 1 x H x W``."""
    if image.ndim != 4 or image.shape[1] != 3 or mask.shape != (image.shape[0], 1, *image.shape[2:]):
        raise ValueError(f"expected B x 3 x H x W image and B x 1 x H x W mask, got {image.shape} and {mask.shape}")


def with_prefill(image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None, kind: str) -> torch.Tensor:
    """``image``'s known pixels and ``prefill``'s in the hole (``mask`` binary, 1 = hole): the input of a generator
    that predicts a residual on a ``kind``-prefilled hole. A missing or wrongly shaped prefill is a ValueError."""
    if prefill is None or prefill.shape != image.shape:
        raise ValueError(f"a {kind!r}-prefilled generator needs a prefill of {image.shape}")
    return image * (1.0 - mask) + prefill * mask
