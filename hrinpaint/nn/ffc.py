"""Fast Fourier convolutions (Chi et al. 2020) as LaMa uses them: Fourier unit, spectral transform, FFC, residual block.

An FFC splits its channels into a *local* part (ordinary convolutions) and a *global* part (a spectral transform,
whose 1x1 convolution in the frequency domain lets every output position see the whole image). Four paths mix
them: local->local, local->global, global->local (spatial convolutions) and global->global (spectral). Features
travel between FFC layers as a ``(local, global)`` pair; ``global`` is None where a layer has no global channels.

Module and attribute names follow LaMa's ``saicinpainting/training/modules/ffc.py`` so that its checkpoints load
by name: ``convl2l``, ``convl2g``, ``convg2l``, ``convg2g`` (``conv1``, ``fu``, ``conv2``), ``bn_l``, ``bn_g``.
Paths that LaMa leaves as parameter-free identities are simply absent here.
"""

from __future__ import annotations

import torch
from torch import nn

#: Features between FFC layers: ``(local, global)``; a plain tensor counts as all local.
Pair = tuple[torch.Tensor, torch.Tensor | None]


def as_pair(x: torch.Tensor | Pair) -> Pair:
    return x if isinstance(x, tuple) else (x, None)


def global_channels(channels: int, ratio: float) -> int:
    """How many of ``channels`` are global for a ratio (LaMa truncates)."""
    return int(channels * ratio)


def _add(first: torch.Tensor | None, second: torch.Tensor | None) -> torch.Tensor | None:
    if first is None:
        return second
    return first if second is None else first + second


class FourierUnit(nn.Module):
    """A 1x1 convolution on the 2-D real FFT of the input (real and imaginary parts as channel pairs), then
    batch norm and ReLU, then the inverse FFT: a global receptive field in one layer.

    Shape:
        input ``B x C_in x H x W``, output ``B x C_out x H x W``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(in_channels * 2, out_channels * 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels * 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        spectrum = torch.fft.rfft2(x, norm="ortho")  # B x C x H x (W // 2 + 1), complex
        # channel 2c holds the real part of channel c and 2c + 1 its imaginary part (LaMa's layout)
        stacked = torch.stack((spectrum.real, spectrum.imag), dim=2).flatten(1, 2)
        stacked = self.relu(self.bn(self.conv_layer(stacked)))
        real, imaginary = stacked.unflatten(1, (-1, 2)).unbind(2)
        return torch.fft.irfft2(torch.complex(real, imaginary), s=(height, width), norm="ortho")


class SpectralTransform(nn.Module):
    """The global->global path: 1x1 reduction to half the channels, a Fourier unit with a residual, 1x1 expansion.

    Shape:
        input ``B x C_in x H x W``, output ``B x C_out x H / stride x W / stride``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.downsample: nn.Module = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        hidden = out_channels // 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.fu = FourierUnit(hidden, hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.downsample(x))
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """A fast Fourier convolution; spatial paths use reflection padding and no bias, as in LaMa.

    Args:
        ratio_in, ratio_out: fraction of the input and output channels that are global.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_in: float,
        ratio_out: float,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        in_global = global_channels(in_channels, ratio_in)
        out_global = global_channels(out_channels, ratio_out)
        in_local, out_local = in_channels - in_global, out_channels - out_global
        self.out_local, self.out_global = out_local, out_global

        def spatial(inputs: int, outputs: int) -> nn.Conv2d | None:
            if inputs == 0 or outputs == 0:
                return None
            return nn.Conv2d(
                inputs, outputs, kernel_size, stride, padding, dilation, bias=False, padding_mode="reflect"
            )

        self.convl2l = spatial(in_local, out_local)
        self.convl2g = spatial(in_local, out_global)
        self.convg2l = spatial(in_global, out_local)
        self.convg2g = SpectralTransform(in_global, out_global, stride) if in_global and out_global else None

    def forward(self, x: torch.Tensor | Pair) -> Pair:
        local, global_ = as_pair(x)
        out_local = out_global = None
        if self.out_local:
            out_local = _add(
                None if self.convl2l is None else self.convl2l(local),
                None if self.convg2l is None or global_ is None else self.convg2l(global_),
            )
        if self.out_global:
            out_global = _add(
                None if self.convl2g is None else self.convl2g(local),
                None if self.convg2g is None or global_ is None else self.convg2g(global_),
            )
        if out_local is None and out_global is None:
            raise ValueError("FFC got no input for any of its paths")
        return out_local, out_global


class FFCBnAct(nn.Module):
    """FFC, then batch norm and an activation on each of the local and global outputs (LaMa's ``FFC_BN_ACT``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_in: float,
        ratio_out: float,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.ffc = FFC(in_channels, out_channels, kernel_size, ratio_in, ratio_out, stride, padding, dilation)
        out_global = global_channels(out_channels, ratio_out)
        self.bn_l = nn.BatchNorm2d(out_channels - out_global) if ratio_out != 1 else None
        self.bn_g = nn.BatchNorm2d(out_global) if ratio_out != 0 else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor | Pair) -> Pair:
        local, global_ = self.ffc(x)
        if local is not None and self.bn_l is not None:
            local = self.act(self.bn_l(local))
        if global_ is not None and self.bn_g is not None:
            global_ = self.act(self.bn_g(global_))
        return local, global_


class FFCResnetBlock(nn.Module):
    """Two 3x3 FFC-BN-ReLU layers with an identity shortcut on both the local and the global features."""

    def __init__(self, channels: int, ratio: float, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = FFCBnAct(channels, channels, 3, ratio, ratio, padding=dilation, dilation=dilation)
        self.conv2 = FFCBnAct(channels, channels, 3, ratio, ratio, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor | Pair) -> Pair:
        local, global_ = as_pair(x)
        out_local, out_global = self.conv2(self.conv1((local, global_)))
        return _add(local, out_local), _add(global_, out_global)  # type: ignore[return-value]


class ConcatPair(nn.Module):
    """Joins a ``(local, global)`` pair into one tensor along the channels (local first)."""

    def forward(self, x: torch.Tensor | Pair) -> torch.Tensor:
        local, global_ = as_pair(x)
        if global_ is None:
            return local
        return torch.cat((local, global_), dim=1)
