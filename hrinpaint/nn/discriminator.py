"""Spectral-normalised PatchGAN discriminator (SN-PatchGAN, as in DeepFill v2 and HiFill's training)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Stride-2 5x5 spectral-norm convolutions with leaky ReLU; one score per output position.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] and mask ``B x 1 x H x W`` (1 = hole); returns ``B x 1 x H' x W'`` with
        ``H' = ceil(H / 2 ** layers)``.
    """

    def __init__(self, width: int = 64, layers: int = 6) -> None:
        super().__init__()
        channels = [4] + [min(width * 2**i, width * 4) for i in range(layers)]
        self.convs = nn.ModuleList(
            spectral_norm(nn.Conv2d(c_in, c_out, 5, 2, 2))
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        self.to_score = spectral_norm(nn.Conv2d(channels[-1], 1, 3, 1, 1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image * 2.0 - 1.0, mask], 1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return self.to_score(x)
