"""The HiFill generator (Yi et al., CVPR 2020): coarse-to-fine gated network with shared contextual attention.

- Coarse branch: runs at half the input size, single-channel light-weight gates, a deep stack of dilated
  convolutions, output upsampled back to the input size.
- Refine branch: runs at the input size on the coarse result pasted into the hole, pixel-wise gates, an
  encoder whose deepest map (``1/16`` of the input, one position per attention cell) gives the attention scores;
  the scores are computed once and transfer features at three levels (``1/8``, ``1/4``, ``1/2``).

The network works at any size: the input is padded (reflected) to a multiple of 16 and the output cropped back.
Values are [0, 1] RGB and a 1 = hole mask at the edges of :meth:`HiFillGenerator.forward`, ``[-1, 1]`` inside.

The input is :func:`~hrinpaint.nn.layers.network_input`'s, with the hole grey (zero on the signed scale) unless
the network is prefilled. The two output layers are the paper's: a plain 3x3 convolution after a nearest
upsampling (the coarse branch's at ``1/2``, the refine branch's at full size), not the pixel-shuffle output of
zoom and pyramid (:class:`~hrinpaint.nn.layers.ShuffleOut`, a different layer with other weights); they share its
residual start (:func:`~hrinpaint.nn.layers.scale_init`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.nn.attention import ContextualAttention, attention_transfer, cell_mask
from hrinpaint.nn.generator import PrefilledGenerator, check_generator_config, check_image_mask, with_prefill
from hrinpaint.nn.layers import INPUT_CHANNELS, GatedConv2d, GateKind, network_input, scale_init, upsample2x
from hrinpaint.nn.split import FrontFeatures, checkpointed

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
        prefill: ``none`` (the paper: hole pixels enter as zero) or ``telea``: the caller passes a diffusion fill
            of the hole (:func:`hrinpaint.fillers.opencv.telea_prefill`) and both branches predict a residual on
            it, their output layers starting at zero; so an untrained network returns the diffusion fill and
            training only has to learn what it lacks (texture, structure, colour).
    """

    width: int = 32
    coarse_dilations: tuple[int, ...] = PAPER_COARSE_DILATIONS
    refine_dilations: tuple[int, ...] = (2, 4, 8, 16)
    coarse_gate: GateKind = "sc"
    refine_gate: GateKind = "pw"
    temperature: float = 10.0
    attention_patch: int = 3
    prefill: str = "none"

    def __post_init__(self) -> None:
        check_generator_config(self, ("coarse_gate", "refine_gate"), ("coarse_dilations", "refine_dilations"))


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
            GatedConv2d(INPUT_CHANNELS, c, 5, 2, gate=gate),
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
        self.enc1 = nn.Sequential(GatedConv2d(INPUT_CHANNELS, c, 5, 2, gate=gate), GatedConv2d(c, c, 3, gate=gate))
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
        p3, context = self.encode(x, mask)
        return self.decode(p3, context), context["scores"], context["hole"]

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The encoder and the attention: the ``1/8`` map, and the scores and transferred skips that the decoder
        uses unchanged (they depend on the ``1/2`` and ``1/4`` maps only)."""
        p1 = self.enc1(x)  # 1/2
        p2 = self.enc2(p1)  # 1/4
        p3 = self.enc3(p2)  # 1/8
        cells = F.avg_pool2d(p3, 2)  # 1/16: one position per attention cell
        hole = cell_mask(mask, cells.shape[-2:])
        scores = self.attention(cells, hole)
        skip2 = self.branch2(attention_transfer(p2, scores, hole))
        skip1 = self.branch1(attention_transfer(p1, scores, hole))
        return p3, {"scores": scores, "hole": hole, "skip2": skip2, "skip1": skip1}

    def decode(self, p3: torch.Tensor, context: dict[str, torch.Tensor], checkpoint: bool = False) -> torch.Tensor:
        """From the ``1/8`` map to the raw ``[-1, 1]`` RGB; ``checkpoint`` recomputes each stage in the backward."""
        scores, hole = context["scores"], context["hole"]

        def stage3(p3: torch.Tensor) -> torch.Tensor:
            return self.dec3(torch.cat([p3, self.branch3(attention_transfer(p3, scores, hole))], 1))

        def stage2(d3: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.dec2(upsample2x(d3)), context["skip2"]], 1)

        def stage1(d2: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.dec1(upsample2x(d2)), context["skip1"]], 1)

        def stage0(d0: torch.Tensor) -> torch.Tensor:
            return self.to_rgb(upsample2x(d0))

        x = p3
        for stage in (stage3, stage2, stage1, stage0):
            x = checkpointed(stage, x, enabled=checkpoint)
        return x


class HiFillGenerator(PrefilledGenerator):
    """Coarse-to-fine inpainting generator with shared contextual attention.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels are ignored), mask ``B x 1 x H x W`` with 1 = hole; any
        ``H, W >= 1``.
    """

    Config = HiFillConfig
    pad_multiple = PAD_MULTIPLE

    def __init__(self, config: HiFillConfig | None = None) -> None:
        super().__init__(config)
        self.coarse = CoarseNet(self.config)
        self.refine = RefineNet(self.config)
        if self.residual:
            scale_init(self.coarse.to_rgb.conv)
            scale_init(self.refine.to_rgb.conv)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None = None) -> HiFillOutput:
        """Fills the hole of ``image``; ``prefill`` (``B x 3 x H x W``, used in the hole only) is required when
        the config has a prefill, and ignored otherwise."""
        mask, coarse, refine_input, padded_mask = self._coarse(image, mask, prefill)
        refined, scores, hole = self.refine(refine_input, padded_mask)
        if self.residual:
            refined = refine_input[:, :3] + refined * padded_mask
        height, width = image.shape[-2:]
        coarse01 = ((coarse + 1.0) * 0.5)[..., :height, :width]
        refined01 = ((refined + 1.0) * 0.5)[..., :height, :width]
        output = image * (1.0 - mask) + refined01.clamp(0.0, 1.0) * mask
        return HiFillOutput(output, coarse01, refined01, scores, hole, tuple(padded_mask.shape[-2:]))

    def _coarse(
        self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pads, runs the coarse branch; returns the binary mask, the coarse output, the refine branch's input
        and the padded mask."""
        check_image_mask(image, mask)
        mask = (mask > 0.5).to(image.dtype)
        if self.residual:
            image = with_prefill(image, mask, prefill, self.config.prefill)
        else:  # the hole enters as zero on the signed scale (grey)
            image = image * (1.0 - mask)
        x, padded_mask = network_input(image, mask, self.pad_multiple, grey_hole=not self.residual)
        signed, ones = x[:, :3], x[:, 4:]
        coarse = self.coarse(x)
        if self.residual:
            # the residual acts in the hole only: known pixels are pasted back anyway, and a loss there would
            # only teach the network to output zero everywhere
            coarse = signed + coarse * padded_mask
        blended = signed * (1.0 - padded_mask) + coarse.clamp(-1.0, 1.0) * padded_mask
        return mask, coarse, torch.cat([blended, padded_mask, ones], 1), padded_mask

    def front(self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None = None) -> FrontFeatures:
        """Coarse branch, refine encoder and attention; the latent is the refine encoder's ``1/8`` map."""
        _, _, refine_input, padded_mask = self._coarse(image, mask, prefill)
        p3, context = self.refine.encode(refine_input, padded_mask)
        if self.residual:
            context = {**context, "base": refine_input[:, :3], "hole_mask": padded_mask}
        return FrontFeatures((p3,), {**context, "size": tuple(image.shape[-2:])})

    def rear(self, features: FrontFeatures, checkpoint: bool = False) -> torch.Tensor:
        """The refine decoder (attention transfer of the latent, upsamplings); the raw prediction on [0, 1] scale."""
        (p3,) = features.latent
        height, width = features.context["size"]
        refined = self.refine.decode(p3, features.context, checkpoint)
        if "base" in features.context:
            refined = features.context["base"] + refined * features.context["hole_mask"]
        return ((refined + 1.0) * 0.5)[..., :height, :width]
