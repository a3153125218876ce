"""The Pyramid Generator (Qu et al., "Structure First Detail Next", 2021): DeepFill v2-style sub-generators stacked
from a low resolution up, each refining the fill of the one below.

- The input image and mask are downsampled by 2 per level (``levels = 3``: the working size / 4, / 2 and x 1; a
  pixel touching the hole is hole at every level).
- :class:`SubGenerator` ``G_n``: a coarse stage ``G_n^c`` and a refine stage ``G_n^r`` of gated convolutions, with
  contextual attention in a second branch of the refine stage (as DeepFill v2).
- Image-level fusion at the refine stage (the paper's Eq. 3): ``I_0 = G_0^r(G_0^c(x_0))`` and
  ``I_n = G_n^r(G_n^c(x_n) + up(I_{n-1}))``; ``G_n^c(x_n)`` is the coarse prediction pasted into the hole of
  ``x_n`` and ``I_n`` the refined prediction pasted into it.
- Adaptive dilation: the bottom level's stages use dilations ``{2, 4, 8, 12}`` (a large receptive field for the
  structure), the upper levels ``{2, 4, 8}`` (detail).

``PyramidConfig.prefill = "telea"`` is the CPU-budget variant (as for ``hifill`` and ``zoom``): every level's
coarse stage takes a Telea fill ``P_n`` of that level's hole (computed at the level's own size), and every stage
predicts a residual on its image input, its output layer starting at ``RESIDUAL_INIT_SCALE`` of its default
initialisation. The fusion is the paper's sum written in residuals: the refine stage of level ``n`` takes
``G_n^c(x_n) + up(I_{n-1} - P_{n-1})`` in the hole, the level's coarse fill plus the correction the level below
made to its own prefill (``P`` counted once, not twice). So an untrained pyramid returns about the Telea fill at the
top level's size, sharp as Telea is there; the first version of this variant prefilled only the bottom level, and
its upper levels started from a blurred 4x upsampling (0.5 dB below Telea on Kodak at 256 px after 200 steps).

``extra_levels`` in :meth:`PyramidGenerator.forward` runs the top sub-generator again at x2 per extra level
(its weights reused, fused the same way) for images larger than the trained top level. Values are [0, 1] RGB and a
1 = hole mask at the edges of every module, ``[-1, 1]`` inside. Every module takes any ``H, W >= 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.errors import ConfigError
from hrinpaint.nn import blocks
from hrinpaint.nn.attention import ContextualAttention, attention_transfer, cell_mask
from hrinpaint.nn.blocks import REFINE_PAD_MULTIPLE, ShuffleOutStage, dilated_layers, gated_encoder
from hrinpaint.nn.generator import PrefilledGenerator, check_generator_config, check_image_mask
from hrinpaint.nn.layers import GatedConv2d, GateKind, network_input

#: The paper's adaptive dilation: the bottom sub-generator's and the upper ones' dilated layers.
BOTTOM_DILATIONS = (2, 4, 8, 12)
UPPER_DILATIONS = (2, 4, 8)

#: Fills a level's hole: ``(B x 3 x h x w image, B x 1 x h x w mask) -> B x 3 x h x w`` filled image.
Prefill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _prefilled(prefill: Prefill, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image`` with its hole replaced by ``prefill``'s fill (known pixels exact)."""
    filled = prefill(image, mask)
    if filled.shape != image.shape:
        raise ValueError(f"the prefill returned {tuple(filled.shape)} for an image of {tuple(image.shape)}")
    return image * (1.0 - mask) + filled * mask


@dataclass(frozen=True)
class PyramidConfig:
    """Levels, width and dilations of the pyramid; the defaults are the paper's three levels.

    Attributes:
        levels: sub-generators ``N + 1``; level ``n`` (bottom-first) runs at ``1 / 2 ** (levels - 1 - n)`` of the
            input size. 1 is a single DeepFill v2-style generator (the ablation).
        width: channels of each stage's ``1/2`` layer; its ``1/4`` layers use 2x and 4x.
        bottom_dilations: the dilated layers of the bottom sub-generator's coarse stage and refine stage.
        upper_dilations: the same for every level above the bottom.
        gate: gate kind of the gated convolutions (``full`` is DeepFill v2's; see :mod:`hrinpaint.nn.layers`).
        temperature: softmax temperature of the attention scores.
        attention_patch: neighbourhood, in cells, compared by the attention.
        prefill: ``none`` (the paper: hole pixels enter as zero) or ``telea`` (see the module docstring); the
            caller passes the function that fills a level's hole.
    """

    levels: int = 3
    width: int = 32
    bottom_dilations: tuple[int, ...] = BOTTOM_DILATIONS
    upper_dilations: tuple[int, ...] = UPPER_DILATIONS
    gate: GateKind = "full"
    temperature: float = 10.0
    attention_patch: int = 3
    prefill: str = "none"

    def __post_init__(self) -> None:
        if self.levels < 1:
            raise ConfigError(f"levels must be >= 1, got {self.levels}")
        check_generator_config(self, ("gate",), ("bottom_dilations", "upper_dilations"))

    def dilations(self, level: int) -> tuple[int, ...]:
        """The dilation rates of level ``level`` (0 = bottom)."""
        return self.bottom_dilations if level == 0 else self.upper_dilations


class LevelOutput(NamedTuple):
    """What one level of the pyramid produces, all at that level's size ``h x w``.

    Attributes:
        image: ``B x 3 x h x w`` in [0, 1]: ``I_n``, the level's known pixels and the refined fill in the hole.
        coarse: ``B x 3 x h x w`` raw coarse prediction on [0, 1] scale (not clipped; for the losses).
        fused: ``B x 3 x h x w`` the refine stage's image input on [0, 1] scale: the pasted coarse fill, plus
            ``up(I_{n-1})`` above the bottom level without a prefill (so in ``[0, 2]``), or plus
            ``up(I_{n-1} - P_{n-1})`` in the hole with one (clipped to [0, 1]).
        refined: ``B x 3 x h x w`` raw refined prediction on [0, 1] scale.
        mask: ``B x 1 x h x w`` the level's hole (1 = hole).
        scores: ``B x N x N`` attention scores over the refine stage's cells (rows sum to 1).
        hole_cells: ``B x 1 x rows x cols``, 1 where a cell touches the hole.
    """

    image: torch.Tensor
    coarse: torch.Tensor
    fused: torch.Tensor
    refined: torch.Tensor
    mask: torch.Tensor
    scores: torch.Tensor
    hole_cells: torch.Tensor


class PyramidOutput(NamedTuple):
    """A forward pass: the top level's image and every level's outputs, bottom-first.

    Attributes:
        image: ``B x 3 x H x W`` in [0, 1]: the input's known pixels (bit-exact), the top level's fill in the hole.
        levels: one :class:`LevelOutput` per level, bottom first (extra levels last).
    """

    image: torch.Tensor
    levels: tuple[LevelOutput, ...]

    @property
    def scores(self) -> torch.Tensor:
        """The top level's attention scores (the filler hands them to ``cra``)."""
        return self.levels[-1].scores

    @property
    def hole_cells(self) -> torch.Tensor:
        return self.levels[-1].hole_cells

    @property
    def grid(self) -> tuple[int, int]:
        rows, cols = self.hole_cells.shape[-2:]
        return int(rows), int(cols)


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """The sizes of a ``levels``-level pyramid over an ``height x width`` input, bottom first: each level is the
    one above halved, rounded up (so every level keeps at least one pixel)."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        above_height, above_width = sizes[-1]
        sizes.append(((above_height + 1) // 2, (above_width + 1) // 2))
    return sizes[::-1]


def image_pyramid(image: torch.Tensor, mask: torch.Tensor, levels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The input at every level, bottom first: the image area-averaged and the mask max-pooled (a pixel that
    touches the hole is hole), each level from the one above.

    Shape:
        image ``B x 3 x H x W``, mask ``B x 1 x H x W`` (1 = hole); level ``n`` is ``level_sizes(H, W, levels)[n]``.
    """
    mask = (mask > 0.5).to(image.dtype)
    pairs = [(image, mask)]
    for size in level_sizes(*image.shape[-2:], levels)[-2::-1]:
        above_image, above_mask = pairs[-1]
        if tuple(above_image.shape[-2:]) == (2 * size[0], 2 * size[1]):
            below = F.avg_pool2d(above_image, 2), F.max_pool2d(above_mask, 2)
        else:  # an odd side: windows of 1 or 2 pixels
            below = F.adaptive_avg_pool2d(above_image, size), F.adaptive_max_pool2d(above_mask, size)
        pairs.append(below)
    return pairs[::-1]


def upsample_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``B x C x h x w`` to ``size``: how ``I_{n-1}`` reaches level ``n``."""
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


class CoarseStage(blocks.CoarseStage):
    """``G_n^c``: gated encoder to ``1/4``, the level's dilated layers, decoder, pixel-shuffle output (the stage is
    :class:`hrinpaint.nn.blocks.CoarseStage`, as zoom's coarse network).

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (the hole zeroed, or prefilled when ``residual``), mask ``B x 1 x H x W``
        (1 = hole); returns the raw ``B x 3 x H x W`` prediction on [0, 1] scale.
    """

    def __init__(self, width: int, dilations: tuple[int, ...], gate: GateKind, residual: bool) -> None:
        c = width
        encoder = nn.Sequential(
            *gated_encoder(c, gate), *dilated_layers(4 * c, dilations, gate), GatedConv2d(4 * c, 4 * c, 3, gate=gate)
        )
        super().__init__(encoder, GatedConv2d(4 * c, 2 * c, 3, gate=gate), c, gate, residual)


class RefineStage(ShuffleOutStage):
    """``G_n^r``: DeepFill v2's two branches, merged at ``1/4`` and decoded.

    The convolution branch has the level's dilated layers; the attention branch matches ``8 x 8``-pixel cells (its
    ``1/4`` map average-pooled by 2) and moves ``1/4``-map features from context cells into hole cells.

    Shape:
        image ``B x 3 x H x W`` on [0, 1] scale (the fused input), mask ``B x 1 x H x W`` (1 = hole); returns the
        raw ``B x 3 x H x W`` prediction on [0, 1] scale, the ``B x N x N`` scores and the ``B x 1 x rows x cols``
        hole cells (``rows = ceil(H / 8)``).
    """

    def __init__(
        self,
        width: int,
        dilations: tuple[int, ...],
        gate: GateKind,
        residual: bool,
        temperature: float = 10.0,
        attention_patch: int = 3,
    ) -> None:
        super().__init__()
        c = width
        self.convolution_branch = nn.Sequential(*gated_encoder(c, gate), *dilated_layers(4 * c, dilations, gate))
        self.attention_branch = nn.Sequential(*gated_encoder(c, gate))
        self.attention = ContextualAttention(temperature, attention_patch)
        self.after_attention = GatedConv2d(4 * c, 4 * c, 3, gate=gate)
        self.decoder = nn.Sequential(GatedConv2d(8 * c, 4 * c, 3, gate=gate), GatedConv2d(4 * c, 2 * c, 3, gate=gate))
        self.add_output(c, gate, residual)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, padded_mask = network_input(image, mask, REFINE_PAD_MULTIPLE)
        features = self.attention_branch(x)  # 1/4
        cells = F.avg_pool2d(features, 2)  # 1/8: one position per attention cell
        hole = cell_mask(padded_mask, cells.shape[-2:])
        scores = self.attention(cells, hole)
        attended = self.after_attention(attention_transfer(features, scores, hole))
        merged = self.decoder(torch.cat([self.convolution_branch(x), attended], 1))
        return self.to_image(merged, image), scores, hole


class SubGenerator(nn.Module):
    """``G_n``: a coarse and a refine stage with the level's dilation rates."""

    def __init__(self, config: PyramidConfig, level: int) -> None:
        super().__init__()
        residual = config.prefill != "none"
        dilations = config.dilations(level)
        self.dilations = dilations
        self.coarse = CoarseStage(config.width, dilations, config.gate, residual)
        self.refine = RefineStage(
            config.width, dilations, config.gate, residual, config.temperature, config.attention_patch
        )


class PyramidGenerator(PrefilledGenerator):
    """``levels`` sub-generators fused bottom-up (see the module docstring).

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels are ignored), mask ``B x 1 x H x W`` with 1 = hole; any
        ``H, W >= 1`` (every level pads its own input).
    """

    Config = PyramidConfig
    #: The refine stages pad their inputs to a multiple of this (attention cells of 8 x 8 pixels).
    pad_multiple = REFINE_PAD_MULTIPLE

    def __init__(self, config: PyramidConfig | None = None) -> None:
        super().__init__(config)
        self.generators = nn.ModuleList(SubGenerator(self.config, level) for level in range(self.config.levels))

    def depth(self, extra_levels: int = 0) -> int:
        """Levels a forward pass with ``extra_levels`` runs."""
        return self.config.levels + extra_levels

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, prefill: Prefill | None = None, extra_levels: int = 0
    ) -> PyramidOutput:
        """Fills the hole of ``image``.

        Args:
            image, mask: as in the class docstring.
            prefill: fills a level's hole: called with each level's ``B x 3 x h x w`` image and ``B x 1 x h x w``
                mask, returns the filled ``B x 3 x h x w`` image (Telea, in the filler and the trainer); required
                when the config has a prefill, ignored otherwise.
            extra_levels: levels above the top one, each x2 and run by the top sub-generator.
        """
        check_image_mask(image, mask)
        if extra_levels < 0:
            raise ValueError(f"extra_levels must be >= 0, got {extra_levels}")
        pyramid = image_pyramid(image, mask, self.depth(extra_levels))
        if self.residual and prefill is None:
            raise ValueError(f"a {self.config.prefill!r}-prefilled generator needs a prefill function")
        outputs: list[LevelOutput] = []
        base: torch.Tensor | None = None  # the level's prefilled input (residual variant)
        for level, (level_image, level_mask) in enumerate(pyramid):
            generator = self.generators[min(level, self.config.levels - 1)]
            below = None
            if outputs:
                # the residual variant fuses what the level below added to its own prefill
                below_image = outputs[-1].image if base is None else outputs[-1].image - base
                below = upsample_to(below_image, level_image.shape[-2:])
            if prefill is not None and self.residual:
                base = _prefilled(prefill, level_image, level_mask)
            outputs.append(self._level(generator, level_image, level_mask, below, base))
        top = outputs[-1]
        result = image * (1.0 - pyramid[-1][1]) + top.image * pyramid[-1][1]
        return PyramidOutput(result, tuple(outputs))

    def _level(
        self,
        generator: SubGenerator,
        image: torch.Tensor,
        mask: torch.Tensor,
        below: torch.Tensor | None,
        base: torch.Tensor | None,
    ) -> LevelOutput:
        """One level: ``I_n = G_n^r(G_n^c(x_n) + up(I_{n-1}))``, ``below`` being ``up(I_{n-1})`` (None at the
        bottom), or ``up(I_{n-1} - P_{n-1})`` in the residual variant, where ``base`` is the level's image with
        its hole prefilled."""
        known = 1.0 - mask
        coarse = generator.coarse(image * known if base is None else base, mask)
        pasted = image * known + coarse.clamp(0.0, 1.0) * mask
        if below is None:
            fused = pasted
        elif base is None:
            fused = pasted + below
        else:
            fused = (pasted + below * mask).clamp(0.0, 1.0)
        refined, scores, hole = generator.refine(fused, mask)
        level_image = image * known + refined.clamp(0.0, 1.0) * mask
        return LevelOutput(level_image, coarse, fused, refined, mask, scores, hole)
