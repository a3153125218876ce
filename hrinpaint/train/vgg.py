"""VGG16 features from a local state-dict file, and the perceptual and style losses on them.

No weights ship and nothing is downloaded: the caller names a file holding torchvision's ``vgg16`` state dict
(``features.{i}.weight`` / ``features.{i}.bias``, as ``.pth`` or ``.safetensors``; the classifier's keys are
ignored). Only the layers up to the deepest tap are built. Images are taken in [0, 1] and normalised with the
ImageNet mean and spread that the weights were trained with.

The default taps are ``pool1``, ``pool2`` and ``pool3``, the layers of the partial-convolution paper's losses that
DFNet and the shift-refinement paper use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from hrinpaint.errors import InputError

#: torchvision's VGG16 ``features``: convolution widths, ``"M"`` for a 2x2 max pool.
VGG16_LAYOUT: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)
DEFAULT_TAPS = ("pool1", "pool2", "pool3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names() -> dict[str, int]:
    """Index in ``features`` of each named output: ``relu{block}_{n}`` and ``pool{block}``."""
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in VGG16_LAYOUT:
        if item == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 1
        else:
            names[f"relu{block}_{conv}"] = index + 1
            index, conv = index + 2, conv + 1
    return names


def _features(last: int) -> nn.Sequential:
    """torchvision's layer sequence, indices ``0..last``."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
        if len(layers) > last:
            break
    return nn.Sequential(*layers[: last + 1])


class VGG16Features(nn.Module):
    """Frozen VGG16 ``features`` returning the tapped activations.

    Shape:
        image ``B x 3 x H x W`` in [0, 1]; returns one ``B x C_j x H_j x W_j`` tensor per tap, in tap order.
    """

    def __init__(self, taps: Sequence[str] = DEFAULT_TAPS) -> None:
        super().__init__()
        names = layer_names()
        unknown = [tap for tap in taps if tap not in names]
        if unknown or not taps:
            raise ValueError(f"unknown VGG16 taps {unknown}; known: {', '.join(names)}")
        self.taps = tuple(taps)
        self.indices = tuple(names[tap] for tap in self.taps)
        self.features = _features(max(self.indices))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        return super().train(False)  # a loss network never updates anything, batch norm or not

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean) / self.std
        outputs = []
        wanted = set(self.indices)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                outputs.append(x)
        by_index = dict(zip(sorted(wanted), outputs, strict=True))
        return [by_index[index] for index in self.indices]


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    return state


def load_vgg16(path: str | Path, taps: Sequence[str] = DEFAULT_TAPS) -> VGG16Features:
    """VGG16 features with the weights of a local torchvision-layout state dict (``.pth`` or ``.safetensors``).

    Keys may carry the ``features.`` prefix (a whole ``vgg16`` state dict) or not (a ``features`` one).

    Raises:
        InputError: a missing or unreadable file, or one without the needed layers.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"VGG16 weights {path} do not exist (give a local torchvision vgg16 state dict)")
    try:
        state = _read_state(path)
    except InputError:
        raise
    except Exception as error:  # torch and safetensors raise many kinds for a damaged file
        raise InputError(f"cannot read VGG16 weights {path}: {error}") from error
    model = VGG16Features(taps)
    prefix = "features." if any(key.startswith("features.") for key in state) else ""
    wanted = {f"features.{key}" for key in model.features.state_dict()}
    picked = {f"features.{key[len(prefix) :]}": value for key, value in state.items() if key.startswith(prefix)}
    picked = {key: value for key, value in picked.items() if key in wanted}
    missing = sorted(wanted - set(picked))
    if missing:
        raise InputError(f"VGG16 weights {path} lack {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    try:
        model.load_state_dict(picked)
    except RuntimeError as error:
        raise InputError(f"VGG16 weights {path} do not fit VGG16: {error}") from error
    return model


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``F F^T / (C H W)`` per image: the channels' correlations, whatever the size.

    Shape:
        ``B x C x H x W`` in, ``B x C x C`` out.
    """
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def perceptual_from_features(predicted: Sequence[torch.Tensor], target: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over taps of the mean absolute difference of the activations."""
    return torch.stack([(p - t).abs().mean() for p, t in zip(predicted, target, strict=True)]).sum()


def style_from_features(predicted: Sequence[torch.Tensor], target: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over taps of the mean absolute difference of the Gram matrices."""
    differences = [(gram_matrix(p) - gram_matrix(t)).abs().mean() for p, t in zip(predicted, target, strict=True)]
    return torch.stack(differences).sum()


def vgg_losses(vgg: VGG16Features, prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(perceptual, style)`` from one pass over each image; the target's features carry no gradient.

    Shape:
        prediction, target: ``B x 3 x H x W`` in [0, 1].
    """
    predicted, wanted = _both(vgg, prediction, target)
    return perceptual_from_features(predicted, wanted), style_from_features(predicted, wanted)


def perceptual_loss(vgg: VGG16Features, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the taps of ``mean |psi_j(prediction) - psi_j(target)|``; the target carries no gradient."""
    return perceptual_from_features(*_both(vgg, prediction, target))


def style_loss(vgg: VGG16Features, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the taps of ``mean |G_j(prediction) - G_j(target)|`` (:func:`gram_matrix`)."""
    return style_from_features(*_both(vgg, prediction, target))


def _both(
    vgg: VGG16Features, prediction: torch.Tensor, target: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if prediction.shape != target.shape or prediction.ndim != 4 or prediction.shape[1] != 3:
        raise ValueError(f"expected two B x 3 x H x W images, got {tuple(prediction.shape)}, {tuple(target.shape)}")
    with torch.no_grad():
        wanted = vgg(target)
    return vgg(prediction), wanted
