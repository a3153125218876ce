"""Stages shared by the zoom and pyramid generators: a space-to-depth gated encoder, and a decoder that ends in a
gated layer at ``1/2`` and a pixel-shuffle output.

Both generators are built from stages of one pattern: the input ``[signed image, mask, ones]``
(:func:`hrinpaint.nn.layers.network_input`) enters by space-to-depth (``PixelUnshuffle(2)``), so no layer runs at
full resolution, gated layers work at ``1/2`` and ``1/4`` (the zoom refiner at ``1/8`` too), and the output leaves
through a gated layer at ``1/2`` and a :class:`~hrinpaint.nn.layers.ShuffleOut`. A stage predicts the image on
[0, 1] scale, or, when ``residual``, a correction added to its (prefilled) image input.

Nothing here owns parameters under a new name: the modules these functions and classes build are registered by the
generators under the attribute names their shipped weights use (``encoder``, ``decoder``, ``up1``, ``to_rgb``).
"""

from __future__ import annotations

import torch
from torch import nn

from hrinpaint.nn.layers import INPUT_CHANNELS, GatedConv2d, GateKind, ShuffleOut, network_input, upsample2x

#: A coarse stage halves twice; a refine stage's attention cells are ``8 x 8`` pixels.
COARSE_PAD_MULTIPLE = 4
REFINE_PAD_MULTIPLE = 8


def gated_encoder(width: int, gate: GateKind, eighth: bool = False) -> list[nn.Module]:
    """The layers from the ``INPUT_CHANNELS`` network input to ``4 * width`` channels.

    Space-to-depth, ``width`` channels at ``1/2``, ``2 * width`` at ``1/4``, then ``4 * width`` at ``1/4``; or, with
    ``eighth``, ``2 * width`` again at ``1/4`` and ``4 * width`` at ``1/8``. A list, so that a generator can extend
    it and register it as one ``nn.Sequential`` (its parameter names are the list's indices).
    """
    c = width
    layers: list[nn.Module] = [
        nn.PixelUnshuffle(2),
        GatedConv2d(4 * INPUT_CHANNELS, c, 3, gate=gate),  # 1/2
        GatedConv2d(c, 2 * c, 3, 2, gate=gate),  # 1/4
    ]
    if eighth:
        layers += [GatedConv2d(2 * c, 2 * c, 3, gate=gate), GatedConv2d(2 * c, 4 * c, 3, 2, gate=gate)]  # 1/8
    else:
        layers.append(GatedConv2d(2 * c, 4 * c, 3, gate=gate))
    return layers


def dilated_layers(channels: int, dilations: tuple[int, ...], gate: GateKind) -> list[GatedConv2d]:
    """One gated 3x3 layer per dilation rate, ``channels`` in and out."""
    return [GatedConv2d(channels, channels, 3, dilation=d, gate=gate) for d in dilations]


class ShuffleOutStage(nn.Module):
    """A stage whose last layers are a gated layer at ``1/2`` (``up1``) and a :class:`ShuffleOut` (``to_rgb``).

    A subclass builds its own layers, then calls :meth:`add_output` where the output layers belong in its
    construction order (the order in which a seeded initialisation draws their weights).
    """

    up1: GatedConv2d
    to_rgb: ShuffleOut
    residual: bool

    def add_output(self, width: int, gate: GateKind, residual: bool) -> None:
        """Registers ``up1`` (``2 * width`` -> ``width`` channels) and ``to_rgb``; ``residual`` starts ``to_rgb``
        small (see :class:`ShuffleOut`) and makes :meth:`to_image` add the output to the stage's image."""
        self.up1 = GatedConv2d(2 * width, width, 3, gate=gate)  # 1/2
        self.residual = residual
        self.to_rgb = ShuffleOut(width, residual)

    def to_image(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """The stage's raw prediction on [0, 1] scale from its last ``1/4`` map.

        Shape:
            x ``B x 2*width x h x w`` at ``1/4`` of the padded input; image ``B x 3 x H x W``, the stage's image input
            on [0, 1] scale. Returns ``B x 3 x H x W`` (the padding cropped off): ``image + 0.5 * out`` when
            ``residual`` (the output is on the signed scale), ``(out + 1) / 2`` otherwise.
        """
        height, width = image.shape[-2:]
        x = self.to_rgb(self.up1(upsample2x(x)))[..., :height, :width]
        return image + 0.5 * x if self.residual else (x + 1.0) * 0.5


class CoarseStage(ShuffleOutStage):
    """The coarse stage of zoom and pyramid: ``encoder`` down to ``4 * width`` channels at ``1/4``, ``decoder`` to
    ``2 * width`` at ``1/4``, then the shuffle output at the input's size.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (the hole zeroed, or prefilled when ``residual``), mask ``B x 1 x H x W``
        (1 = hole); returns the raw ``B x 3 x H x W`` prediction on [0, 1] scale.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, width: int, gate: GateKind, residual: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.add_output(width, gate, residual)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, _ = network_input(image, mask, COARSE_PAD_MULTIPLE)
        return self.to_image(self.decoder(self.encoder(x)), image)
