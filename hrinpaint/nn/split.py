"""The front/rear split of a generator, for optimising its features at inference (the ``refine`` lifter).

A generator that declares a split (it satisfies :class:`Splittable`) has two methods besides ``forward``:

- ``front(image, mask) -> FrontFeatures``: everything up to the feature map that refinement optimises (the
  paper's ``z``, typically the encoder's output), plus whatever the rest of the network needs unchanged;
- ``rear(features, checkpoint=False) -> prediction``: the rest of the network, from those features to the raw
  prediction at the input size, before the known pixels are pasted back.

``rear(front(image, mask))`` is the prediction ``forward`` composites, so a refinement that changes nothing gives
the plain network's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.checkpoint import checkpoint as _checkpoint


@dataclass
class FrontFeatures:
    """What a generator's front hands to its rear.

    Attributes:
        latent: the tensors a refinement may optimise (the paper's ``z``; LaMa: the local and global halves of the
            last downsampling's output).
        context: everything else the rear needs, held fixed: skip features, attention scores, the size to crop to.
    """

    latent: tuple[torch.Tensor, ...]
    context: dict[str, Any] = field(default_factory=dict)

    def with_latent(self, latent: tuple[torch.Tensor, ...]) -> FrontFeatures:
        """The same context with other latent tensors (of the same shapes)."""
        if len(latent) != len(self.latent) or any(a.shape != b.shape for a, b in zip(latent, self.latent, strict=True)):
            raise ValueError("latent tensors must keep the number and shapes of the front's")
        return FrontFeatures(tuple(latent), self.context)


@runtime_checkable
class Splittable(Protocol):
    """A generator with a front/rear split (see the module docstring).

    Shape:
        front: image ``B x 3 x H x W`` in [0, 1] (hole pixels ignored), mask ``B x 1 x H x W`` with 1 = hole.
        rear: returns ``B x 3 x H x W`` on the [0, 1] scale; it may leave the range slightly, callers clip.
    """

    def front(self, image: torch.Tensor, mask: torch.Tensor) -> FrontFeatures: ...

    def rear(self, features: FrontFeatures, checkpoint: bool = False) -> torch.Tensor: ...


def checkpointed(function: Callable[..., Any], *inputs: torch.Tensor, enabled: bool) -> Any:
    """``function(*inputs)``, with gradient checkpointing when ``enabled`` and a gradient flows through it.

    A checkpointed segment keeps only its inputs for the backward pass and recomputes its activations there,
    trading one more forward of the segment for the memory of its intermediate maps.
    """
    if enabled and torch.is_grad_enabled() and any(tensor.requires_grad for tensor in inputs):
        return _checkpoint(function, *inputs, use_reentrant=False)
    return function(*inputs)
