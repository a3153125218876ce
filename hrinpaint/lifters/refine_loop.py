"""The optimisation loop of the ``refine`` lifter: the paper's downscaling, the refinement loss, and Adam on a
network's front features at one level."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from hrinpaint.nn.split import Splittable

if TYPE_CHECKING:
    from hrinpaint.lifters.refine import RefineConfig


def gaussian_blur(image: torch.Tensor, sigma: float = 1.0, size: int = 5) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (replicated on sides too short to reflect).

    Shape:
        ``B x C x H x W`` in, same out.
    """
    offsets = torch.arange(size, dtype=image.dtype, device=image.device) - (size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    taps = taps / taps.sum()
    channels = image.shape[1]
    pad = size // 2
    mode = "reflect" if min(image.shape[-2:]) > pad else "replicate"
    padded = F.pad(image, (pad, pad, pad, pad), mode=mode)
    rows = F.conv2d(padded, taps.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    return F.conv2d(rows, taps.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)


def downscale(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The paper's downscaling: 5x5 Gaussian (sigma 1), then bilinear resampling to ``size`` (half-pixel centres).

    Shape:
        ``B x C x H x W`` in, ``B x C x size`` out.
    """
    return F.interpolate(gaussian_blur(image), size=size, mode="bilinear", align_corners=False)


def _masked_mean(difference: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (difference * weight).sum() / (weight.sum() * difference.shape[1])


def refinement_loss(
    prediction: torch.Tensor,
    image: torch.Tensor,
    known: torch.Tensor,
    previous: torch.Tensor,
    target: torch.Tensor,
) -> torch.Tensor:
    """L1 on the known pixels at this level, plus L1 of the downscaled prediction against the previous level's
    result over ``target`` (the eroded hole there); each term is a mean over its pixels, a term with no pixel is 0.

    Shape:
        prediction, image: ``1 x 3 x H x W``; known: ``1 x 1 x H x W`` (1 = known); previous: ``1 x 3 x h x w``;
        target: ``1 x 1 x h x w`` (1 = compared).
    """
    loss = prediction.new_zeros(())
    if bool(known.any()):
        loss = loss + _masked_mean((prediction - image).abs(), known)
    if bool(target.any()):
        loss = loss + _masked_mean((downscale(prediction, tuple(previous.shape[-2:])) - previous).abs(), target)
    return loss


@contextmanager
def _features_only(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients for the duration: only the features get optimised."""
    flags = [parameter.requires_grad for parameter in model.parameters()]
    training = model.training
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        model.train(training)


def refine_level(
    model: Splittable,
    image: torch.Tensor,
    mask: torch.Tensor,
    previous: torch.Tensor,
    target: torch.Tensor,
    config: RefineConfig,
    report: Callable[[int, float], None] | None = None,
    prefill: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Optimises the front's features at one level; returns the rear's prediction and the loss history.

    Args:
        image: ``1 x 3 x H x W`` in [0, 1] (hole pixels ignored); mask: ``1 x 1 x H x W``, 1 = hole.
        previous: ``1 x 3 x h x w``, the previous (coarser) level's result; target: ``1 x 1 x h x w``, 1 where
            the prediction must match it (the hole there, eroded).
        report: called as ``report(steps_taken, loss)`` after each loss is measured.
        prefill: ``1 x 3 x H x W``, what a prefilled network starts from; None: ``previous`` brought up.

    Returns:
        The prediction ``1 x 3 x H x W`` (not clipped, not composited) from the final features, and the
        ``iterations + 1`` losses: before each step, then of the final features.
    """
    known = 1.0 - mask
    extra = {}
    if getattr(model, "residual", False):
        # a prefilled network starts from the best fill there is at this point: the coarser level's result
        extra["prefill"] = (
            prefill
            if prefill is not None
            else F.interpolate(previous, size=image.shape[-2:], mode="bilinear", align_corners=False)
        )
    with torch.no_grad():
        features = model.front(image, mask, **extra)
    latent = tuple(tensor.detach().clone().requires_grad_(True) for tensor in features.latent)
    optimizer = torch.optim.Adam(latent, lr=config.lr)
    losses: list[float] = []
    with torch.enable_grad():
        for step in range(config.iterations):
            optimizer.zero_grad(set_to_none=True)
            prediction = model.rear(features.with_latent(latent), checkpoint=config.checkpointing)
            loss = refinement_loss(prediction, image, known, previous, target)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            del prediction, loss  # the graph's buffers go before the next forward
            if report is not None:
                report(step, losses[-1])
    with torch.no_grad():
        prediction = model.rear(features.with_latent(tuple(tensor.detach() for tensor in latent)))
        losses.append(float(refinement_loss(prediction, image, known, previous, target)))
    if report is not None:
        report(config.iterations, losses[-1])
    return prediction, losses


def anchor_low_frequencies(prediction: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """``prediction`` with its low frequencies replaced by ``previous``'s: the part of the coarser result that
    :func:`downscale` of the prediction misses, brought up bilinearly, is added to it. Then the prediction,
    downscaled, equals ``previous`` up to the blur's edge effects, and only the finer level's detail is new.

    Shape:
        prediction ``1 x 3 x H x W``; previous ``1 x 3 x h x w``; returns ``1 x 3 x H x W``.
    """
    with torch.no_grad():
        missing = previous - downscale(prediction, tuple(previous.shape[-2:]))
        return prediction + F.interpolate(missing, size=prediction.shape[-2:], mode="bilinear", align_corners=False)


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``H x W x C`` or ``H x W`` numpy to ``1 x C x H x W`` float32."""
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float32)
