"""The HiFill generator (Yi et al., CVPR 2020): coarse-to-fine gated network with shared contextual attention.

- Coarse branch: runs at half the input size, single-channel light-weight gates, a deep stack of dilated
  convolutions, output upsampled back to the input size.
- Refine branch: runs at the input size on the coarse result pasted into the hole, pixel-wise gates, an
  encoder whose deepest map (``1/16`` of the input, one position per attention cell) gives the attention scores;
  the scores are computed once and transfer features at three levels (``1/8``, ``1/4``, ``1/2``).

The network works at any size: the input is padded (reflected) to a multiple of 16 and the output cropped back.
Values are [0, 1] RGB and a 1 = hole mask at the edges of :meth:`HiFillGenerator.forward`, ``[-1, 1]`` inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.nn.attention import ContextualAttention, attention_transfer, cell_mask
from hrinpaint.nn.layers import GATE_KINDS, GatedConv2d, GateKind, pad_to_multiple, upsample2x

#: Coarse dilations after the second stride-2 layer: the paper's 6 x 1, 6 x 2, 5 x 4, 2 x 8, 4 x 1.
PAPER_COARSE_DILATIONS = (1,) * 6 + (2,) * 6 + (4,) * 5 + (8,) * 2 + (1,) * 4

#: The input is padded to a multiple of this: three stride-2 layers and the attention map's extra halving.
PAD_MULTIPLE = 16


@dataclass(frozen=True)
class HiFillConfig:
    """Width and depth of the generator; the defaults are the paper's (about 2.7 M parameters).

    Attributes:
        width: channels of the first layer; deeper layers use 2x and 4x.
        coarse_dilations: one 3x3 layer per entry in the coarse bottleneck, with that dilation.
        refine_dilations: the refine bottleneck after its first 3x3 layer.
        coarse_gate, refine_gate: light-weight gate kind per branch (``sc``, ``pw``, ``ds``, ``full``).
        temperature: softmax temperature of the attention scores.
        attention_patch: neighbourhood, in cells, compared by the attention.
    """

    width: int = 32
    coarse_dilations: tuple[int, ...] = PAPER_COARSE_DILATIONS
    refine_dilations: tuple[int, ...] = (2, 4, 8, 16)
    coarse_gate: GateKind = "sc"
    refine_gate: GateKind = "pw"
    temperature: float = 10.0
    attention_patch: int = 3

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be positive, got {self.width}")
        for gate in (self.coarse_gate, self.refine_gate):
            if gate not in GATE_KINDS:
                raise ValueError(f"unknown gate {gate!r}; known: {', '.join(GATE_KINDS)}")
        if any(d < 1 for d in self.coarse_dilations + self.refine_dilations):
            raise ValueError("dilations must be >= 1")
        # JSON round trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "coarse_dilations", tuple(self.coarse_dilations))
        object.__setattr__(self, "refine_dilations", tuple(self.refine_dilations))


@dataclass
class HiFillOutput:
    """Everything a forward pass produces.

    Attributes:
        image: ``B x 3 x H x W`` in [0, 1], known pixels copied from the input, the refined fill in the hole.
        coarse: ``B x 3 x H x W`` raw coarse prediction mapped to [0, 1] scale (not clipped; for the losses).
        refined: ``B x 3 x H x W`` raw refined prediction, the same way.
        scores: ``B x N x N`` attention scores over the ``grid`` of cells (rows sum to 1).
        hole_cells: ``B x 1 x rows x cols``, 1 where a cell touches the hole.
        padded_size: ``(H', W')`` the network ran at; cell ``(r, c)`` covers ``16 x 16`` pixels of it.
    """

    image: torch.Tensor
    coarse: torch.Tensor
    refined: torch.Tensor
    scores: torch.Tensor
    hole_cells: torch.Tensor
    padded_size: tuple[int, int] = field(default=(0, 0))

    @property
    def grid(self) -> tuple[int, int]:
        rows, cols = self.hole_cells.shape[-2:]
        return int(rows), int(cols)


class CoarseNet(nn.Module):
    """Rough fill at half resolution; deep and slim, single-channel gates."""

    def __init__(self, config: HiFillConfig) -> None:
        super().__init__()
        c, gate = config.width, config.coarse_gate
        self.encoder = nn.Sequential(
            GatedConv2d(5, c, 5, 2, gate=gate),
            GatedConv2d(c, c, 3, gate=gate),
            GatedConv2d(c, 2 * c, 3, 2, gate=gate),
            *[GatedConv2d(2 * c, 2 * c, 3, dilation=d, gate=gate) for d in config.coarse_dilations],
        )
        self.up1 = GatedConv2d(2 * c, c, 3, gate=gate)
        self.to_rgb = GatedConv2d(c, 3, 3, gate="none", activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        half = F.avg_pool2d(x, 2)
        features = self.encoder(half)  # 1/8
        features = self.up1(upsample2x(features))  # 1/4
        rgb = self.to_rgb(upsample2x(features))  # 1/2
        return F.interpolate(rgb, size=size, mode="bilinear", align_corners=False)


class RefineNet(nn.Module):
    """Full-resolution refinement with attention transfer at 1/8, 1/4 and 1/2; pixel-wise gates."""

    def __init__(self, config: HiFillConfig) -> None:
        super().__init__()
        c, gate = config.width, config.refine_gate
        self.enc1 = nn.Sequential(GatedConv2d(5, c, 5, 2, gate=gate), GatedConv2d(c, c, 3, gate=gate))
        self.enc2 = nn.Sequential(GatedConv2d(c, 2 * c, 3, 2, gate=gate), GatedConv2d(2 * c, 2 * c, 3, gate=gate))
        self.enc3 = nn.Sequential(
            GatedConv2d(2 * c, 4 * c, 3, 2, gate=gate),
            GatedConv2d(4 * c, 4 * c, 3, gate=gate),
            *[GatedConv2d(4 * c, 4 * c, 3, dilation=d, gate=gate) for d in config.refine_dilations],
        )
        self.attention = ContextualAttention(config.temperature, config.attention_patch)
        self.branch3 = GatedConv2d(4 * c, 4 * c, 3, gate=gate)
        self.branch2 = nn.Sequential(
            GatedConv2d(2 * c, 2 * c, 3, gate=gate), GatedConv2d(2 * c, 2 * c, 3, dilation=2, gate=gate)
        )
        self.branch1 = nn.Sequential(GatedConv2d(c, c, 3, gate=gate), GatedConv2d(c, c, 3, dilation=2, gate=gate))
        self.dec3 = GatedConv2d(8 * c, 4 * c, 3, gate=gate)
        self.dec2 = nn.Sequential(GatedConv2d(4 * c, 2 * c, 3, gate=gate), GatedConv2d(2 * c, 2 * c, 3, gate=gate))
        self.dec1 = nn.Sequential(GatedConv2d(4 * c, c, 3, gate=gate), GatedConv2d(c, c, 3, gate=gate))
        self.to_rgb = GatedConv2d(2 * c, 3, 3, gate="none", activation=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p1 = self.enc1(x)  # 1/2
        p2 = self.enc2(p1)  # 1/4
        p3 = self.enc3(p2)  # 1/8
        cells = F.avg_pool2d(p3, 2)  # 1/16: one position per attention cell
        hole = cell_mask(mask, cells.shape[-2:])
        scores = self.attention(cells, hole)
        d3 = self.dec3(torch.cat([p3, self.branch3(attention_transfer(p3, scores, hole))], 1))
        d2 = self.dec2(upsample2x(d3))
        d2 = torch.cat([d2, self.branch2(attention_transfer(p2, scores, hole))], 1)
        d1 = self.dec1(upsample2x(d2))
        d0 = torch.cat([d1, self.branch1(attention_transfer(p1, scores, hole))], 1)
        rgb = self.to_rgb(upsample2x(d0))
        return rgb, scores, hole


class HiFillGenerator(nn.Module):
    """Coarse-to-fine inpainting generator with shared contextual attention.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels are ignored), mask ``B x 1 x H x W`` with 1 = hole; any
        ``H, W >= 1``.
    """

    Config = HiFillConfig
    pad_multiple = PAD_MULTIPLE

    def __init__(self, config: HiFillConfig | None = None) -> None:
        super().__init__()
        self.config = config or HiFillConfig()
        self.coarse = CoarseNet(self.config)
        self.refine = RefineNet(self.config)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> HiFillOutput:
        if image.ndim != 4 or image.shape[1] != 3 or mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f"expected B x 3 x H x W image and B x 1 x H x W mask, got {image.shape} and {mask.shape}")
        mask = (mask > 0.5).to(image.dtype)
        known = 1.0 - mask
        padded_image, (height, width) = pad_to_multiple(image * known, self.pad_multiple)
        padded_mask, _ = pad_to_multiple(mask, self.pad_multiple)
        padded_mask = (padded_mask > 0.5).to(image.dtype)
        padded_known = 1.0 - padded_mask
        ones = torch.ones_like(padded_mask)
        signed = (padded_image * 2.0 - 1.0) * padded_known

        coarse = self.coarse(torch.cat([signed, padded_mask, ones], 1))
        blended = signed + coarse.clamp(-1.0, 1.0) * padded_mask
        refined, scores, hole = self.refine(torch.cat([blended, padded_mask, ones], 1), padded_mask)

        coarse01 = ((coarse + 1.0) * 0.5)[..., :height, :width]
        refined01 = ((refined + 1.0) * 0.5)[..., :height, :width]
        output = image * known + refined01.clamp(0.0, 1.0) * mask
        return HiFillOutput(output, coarse01, refined01, scores, hole, tuple(padded_mask.shape[-2:]))


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
