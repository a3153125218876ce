"""The LaMa generator (Suvorov et al., WACV 2022): a ResNet of fast Fourier convolutions, Big-LaMa by default.

Reflection pad + 7x7 FFC, ``downsamplings`` stride-2 FFCs (the last one splits the channels into local and global
parts), ``blocks`` residual FFC blocks with a global ratio of 0.75, then transposed-convolution upsamplings, a 7x7
convolution and a sigmoid. The layers sit in one ``model`` sequence with LaMa's indices, so the state-dict keys are
those of the official ``FFCResNetGenerator`` (Big-LaMa: ``model.1.ffc.convl2l.weight`` ... ``model.34.bias``) and
its checkpoints load by name (see :mod:`hrinpaint.nn.convert`).

Values are [0, 1] RGB and a 1 = hole mask; the network sees ``cat(image * (1 - mask), mask)`` like LaMa. Any size
works: the input is reflection-padded to a multiple of ``2 ** downsamplings`` (two of it at least) and the output
cropped back.

The front/rear split (:mod:`hrinpaint.nn.split`) is the paper's: the front is the downsampling encoder, its output
(local and global features at ``1/8``) is the latent that ``refine`` optimises, the rear is the residual blocks and
the upsampling decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hrinpaint.errors import ConfigError
from hrinpaint.nn.ffc import ConcatPair, FFCBnAct, FFCResnetBlock, global_channels
from hrinpaint.nn.generator import check_image_mask
from hrinpaint.nn.split import FrontFeatures, checkpointed


@dataclass(frozen=True)
class LamaConfig:
    """Width and depth of the generator; the defaults are Big-LaMa's (about 51 M parameters).

    Attributes:
        width: channels of the first layer (LaMa's ``ngf``); each downsampling doubles them up to ``max_width``.
        downsamplings: stride-2 layers (and as many upsamplings); the pad multiple is ``2 ** downsamplings``.
        blocks: residual FFC blocks at the bottleneck (18 for Big-LaMa, 9 for LaMa-Fourier).
        global_ratio: fraction of the bottleneck channels that are global (spectral) in the blocks.
        max_width: cap on the channels of any layer (LaMa's ``max_features``).
        in_channels, out_channels: RGB + mask in, RGB out.
    """

    width: int = 64
    downsamplings: int = 3
    blocks: int = 18
    global_ratio: float = 0.75
    max_width: int = 1024
    in_channels: int = 4
    out_channels: int = 3

    def __post_init__(self) -> None:
        if self.width < 1 or self.max_width < 1:
            raise ConfigError(f"width and max_width must be positive, got {self.width} and {self.max_width}")
        if self.downsamplings < 1 or self.blocks < 0:
            raise ConfigError(f"need downsamplings >= 1 and blocks >= 0, got {self.downsamplings}, {self.blocks}")
        if not 0.0 < self.global_ratio < 1.0:
            raise ConfigError(f"global_ratio must be in (0, 1), got {self.global_ratio}")
        if global_channels(self.bottleneck, self.global_ratio) < 2:
            raise ConfigError(f"bottleneck of {self.bottleneck} channels leaves too few global ones")
        if self.in_channels != 4 or self.out_channels != 3:
            raise ConfigError("the generator takes RGB + mask (4 channels) and returns RGB (3)")

    def channels(self, level: int) -> int:
        """Channels at ``level`` downsamplings."""
        return min(self.max_width, self.width * 2**level)

    @property
    def bottleneck(self) -> int:
        return self.channels(self.downsamplings)


def _pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads bottom and right to a multiple of ``multiple``, and to at least two of it: the bottleneck's 3x3
    reflection-padded convolutions need a map of 2 x 2 or more. Reflects; replicates where a side is too short."""
    height, width = x.shape[-2:]
    pad_h = max(-height % multiple, 2 * multiple - height)
    pad_w = max(-width % multiple, 2 * multiple - width)
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (height, width)


class LamaGenerator(nn.Module):
    """LaMa's Fourier-convolution ResNet generator with LaMa's parameter names.

    Shape:
        image ``B x 3 x H x W`` in [0, 1] (hole pixels ignored), mask ``B x 1 x H x W`` with 1 = hole; any
        ``H, W >= 1``. :meth:`forward` returns ``B x 3 x H x W`` in [0, 1] with the known pixels of ``image``.
    """

    Config = LamaConfig

    def __init__(self, config: LamaConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LamaConfig()
        self.pad_multiple = 2**config.downsamplings
        ratio = config.global_ratio
        front: list[nn.Module] = [nn.ReflectionPad2d(3), FFCBnAct(config.in_channels, config.width, 7, 0.0, 0.0)]
        for level in range(config.downsamplings):
            last = level == config.downsamplings - 1
            front.append(
                FFCBnAct(
                    config.channels(level),
                    config.channels(level + 1),
                    3,
                    0.0,
                    ratio if last else 0.0,
                    stride=2,
                    padding=1,
                )
            )
        blocks = [FFCResnetBlock(config.bottleneck, ratio) for _ in range(config.blocks)]
        rear: list[nn.Module] = [ConcatPair()]
        for level in range(config.downsamplings, 0, -1):
            inputs, outputs = config.channels(level), min(config.max_width, config.width * 2**level // 2)
            rear += [
                nn.ConvTranspose2d(inputs, outputs, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True),
            ]
        rear += [nn.ReflectionPad2d(3), nn.Conv2d(config.width, config.out_channels, 7), nn.Sigmoid()]
        self.model = nn.Sequential(*front, *blocks, *rear)
        self._front_end = len(front)
        self._blocks_end = len(front) + len(blocks)

    def front(self, image: torch.Tensor, mask: torch.Tensor) -> FrontFeatures:
        """The encoder: padding, the 7x7 FFC and the downsamplings; latent = ``(local, global)`` at ``1/8``."""
        check_image_mask(image, mask)
        mask = (mask > 0.5).to(image.dtype)
        padded, size = _pad(torch.cat([image * (1.0 - mask), mask], 1), self.pad_multiple)
        local, global_ = self.model[: self._front_end](padded)
        return FrontFeatures((local, global_), {"size": size})

    def rear(self, features: FrontFeatures, checkpoint: bool = False) -> torch.Tensor:
        """The residual blocks and the decoder; returns the raw ``B x 3 x H x W`` prediction in [0, 1].

        With ``checkpoint``, each block and each upsampling keeps only its input for the backward pass.
        """
        local, global_ = features.latent
        for block in self.model[self._front_end : self._blocks_end]:
            local, global_ = checkpointed(lambda a, b, block=block: block((a, b)), local, global_, enabled=checkpoint)
        tail = list(self.model[self._blocks_end :])
        x = tail[0]((local, global_))
        stages = [nn.Sequential(*tail[i : i + 3]) for i in range(1, len(tail), 3)]
        for stage in stages:
            x = checkpointed(stage, x, enabled=checkpoint)
        height, width = features.context["size"]
        return x[..., :height, :width]

    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The raw prediction everywhere (LaMa's generator output), ``B x 3 x H x W`` in [0, 1]."""
        return self.rear(self.front(image, mask))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The inpainted image: the prediction in the hole, ``image`` elsewhere."""
        hole = (mask > 0.5).to(image.dtype)
        return image * (1.0 - hole) + self.predict(image, mask) * hole
