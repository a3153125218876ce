"""Training losses as pure functions of tensors and the hole mask.

Conventions: images ``B x 3 x H x W`` in [0, 1]; ``mask`` ``B x 1 x H x W`` with 1 = hole. Every reconstruction
loss takes separate weights for hole and known pixels (the HiFill paper uses 1.0 in the hole and 1.2 outside).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def masked_l1(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    hole_weight: float = 1.0,
    known_weight: float = 1.2,
) -> torch.Tensor:
    """``hole_weight * mean |p - t| over hole + known_weight * mean |p - t| over known`` (means per pixel)."""
    error = (prediction - target).abs().mean(dim=1, keepdim=True)
    hole = (error * mask).sum() / mask.sum().clamp_min(1.0)
    known = (error * (1.0 - mask)).sum() / (1.0 - mask).sum().clamp_min(1.0)
    return hole_weight * hole + known_weight * known


def image_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along height and width: ``B x C x (H-1) x W`` and ``B x C x H x (W-1)``."""
    return image[..., 1:, :] - image[..., :-1, :], image[..., :, 1:] - image[..., :, :-1]


def gradient_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    hole_weight: float = 1.0,
    known_weight: float = 0.0,
    squared: bool = False,
) -> torch.Tensor:
    """Error of image gradients, weighted like :func:`masked_l1`; a difference counts as in the hole when either
    of its two pixels is.

    By default the L1 between the gradients of both images. With ``squared``, Zoom-to-Inpaint's gradient loss
    (Eq. 5, after Eigen and Fergus): the squared gradients of the difference, from the 1-tap filters ``[-1, 1]``
    and ``[-1, 1]^T``, halved: ``0.5 * (mean (d_x e)^2 + mean (d_y e)^2)`` with ``e = prediction - target`` and
    the means taken per pixel (over channels, then hole and known pixels) rather than as sums.
    """
    if squared:
        return 0.5 * _squared_gradient_error(prediction - target, mask, hole_weight, known_weight)
    loss = prediction.new_zeros(())
    for pred_grad, true_grad, axis in zip(image_gradients(prediction), image_gradients(target), (-2, -1), strict=True):
        loss = loss + masked_l1(pred_grad, true_grad, _pair_mask(mask, axis), hole_weight, known_weight)
    return loss


def _pair_mask(mask: torch.Tensor, axis: int) -> torch.Tensor:
    """1 where either pixel of a forward difference along ``axis`` (-2 or -1) is in the hole."""
    if axis == -2:
        return torch.maximum(mask[..., 1:, :], mask[..., :-1, :])
    return torch.maximum(mask[..., :, 1:], mask[..., :, :-1])


def _squared_gradient_error(
    error: torch.Tensor, mask: torch.Tensor, hole_weight: float, known_weight: float
) -> torch.Tensor:
    """Sum over both axes of the weighted hole and known means of the squared gradients of ``error``."""
    loss = error.new_zeros(())
    for gradient, axis in zip(image_gradients(error), (-2, -1), strict=True):
        squared = gradient.square().mean(dim=1, keepdim=True)
        pair_mask = _pair_mask(mask, axis)
        hole = (squared * pair_mask).sum() / pair_mask.sum().clamp_min(1.0)
        known = (squared * (1.0 - pair_mask)).sum() / (1.0 - pair_mask).sum().clamp_min(1.0)
        loss = loss + hole_weight * hole + known_weight * known
    return loss


def total_variation(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference between neighbours, over the hole (dilated by one pixel) or everywhere."""
    dy, dx = image_gradients(image)
    if mask is None:
        return dy.abs().mean() + dx.abs().mean()
    region = F.max_pool2d(mask, 3, stride=1, padding=1)
    my = torch.maximum(region[..., 1:, :], region[..., :-1, :])
    mx = torch.maximum(region[..., :, 1:], region[..., :, :-1])
    channels = image.shape[1]
    return (dy.abs() * my).sum() / (my.sum() * channels).clamp_min(1.0) + (dx.abs() * mx).sum() / (
        mx.sum() * channels
    ).clamp_min(1.0)


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic minimises ``D(fake) - D(real)``."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator minimises ``-D(fake)``."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP: ``E[(||grad D(x_hat)|| - 1)^2]`` at random interpolates of real and fake.

    With ``mask`` the gradient norm is taken over the hole only (the DeepFill / HiFill variant).
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, dtype=real.dtype, device=real.device)
    mixed = (alpha * real + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    if mask is not None:
        grad = grad * mask
    norm = grad.flatten(1).norm(dim=1)
    return ((norm - 1.0) ** 2).mean()


def hinge_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss for the discriminator: ``relu(1 - D(real)) + relu(1 + D(fake))``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss for the generator: ``-D(fake)``."""
    return -fake_scores.mean()


def band_merged(output: torch.Tensor, base: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """What a band-split filler makes of a network's ``output`` (see
    :func:`hrinpaint.fillers.network.band_merge`): ``base`` plus the hole's change below a Gaussian of ``sigma``
    pixels, known pixels from ``base``; ``output`` itself for ``sigma = 0``.

    Shape:
        output, base ``B x 3 x H x W``; mask ``B x 1 x H x W`` (1 = hole); returns ``B x 3 x H x W``.
    """
    if sigma <= 0:
        return output
    from hrinpaint.lifters.refine_loop import gaussian_blur

    change = (output - base) * mask
    blurred = gaussian_blur(change, sigma, 2 * math.ceil(3 * sigma) + 1)
    return base + blurred * mask
