"""The HiFill trainer: one generator step (plus optional critic steps) returning named losses."""

from __future__ import annotations

from typing import Any

import torch

from hrinpaint.fillers.network import batch_prefill
from hrinpaint.nn.discriminator import PatchDiscriminator
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator
from hrinpaint.train import losses
from hrinpaint.train.base import Trainer
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch
from hrinpaint.train.init import unit_variance_init


class HiFillTrainer(Trainer):
    """Trains :class:`HiFillGenerator` with masked L1 on both branches, optional gradient, TV and GAN losses (WGAN-GP
    or hinge). It has no options of its own."""

    model_name = "hifill"
    ModelConfig = HiFillConfig
    model_config: HiFillConfig
    discriminator: PatchDiscriminator | None

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.setup(HiFillGenerator(self.model_config), lambda: PatchDiscriminator(config.critic.width))

    def initialise(self, dataset: Any) -> None:
        """Before the first step of a new run: a residual (prefilled) generator gets unit-variance layers, so
        that its small output layers see real features (see :mod:`hrinpaint.train.init`)."""
        if not self.generator.residual:
            return
        batch = self.init_batch(dataset)
        # half size: the spreads are the same and the ~150 forward passes cost a quarter
        half = batch.halved().to(self.device)
        image, mask = half.image, half.mask
        prefill = batch_prefill(image, mask, self.model_config.prefill)
        unit_variance_init(self.generator, lambda: self.generator(image, mask, prefill))

    def _critic_step(self, batch: Batch, fake: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        assert self.discriminator is not None and self.critic_optimizer is not None
        config = self.config
        real_scores = self.discriminator(batch.image, batch.mask)
        fake_scores = self.discriminator(fake.detach(), batch.mask)
        if config.critic.gan == "wgan-gp":
            critic = losses.wgan_critic_loss(real_scores, fake_scores)
            penalty = losses.gradient_penalty(
                lambda x: self.discriminator(x, batch.mask), batch.image, fake, batch.mask, generator
            )
            total = critic + config.critic.gp_weight * penalty
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
        lr = self.set_lr(step)
        generator = torch.Generator(self.device).manual_seed(config.seed * 1_000_003 + step)
        prefill = self._prefill(batch)
        out = self.generator(batch.image, batch.mask, prefill)
        mask = batch.mask
        refined, coarse = out.refined, out.coarse
        if config.losses.band > 0 and prefill is not None:  # the loss sees what the filler keeps of the output
            base = batch.image * (1.0 - mask) + prefill * mask
            refined = losses.band_merged(refined, base, mask, config.losses.band)
            coarse = losses.band_merged(coarse, base, mask, config.losses.band)
        named: dict[str, float] = {"lr": lr}

        if self.discriminator is not None:
            for _ in range(config.critic.steps):
                named.update(self._critic_step(batch, out.image, generator))

        refine_l1 = losses.masked_l1(refined, batch.image, mask, config.losses.hole_weight, config.losses.known_weight)
        coarse_l1 = losses.masked_l1(coarse, batch.image, mask, config.losses.hole_weight, config.losses.known_weight)
        total = refine_l1 + config.losses.coarse_weight * coarse_l1
        named["refine_l1"] = refine_l1.item()
        named["coarse_l1"] = coarse_l1.item()
        if config.losses.gradient_weight > 0:
            gradient = losses.gradient_loss(refined, batch.image, mask)
            total = total + config.losses.gradient_weight * gradient
            named["gradient"] = gradient.item()
        if config.losses.tv_weight > 0:
            tv = losses.total_variation(out.image, mask)
            total = total + config.losses.tv_weight * tv
            named["tv"] = tv.item()
        if self.discriminator is not None:
            fake_scores = self.discriminator(out.image, mask)
            adversarial = (
                losses.wgan_generator_loss(fake_scores)
                if config.critic.gan == "wgan-gp"
                else losses.hinge_generator_loss(fake_scores)
            )
            total = total + config.critic.weight * adversarial
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
