"""The HiFill trainer: one generator step (plus optional critic steps) returning named losses."""

from __future__ import annotations

import math
from typing import Any

import torch

from hrinpaint.errors import InputError
from hrinpaint.fillers.network import batch_prefill
from hrinpaint.nn.discriminator import PatchDiscriminator
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator
from hrinpaint.train import losses
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch, ValidationItem, validate_against_default
from hrinpaint.train.init import unit_variance_init


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when it is available."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cosine_lr(step: int, steps: int, lr: float, lr_final: float) -> float:
    """Cosine decay from ``lr`` at step 0 to ``lr_final`` at ``steps``."""
    progress = min(max(step / max(steps, 1), 0.0), 1.0)
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * progress))


def parts_state(parts: dict[str, Any]) -> dict[str, Any]:
    """A trainer's checkpoint state: the ``state_dict`` of each of its named parts (models, optimizers) that
    exists (a critic and its optimizer only when the run has one)."""
    return {name: part.state_dict() for name, part in parts.items() if part is not None}


def load_parts_state(parts: dict[str, Any], state: dict[str, Any], optional: tuple[str, ...] = ()) -> None:
    """Restores :func:`parts_state`; a part named in ``optional`` is skipped when the state lacks it, any other
    missing part is a ``KeyError``."""
    for name, part in parts.items():
        if part is not None and not (name in optional and name not in state):
            part.load_state_dict(state[name])


class CriticCheckpoint:
    """The checkpoint state of a trainer with a generator, its optimizer and an optional critic: a mixin for the
    trainers' ``state_dict`` / ``load_state_dict`` and the learning rate of both optimizers. The critic lives in
    the attribute ``critic_attribute`` (one discriminator, or a ``ModuleList`` of them) beside
    ``critic_optimizer``; a run without one saves neither, and a checkpoint without them loads into a trainer that
    has one."""

    critic_attribute = "discriminator"
    generator: torch.nn.Module
    optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer | None

    def _apply_lr(self, lr: float) -> None:
        """Sets ``lr`` on the generator's optimizer and, when there is one, the critic's."""
        for optimizer in (self.optimizer, self.critic_optimizer):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr

    def _parts(self) -> dict[str, Any]:
        critic = getattr(self, self.critic_attribute)
        present = critic is not None and self.critic_optimizer is not None
        return {
            "generator": self.generator,
            "optimizer": self.optimizer,
            self.critic_attribute: critic if present else None,
            "critic_optimizer": self.critic_optimizer if present else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return parts_state(self._parts())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_parts_state(self._parts(), state, optional=(self.critic_attribute, "critic_optimizer"))


class HiFillTrainer(CriticCheckpoint):
    """Trains :class:`HiFillGenerator` with masked L1 on both branches, optional gradient, TV and GAN losses."""

    model_name = "hifill"

    def __init__(self, config: TrainConfig) -> None:
        if config.options:
            raise InputError(f"the hifill trainer has no options; got {', '.join(sorted(config.options))}")
        self.config = config
        self.model_config = HiFillConfig(**config.model)
        self.device = resolve_device(config.device)
        self.generator = HiFillGenerator(self.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=config.betas)
        self.discriminator: PatchDiscriminator | None = None
        self.critic_optimizer: torch.optim.Optimizer | None = None
        if config.adversarial_weight > 0:
            self.discriminator = PatchDiscriminator(config.discriminator_width).to(self.device)
            self.critic_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=config.betas)

    def initialise(self, batch: Batch) -> None:
        """Before the first step of a new run: a residual (prefilled) generator gets unit-variance layers, so
        that its small output layers see real features (see :mod:`hrinpaint.train.init`)."""
        if not self.generator.residual:
            return
        # half size: the spreads are the same and the ~150 forward passes cost a quarter
        image = torch.nn.functional.avg_pool2d(batch.image, 2).to(self.device)
        mask = (torch.nn.functional.max_pool2d(batch.mask, 2) > 0.5).float().to(self.device)
        prefill = batch_prefill(image, mask, self.model_config.prefill)
        unit_variance_init(self.generator, lambda: self.generator(image, mask, prefill))

    def _set_lr(self, step: int) -> float:
        lr = cosine_lr(step, self.config.steps, self.config.lr, self.config.lr_final)
        self._apply_lr(lr)
        return lr

    def _critic_step(self, batch: Batch, fake: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        assert self.discriminator is not None and self.critic_optimizer is not None
        config = self.config
        real_scores = self.discriminator(batch.image, batch.mask)
        fake_scores = self.discriminator(fake.detach(), batch.mask)
        if config.gan == "wgan-gp":
            critic = losses.wgan_critic_loss(real_scores, fake_scores)
            penalty = losses.gradient_penalty(
                lambda x: self.discriminator(x, batch.mask), batch.image, fake, batch.mask, generator
            )
            total = critic + config.gp_weight * penalty
            named = {"critic": critic.item(), "gradient_penalty": penalty.item()}
        else:
            total = losses.hinge_critic_loss(real_scores, fake_scores)
            named = {"critic": total.item()}
        self.critic_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.critic_optimizer.step()
        return named

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One training step at ``step``; returns the named losses (floats) and the learning rate."""
        config = self.config
        batch = batch.to(self.device)
        self.generator.train()
        lr = self._set_lr(step)
        generator = torch.Generator(self.device).manual_seed(config.seed * 1_000_003 + step)
        prefill = self._prefill(batch)
        out = self.generator(batch.image, batch.mask, prefill)
        mask = batch.mask
        refined, coarse = out.refined, out.coarse
        if config.band > 0 and prefill is not None:  # the loss sees what the filler keeps of the output
            base = batch.image * (1.0 - mask) + prefill * mask
            refined = losses.band_merged(refined, base, mask, config.band)
            coarse = losses.band_merged(coarse, base, mask, config.band)
        named: dict[str, float] = {"lr": lr}

        if self.discriminator is not None:
            for _ in range(config.critic_steps):
                named.update(self._critic_step(batch, out.image, generator))

        refine_l1 = losses.masked_l1(refined, batch.image, mask, config.hole_weight, config.known_weight)
        coarse_l1 = losses.masked_l1(coarse, batch.image, mask, config.hole_weight, config.known_weight)
        total = refine_l1 + config.coarse_weight * coarse_l1
        named["refine_l1"] = refine_l1.item()
        named["coarse_l1"] = coarse_l1.item()
        if config.gradient_weight > 0:
            gradient = losses.gradient_loss(refined, batch.image, mask)
            total = total + config.gradient_weight * gradient
            named["gradient"] = gradient.item()
        if config.tv_weight > 0:
            tv = losses.total_variation(out.image, mask)
            total = total + config.tv_weight * tv
            named["tv"] = tv.item()
        if self.discriminator is not None:
            fake_scores = self.discriminator(out.image, mask)
            adversarial = (
                losses.wgan_generator_loss(fake_scores)
                if config.gan == "wgan-gp"
                else losses.hinge_generator_loss(fake_scores)
            )
            total = total + config.adversarial_weight * adversarial
            named["adversarial"] = adversarial.item()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        named["total"] = total.item()
        return named

    def _prefill(self, batch: Batch) -> torch.Tensor | None:
        """The batch's cached prefill when it has one (a pool's), else the model's kind computed here."""
        if self.model_config.prefill == "none":
            return None
        if batch.prefill is not None:
            return batch.prefill
        return batch_prefill(batch.image, batch.mask, self.model_config.prefill)

    @torch.no_grad()
    def validate(self, items: list[ValidationItem]) -> dict[str, float]:
        """Hole PSNR and hole L1 of the generator's output on fixed cases, averaged per mask kind and overall;
        with a ``patchmatch`` prefill also the default's own (``default_hole_psnr``, ...): what the network must
        beat."""
        self.generator.eval()
        return validate_against_default(
            items,
            self.model_config.prefill,
            self.config.band,
            lambda image, mask, prefill: self.generator(image, mask, prefill).image,
            self.device,
        )
