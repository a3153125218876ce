"""Training losses as pure functions of tensors and the hole mask.

Conventions: images ``B x 3 x H x W`` in [0, 1]; ``mask`` ``B x 1 x H x W`` with 1 = hole. Every reconstruction
loss takes separate weights for hole and known pixels (the HiFill paper uses 1.0 in the hole and 1.2 outside).
"""

from __future__ import annotations

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
) -> torch.Tensor:
    """L1 between image gradients (Zoom-to-Inpaint's gradient loss), weighted like :func:`masked_l1`.

    A difference counts as in the hole when either of its two pixels is.
    """
    loss = prediction.new_zeros(())
    for pred_grad, true_grad, axis in zip(image_gradients(prediction), image_gradients(target), (-2, -1), strict=True):
        if axis == -2:
            pair_mask = torch.maximum(mask[..., 1:, :], mask[..., :-1, :])
        else:
            pair_mask = torch.maximum(mask[..., :, 1:], mask[..., :, :-1])
        loss = loss + masked_l1(pred_grad, true_grad, pair_mask, hole_weight, known_weight)
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
