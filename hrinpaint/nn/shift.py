"""The shifted-context refinement U-Net (Moskalenko et al., "Shift refinement for inpainting arbitrary-size images").

A stage-1 fill brought to full resolution has the right structure and no texture. The refinement network sees it
with four copies of itself shifted up, down, left and right by a fraction of the image size (20% in the paper):
wherever the hole is narrower than the shift, some copy puts real context pixels on top of it, which widens the
receptive field by the shift without any attention. Each copy carries its own mask (the hole moved along, and the
pixels that the shift exposes marked as hole and zeroed), so the input is 5 images and 5 masks, 20 channels.

The network is a plain U-Net with batch norm after every layer but the last. It predicts a residual that is added
to the stage-1 image in the hole only, and its output layer starts small, so an untrained network returns about
the stage-1 image and known pixels are never changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.errors import ConfigError
from hrinpaint.nn.generator import check_image_mask
from hrinpaint.nn.layers import pad_to_multiple, scale_init

#: Copies in the stack: the stage-1 image, then shifted up, down, left and right.
COPIES = 5
#: Input channels: ``COPIES`` RGB images, then ``COPIES`` masks.
IN_CHANNELS = 4 * COPIES
#: Channel multiplier of the deepest levels relative to ``width`` (the widths double per level up to this).
_MAX_WIDTH_FACTOR = 8


@dataclass(frozen=True)
class ShiftUNetConfig:
    """Attributes:
    width: channels at full resolution; each level doubles them, up to ``8 * width``.
    depth: number of 2x downsamplings; sizes are padded to a multiple of ``2 ** depth``.
    shift: the fraction of the image's height (vertical copies) and width (horizontal copies) by which the
        copies are shifted; the lifter uses the value the network was trained with unless told otherwise.
    """

    width: int = 16
    depth: int = 4
    shift: float = 0.2

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ConfigError(f"width must be >= 1, got {self.width}")
        if not 1 <= self.depth <= 8:
            raise ConfigError(f"depth must be in [1, 8], got {self.depth}")
        if not (math.isfinite(self.shift) and 0.0 <= self.shift < 1.0):
            raise ConfigError(f"shift must be in [0, 1), got {self.shift}")


def shift_amount(side: int, fraction: float) -> int:
    """Pixels a copy moves along a side of ``side`` pixels: ``fraction * side`` rounded half up."""
    return int(math.floor(fraction * side + 0.5))


def shift_offsets(shape: tuple[int, int], fraction: float) -> tuple[tuple[int, int], ...]:
    """Where each copy reads from: copy ``k`` at ``(y, x)`` holds the source at ``(y + dy, x + dx)``.

    The order is the stack's: the image itself, then its content moved up, down, left and right.
    """
    rows, cols = shift_amount(shape[0], fraction), shift_amount(shape[1], fraction)
    return ((0, 0), (rows, 0), (-rows, 0), (0, cols), (0, -cols))


def shift_tensor(x: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """``out[..., y, x] = x[..., y + dy, x + dx]``, and ``fill`` where that lies outside the image.

    Shape:
        ``... x H x W`` in, same out.
    """
    height, width = x.shape[-2:]
    out = torch.full_like(x, fill)
    top, bottom = max(0, -dy), min(height, height - dy)
    left, right = max(0, -dx), min(width, width - dx)
    if top < bottom and left < right:
        out[..., top:bottom, left:right] = x[..., top + dy : bottom + dy, left + dx : right + dx]
    return out


def shifted_stack(image: torch.Tensor, mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """The network's input: the stage-1 image and its four shifted copies, then their five masks.

    Pixels that a shift exposes (no source inside the image) are marked as hole, and their colour is zero.

    Shape:
        image: ``B x 3 x H x W`` in [0, 1], the stage-1 image (hole filled); mask: ``B x 1 x H x W``, 1 = hole.
        Returns ``B x 20 x H x W``: channels ``3k..3k+2`` are copy ``k``'s colour, channel ``15 + k`` its mask.
    """
    check_image_mask(image, mask)
    offsets = shift_offsets(tuple(image.shape[-2:]), fraction)
    images = [shift_tensor(image, dy, dx, 0.0) for dy, dx in offsets]
    masks = [shift_tensor(mask, dy, dx, 1.0) for dy, dx in offsets]
    return torch.cat([*images, *masks], dim=1)


def _conv(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, leaky: bool = False) -> nn.Sequential:
    """Convolution, batch norm, ReLU (leaky in the decoder, as in the partial-convolution U-Net)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2) if leaky else nn.ReLU(),
    )


class ShiftUNet(nn.Module):
    """Refines a stage-1 fill from the 20-channel shifted stack; changes the hole only.

    Shape:
        stack ``B x 20 x H x W`` (:func:`shifted_stack`), any ``H, W >= 1``; returns ``B x 3 x H x W``, the stage-1
        image plus the predicted residual in the hole (not clipped).
    """

    Config = ShiftUNetConfig

    def __init__(self, config: ShiftUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ShiftUNetConfig()
        widths = [self.config.width * min(2**level, _MAX_WIDTH_FACTOR) for level in range(self.config.depth + 1)]
        # 5 x 5 first: a wider first look at the stack costs little at 20 input channels
        self.stem = nn.Sequential(_conv(IN_CHANNELS, widths[0], 5), _conv(widths[0], widths[0]))
        self.down = nn.ModuleList(
            nn.Sequential(
                _conv(widths[level], widths[level + 1], stride=2), _conv(widths[level + 1], widths[level + 1])
            )
            for level in range(self.config.depth)
        )
        self.up = nn.ModuleList(
            nn.Sequential(
                _conv(widths[level + 1] + widths[level], widths[level], leaky=True),
                _conv(widths[level], widths[level], leaky=True),
            )
            for level in range(self.config.depth)
        )
        self.to_rgb = nn.Conv2d(widths[0], 3, 3, padding=1)
        scale_init(self.to_rgb)

    @property
    def multiple(self) -> int:
        """Sizes are padded to a multiple of this (one pixel at the deepest level)."""
        return 2**self.config.depth

    @property
    def pad_multiple(self) -> int:
        """The same as :attr:`multiple`, under the name the weights manifest records."""
        return self.multiple

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        if stack.ndim != 4 or stack.shape[1] != IN_CHANNELS:
            raise ValueError(f"expected a B x {IN_CHANNELS} x H x W stack, got {tuple(stack.shape)}")
        height, width = stack.shape[-2:]
        padded, _ = pad_to_multiple(stack, self.multiple)
        colours = padded[:, : 3 * COPIES] * 2.0 - 1.0
        features = self.stem(torch.cat([colours, padded[:, 3 * COPIES :]], dim=1))
        skips = [features]
        for block in self.down:
            features = block(features)
            skips.append(features)
        for level in reversed(range(self.config.depth)):
            skip = skips[level]
            features = F.interpolate(features, size=skip.shape[-2:], mode="nearest")
            features = self.up[level](torch.cat([features, skip], dim=1))
        residual = self.to_rgb(features)[..., :height, :width]
        return stack[:, :3] + residual * stack[:, 3 * COPIES : 3 * COPIES + 1]

    def refine(self, image: torch.Tensor, mask: torch.Tensor, fraction: float | None = None) -> torch.Tensor:
        """Builds the stack of ``image`` (the stage-1 fill) and ``mask`` (1 = hole) and refines it; ``fraction``
        defaults to the shift the network was trained with.

        Shape:
            image ``B x 3 x H x W`` in [0, 1]; mask ``B x 1 x H x W``; returns ``B x 3 x H x W``.
        """
        shift = self.config.shift if fraction is None else fraction
        return self(shifted_stack(image, (mask > 0.5).to(image.dtype), shift))
