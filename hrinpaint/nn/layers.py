"""Convolution building blocks shared by the generators: gated convolutions and their light-weight variants.

A gated convolution computes features and a soft gate from the same input and multiplies them:
``out = act(conv_f(x)) * sigmoid(gate(x))``. The gate lets a layer learn where its input is valid (a learnt,
soft generalisation of partial convolution). The HiFill paper's light-weight variants change only how the gate is
computed, which is where most of the cost of a full gated convolution goes:

- ``"full"``: a ``k x k`` convolution to ``C_out`` gates (Yu et al.'s original);
- ``"ds"``: depth-separable, a ``k x k`` depth-wise convolution then a ``1 x 1`` one to ``C_out`` gates;
- ``"pw"``: pixel-wise, a ``1 x 1`` convolution to ``C_out`` gates;
- ``"sc"``: single-channel, a ``k x k`` convolution to one gate broadcast over all channels;
- ``"none"``: a plain convolution (for output layers).

Every layer uses "same" padding (for odd kernels and any dilation), ELU and no normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.errors import ConfigError

GateKind = Literal["full", "ds", "pw", "sc", "none"]
GATE_KINDS: tuple[str, ...] = ("full", "ds", "pw", "sc", "none")


def check_choice(label: str, value: Any, known: Iterable[str]) -> None:
    """A :class:`~hrinpaint.errors.ConfigError` (a ValueError) naming the known values unless ``value`` is one."""
    known = tuple(known)
    if value not in known:
        raise ConfigError(f"unknown {label} {value!r}; known: {', '.join(known)}")


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size of a stride-1 convolution with an odd kernel."""
    if kernel_size % 2 != 1:
        raise ValueError(f"'same' padding needs an odd kernel, got {kernel_size}")
    return dilation * (kernel_size - 1) // 2


def gated(features: torch.Tensor, gate: torch.Tensor | None, activation: bool = True) -> torch.Tensor:
    """The functional form of a gated convolution's output: ``elu(features) * sigmoid(gate)``.

    Args:
        features: ``B x C x H x W`` pre-activation features.
        gate: ``B x C x H x W`` or ``B x 1 x H x W`` pre-sigmoid gate logits (broadcast), or None for no gate.
        activation: apply ELU to the features.
    """
    out = F.elu(features) if activation else features
    return out if gate is None else out * torch.sigmoid(gate)


class GatedConv2d(nn.Module):
    """A convolution with a (light-weight) learnt gate; "same" padding, so ``H_out = ceil(H / stride)``.

    Shape:
        input ``B x C_in x H x W``, output ``B x C_out x ceil(H / stride) x ceil(W / stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        gate: GateKind = "full",
        activation: bool = True,
    ) -> None:
        super().__init__()
        check_choice("gate", gate, GATE_KINDS)
        self.kind = gate
        self.activation = activation
        padding = same_padding(kernel_size, dilation)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation)
        self.gate: nn.Module | None
        if gate == "full":
            self.gate = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation)
        elif gate == "sc":
            self.gate = nn.Conv2d(in_channels, 1, kernel_size, stride, padding, dilation)
        elif gate == "pw":
            self.gate = nn.Conv2d(in_channels, out_channels, 1, stride)
        elif gate == "ds":
            self.gate = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation, groups=in_channels),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            self.gate = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gated(self.conv(x), None if self.gate is None else self.gate(x), self.activation)


def upsample2x(x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Nearest-neighbour upsampling by two (or to ``size``), the decoder's resize before a convolution."""
    if size is None:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, size=size, mode="nearest")


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads the bottom and right of ``x`` so that height and width are multiples of ``multiple``.

    Returns the padded tensor and the original ``(H, W)`` to crop back to. Reflection needs the pad to be smaller
    than the side; for tiny inputs it falls back to replication.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    if mode == "reflect" and (pad_h >= height or pad_w >= width):
        mode = "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (height, width)


#: Output layers of a residual (prefilled) generator start at this fraction of their default initialisation.
RESIDUAL_INIT_SCALE = 0.1


#: Channels of :func:`network_input`: the signed image, the mask and a plane of ones.
INPUT_CHANNELS = 5


def network_input(
    image: torch.Tensor, mask: torch.Tensor, multiple: int, grey_hole: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[signed image, mask, ones]`` padded (reflected) to ``multiple``, and the padded binary mask.

    Args:
        image: ``B x 3 x H x W`` on [0, 1] scale; its hole as the caller wants the network to see it (zeroed, so
            ``-1`` on the signed scale, or prefilled).
        mask: ``B x 1 x H x W``, 1 = hole (thresholded at 0.5 after padding).
        grey_hole: the signed image is zero in the (padded) hole, whatever the image holds there (HiFill's input).
    """
    signed, _ = pad_to_multiple(image * 2.0 - 1.0, multiple)
    padded_mask, _ = pad_to_multiple(mask, multiple)
    padded_mask = (padded_mask > 0.5).to(image.dtype)
    if grey_hole:
        signed = signed * (1.0 - padded_mask)
    return torch.cat([signed, padded_mask, torch.ones_like(padded_mask)], 1), padded_mask


@torch.no_grad()
def scale_init(layer: nn.Conv2d, scale: float = RESIDUAL_INIT_SCALE) -> None:
    """Scales ``layer``'s initial weights by ``scale`` and zeroes its bias: the output layer of a network that
    predicts a residual starts near zero. Small, not zero: a zero output layer passes no gradient back, and its
    own gradient (random features against the sign of an L1 error) averages out, so the network would stay at
    its starting point."""
    layer.weight.mul_(scale)
    if layer.bias is not None:
        layer.bias.zero_()


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class ShuffleOut(nn.Module):
    """The output layer: a plain 3x3 convolution at half resolution to ``3 x 2 x 2`` sub-pixels, then a pixel
    shuffle; ``B x C x h x w`` -> ``B x 3 x 2h x 2w``. ``residual`` starts it small (:func:`scale_init`)."""

    def __init__(self, channels: int, residual: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 3 * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        if residual:
            scale_init(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))
