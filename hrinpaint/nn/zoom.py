"""The Zoom-to-Inpaint generator (Kim et al., CVPR 2021): coarse fill, zoom in, refine at high resolution, zoom out.

- :class:`CoarseNet`: gated encoder-decoder with batch-normalised residual blocks at ``1/4``; runs at the working
  size and its fill is pasted into the hole (``X_c = M * f_c + (1 - M) * X``).
- :class:`SRNet`: four residual blocks and a pixel shuffle, scale 2, on the *whole* coarse output (not masked,
  so that the refiner's attention finds sharp high-resolution context around the hole).
- :class:`RefineNet`: like the coarse network, one level deeper (``1/8``), with contextual attention at its
  bottleneck; runs on the zoomed image and the nearest-upsampled mask. Its output is downscaled by 2 and pasted
  into the hole.

``ZoomConfig.zoom`` selects the paper's ablations: ``sr`` (the method), ``bicubic`` (bicubic x2 instead of the SR
network) and ``none`` (the refiner at the working size, a conventional two-stage network). Values are [0, 1] RGB
and a 1 = hole mask at the edges of every module, ``[-1, 1]`` inside. Every module takes any ``H, W >= 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.errors import ConfigError
from hrinpaint.nn.attention import ContextualAttention, attention_transfer, cell_mask
from hrinpaint.nn.blocks import REFINE_PAD_MULTIPLE, CoarseStage, ShuffleOutStage, gated_encoder
from hrinpaint.nn.generator import PrefilledGenerator, check_generator_config, check_image_mask, with_prefill
from hrinpaint.nn.layers import GatedConv2d, GateKind, check_choice, network_input, scale_init, upsample2x

#: ``ZoomConfig.zoom``: how the coarse fill is brought to the refiner's resolution.
ZOOM_MODES = ("sr", "bicubic", "none")

#: ``ZoomConfig.downscale``: how the refined high-resolution image comes back to the working size.
DOWNSCALES = ("area", "bicubic")

#: The zoom factor of ``sr`` and ``bicubic``.
SCALE = 2

#: The SR network's last layer starts at this fraction of its default initialisation: the network adds a small
#: residual to a bicubic zoom, so an untrained one is a bicubic zoom and training only learns what bicubic misses.
SR_OUTPUT_INIT_SCALE = 0.1


@dataclass(frozen=True)
class ZoomConfig:
    """Width, depth and zoom of the generator.

    Attributes:
        width: channels of the first layer of the coarse and refine networks; deeper layers use 2x and 4x.
        coarse_dilations: one residual block (two gated 3x3 layers, batch norm) per entry in the coarse
            bottleneck, its first layer with that dilation.
        refine_dilations: the same in the refiner's bottleneck, before the attention.
        gate: gate kind of the gated convolutions (``full`` is Yu et al.'s; see :mod:`hrinpaint.nn.layers`).
        sr_width: channels of the SR network.
        sr_blocks: residual blocks of the SR network (the paper's four).
        zoom: ``sr``, ``bicubic`` or ``none`` (see the module docstring).
        downscale: ``area`` (the default: training inputs are area-downsampled labels, so a perfect
            high-resolution fill comes back as exactly the right working-size fill) or ``bicubic`` (the paper's).
        temperature: softmax temperature of the attention scores.
        attention_patch: neighbourhood, in cells, compared by the attention.
        prefill: ``none`` (the paper: hole pixels enter as zero) or ``telea``: the caller passes a diffusion fill
            of the hole (:func:`hrinpaint.fillers.opencv.telea_prefill`) at the working size; the coarse network
            then predicts a residual on it and the refiner a residual on its zoomed input, both starting near
            zero (``RESIDUAL_INIT_SCALE``). On a CPU budget this starts the network at Telea's fill instead of
            at grey (as for ``hifill``, see :mod:`hrinpaint.nn.hifill`).
    """

    width: int = 32
    coarse_dilations: tuple[int, ...] = (1, 2, 4, 8)
    refine_dilations: tuple[int, ...] = (1, 2, 4, 8)
    gate: GateKind = "full"
    sr_width: int = 64
    sr_blocks: int = 4
    zoom: str = "sr"
    downscale: str = "area"
    temperature: float = 10.0
    attention_patch: int = 3
    prefill: str = "none"

    def __post_init__(self) -> None:
        check_choice("zoom", self.zoom, ZOOM_MODES)
        check_choice("downscale", self.downscale, DOWNSCALES)
        if self.sr_width < 1 or self.sr_blocks < 0:
            raise ConfigError(f"sr_width must be positive and sr_blocks >= 0, got {self.sr_width}, {self.sr_blocks}")
        check_generator_config(self, ("gate",), ("coarse_dilations", "refine_dilations"))

    @property
    def scale(self) -> int:
        """How much larger the refiner's image is than the working image."""
        return 1 if self.zoom == "none" else SCALE


class ZoomOutput(NamedTuple):
    """Everything a forward pass produces.

    Attributes:
        image: ``B x 3 x H x W`` in [0, 1]: the input's known pixels, the zoomed-out refined fill in the hole.
        coarse: ``B x 3 x H x W`` raw coarse prediction on [0, 1] scale (not clipped; for the losses).
        zoomed: ``B x 3 x sH x sW`` the refiner's image input: the SR (or bicubic) zoom of the pasted coarse fill,
            or that fill itself when ``zoom == "none"`` (``s = 1``).
        refined: ``B x 3 x sH x sW`` raw refined prediction on [0, 1] scale.
        scores: ``B x N x N`` attention scores over the refiner's cells (rows sum to 1).
        hole_cells: ``B x 1 x rows x cols``, 1 where a cell touches the hole.
    """

    image: torch.Tensor
    coarse: torch.Tensor
    zoomed: torch.Tensor
    refined: torch.Tensor
    scores: torch.Tensor
    hole_cells: torch.Tensor

    @property
    def grid(self) -> tuple[int, int]:
        rows, cols = self.hole_cells.shape[-2:]
        return int(rows), int(cols)


class ResidualBlock(nn.Module):
    """``x + BN(gconv(BN(gconv_dilated(x))))``: two gated 3x3 layers, the second without activation."""

    def __init__(self, channels: int, dilation: int, gate: GateKind) -> None:
        super().__init__()
        self.body = nn.Sequential(
            GatedConv2d(channels, channels, 3, dilation=dilation, gate=gate),
            nn.BatchNorm2d(channels),
            GatedConv2d(channels, channels, 3, gate=gate, activation=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CoarseNet(CoarseStage):
    """Coarse fill at the working size: gated encoder to ``1/4``, residual blocks with batch norm, decoder.

    Channels: ``width`` at ``1/2``, ``2 * width`` and ``4 * width`` at ``1/4``. The full-resolution input enters
    by space-to-depth and leaves by a pixel shuffle, so no layer runs at full resolution and no detail is lost
    on the way in or out (the stage is :class:`hrinpaint.nn.blocks.CoarseStage`, as pyramid's).

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels zeroed by the caller), mask ``B x 1 x H x W`` (1 = hole);
        returns the raw ``B x 3 x H x W`` prediction on [0, 1] scale.
    """

    def __init__(self, config: ZoomConfig) -> None:
        c, gate = config.width, config.gate
        super().__init__(
            nn.Sequential(*gated_encoder(c, gate), *[ResidualBlock(4 * c, d, gate) for d in config.coarse_dilations]),
            nn.Sequential(GatedConv2d(4 * c, 2 * c, 3, gate=gate), GatedConv2d(2 * c, 2 * c, 3, gate=gate)),
            c,
            gate,
            config.prefill != "none",
        )


class SRNet(nn.Module):
    """x2 super-resolution: residual blocks and a pixel shuffle, added to a bicubic zoom.

    Shape:
        ``B x 3 x H x W`` in [0, 1] -> ``B x 3 x 2H x 2W`` on [0, 1] scale (not clipped), any ``H, W``.
    """

    def __init__(self, config: ZoomConfig) -> None:
        super().__init__()
        c = config.sr_width
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1))
            for _ in range(config.sr_blocks)
        )
        self.to_subpixels = nn.Conv2d(c, 3 * SCALE * SCALE, 3, padding=1)
        self.shuffle = nn.PixelShuffle(SCALE)
        scale_init(self.to_subpixels, SR_OUTPUT_INIT_SCALE)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.head(image * 2.0 - 1.0)
        for block in self.blocks:
            features = features + block(features)
        residual = self.shuffle(self.to_subpixels(features))  # signed scale: half of it on [0, 1] scale
        return bicubic_zoom(image) + 0.5 * residual


class RefineNet(ShuffleOutStage):
    """Refinement: gated encoder to ``1/8``, residual blocks, contextual attention at the bottleneck, decoder.

    Built like :class:`CoarseNet` (space-to-depth in, pixel shuffle out; ``width`` channels at ``1/2``, twice as
    many at ``1/4``, four times at ``1/8``), one level deeper. The attention's cells are the bottleneck's
    positions (``8 x 8`` input pixels); a hole cell's features are replaced by the score-weighted context features
    and concatenated with its own.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (the whole zoomed image), mask ``B x 1 x H x W`` (1 = hole); returns the
        raw ``B x 3 x H x W`` prediction on [0, 1] scale, the ``B x N x N`` scores and the ``B x 1 x rows x cols``
        hole cells.
    """

    def __init__(self, config: ZoomConfig) -> None:
        super().__init__()
        c, gate = config.width, config.gate
        self.encoder = nn.Sequential(
            *gated_encoder(c, gate, eighth=True), *[ResidualBlock(4 * c, d, gate) for d in config.refine_dilations]
        )
        self.attention = ContextualAttention(config.temperature, config.attention_patch)
        self.merge = GatedConv2d(8 * c, 4 * c, 3, gate=gate)
        self.up2 = nn.Sequential(GatedConv2d(4 * c, 2 * c, 3, gate=gate), GatedConv2d(2 * c, 2 * c, 3, gate=gate))
        self.add_output(c, gate, config.prefill != "none")

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, padded_mask = network_input(image, mask, REFINE_PAD_MULTIPLE)
        x = self.encoder(x)  # 1/8: one position per attention cell
        hole = cell_mask(padded_mask, x.shape[-2:])
        scores = self.attention(x, hole)
        x = self.merge(torch.cat([x, attention_transfer(x, scores, hole)], 1))
        return self.to_image(self.up2(upsample2x(x)), image), scores, hole


def bicubic_zoom(image: torch.Tensor) -> torch.Tensor:
    """Bicubic x2 (not clipped): ``B x C x H x W`` -> ``B x C x 2H x 2W``."""
    height, width = image.shape[-2:]
    return F.interpolate(image, size=(SCALE * height, SCALE * width), mode="bicubic", align_corners=False)


def zoom_mask(mask: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of a ``B x 1 x H x W`` mask by a whole ``scale``: each pixel becomes a block."""
    return mask if scale == 1 else mask.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def zoom_out(image: torch.Tensor, size: tuple[int, int], method: str = "area") -> torch.Tensor:
    """Brings a ``B x C x sH x sW`` image back to ``size = (H, W)``: area averaging or antialiased bicubic."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if method == "area":
        return F.adaptive_avg_pool2d(image, size)
    return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False)


class ZoomGenerator(PrefilledGenerator):
    """Coarse network, zoom (SR network, bicubic or none) and refinement network, composed as in the paper.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels are ignored), mask ``B x 1 x H x W`` with 1 = hole; any
        ``H, W >= 1``.
    """

    Config = ZoomConfig
    #: The refiner pads its input to a multiple of this (three stride-2 layers).
    pad_multiple = REFINE_PAD_MULTIPLE

    def __init__(self, config: ZoomConfig | None = None) -> None:
        super().__init__(config)
        self.coarse = CoarseNet(self.config)
        self.sr = SRNet(self.config) if self.config.zoom == "sr" else None
        self.refine = RefineNet(self.config)

    @property
    def scale(self) -> int:
        return self.config.scale

    def coarse_fill(
        self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw coarse prediction and ``X_c``: the prediction (clipped) pasted into the hole of the input.
        ``prefill`` (``B x 3 x H x W``, used in the hole only) is required when the config has a prefill."""
        known = 1.0 - mask
        if self.residual:
            raw = self.coarse(with_prefill(image, mask, prefill, self.config.prefill), mask)
        else:
            raw = self.coarse(image * known, mask)
        return raw, image * known + raw.clamp(0.0, 1.0) * mask

    def zoom_in(self, image: torch.Tensor) -> torch.Tensor:
        """The refiner's image input from the pasted coarse fill: SR, bicubic (both x2) or unchanged."""
        if self.sr is not None:
            return self.sr(image)
        return bicubic_zoom(image) if self.config.zoom == "bicubic" else image

    def zoom_out(self, refined: torch.Tensor, zoomed: torch.Tensor, zoomed_mask: torch.Tensor) -> torch.Tensor:
        """The refined fill at the working size. Known pixels of the zoom replace the refiner's unsupervised ones
        first, so that a bicubic kernel reaching across the hole's border reads sensible values."""
        height, width = refined.shape[-2] // self.scale, refined.shape[-1] // self.scale
        blended = refined * zoomed_mask + zoomed * (1.0 - zoomed_mask)
        return zoom_out(blended, (height, width), self.config.downscale)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None = None) -> ZoomOutput:
        """Fills the hole of ``image``; ``prefill`` as in :meth:`coarse_fill`."""
        check_image_mask(image, mask)
        mask = (mask > 0.5).to(image.dtype)
        coarse, pasted = self.coarse_fill(image, mask, prefill)
        zoomed = self.zoom_in(pasted)
        zoomed_mask = zoom_mask(mask, self.scale)
        refined, scores, hole = self.refine(zoomed.clamp(0.0, 1.0), zoomed_mask)
        fill = self.zoom_out(refined, zoomed, zoomed_mask).clamp(0.0, 1.0)
        output = image * (1.0 - mask) + fill * mask
        return ZoomOutput(output, coarse, zoomed, refined, scores, hole)
