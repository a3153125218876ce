"""The Zoom-to-Inpaint trainer: each part pretrained on its own, then all jointly, on growing holes.

A training crop is the high-resolution label ``X~``; the coarse network's input ``X`` is that crop area-downsampled
by 2, with a mask where any low-resolution pixel touching the hole is hole; the refiner's mask is that mask
nearest-upsampled (so its hole covers the label's). Phases, in order (lengths from the options, the joint phase
takes the rest of ``config.steps``):

- ``coarse``: ``L_c``, masked L1 of the pasted coarse fill against ``X`` (plus a VGG feature loss when local VGG
  weights are given; none ship, so it is off by default and the run's saved options say ``vgg = ""``);
- ``sr``: ``L_SR``, L1 of the SR network's zoom of ``X`` against ``X~`` over the whole image (as the paper
  pretrains it on plain super-resolution);
- ``refine``: ``L_r`` on the refiner fed by the frozen coarse and SR networks: masked L1, the squared gradient
  loss (``config.losses.gradient_weight``) and the SN-PatchGAN hinge loss (``config.critic.weight``, the paper's
  0.5), all on the label-blended output ``M~ * f_r + (1 - M~) * X~``, so that no loss falls on known pixels;
- ``joint``: ``coarse_weight * L_c + L_SR + L_r`` through the whole generator.

With ``zoom = "none"`` the refiner's label and mask are ``X`` and the low-resolution mask. The learning rate
follows a cosine from ``config.lr`` to ``config.lr_final`` within each phase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from hrinpaint.errors import ConfigError, InpaintError
from hrinpaint.fillers.network import batch_prefill
from hrinpaint.masks.schedule import ProgressiveSchedule
from hrinpaint.nn.discriminator import PatchDiscriminator
from hrinpaint.nn.zoom import SCALE, ZoomConfig, ZoomGenerator, zoom_mask
from hrinpaint.train import losses
from hrinpaint.train.base import Trainer
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch

PHASES = ("coarse", "sr", "refine", "joint")

#: Seeds the trainer's own mask draws apart from the batch's (which use ``[seed, step]``).
_MASK_STREAM = 7


@dataclass(frozen=True)
class ZoomTrainOptions:
    """The ``zoom`` trainer's ``config.options``.

    Attributes:
        coarse_steps, sr_steps, refine_steps: pretraining steps of each part, in this order; the joint phase
            takes the rest of ``config.steps``. ``sr_steps`` must be 0 without an SR network.
        switch_step: progressive learning: the trainer draws its own holes (kinds ``[data] mask_kinds``), scaled
            by ``small_mask_scale`` before this step and ``large_mask_scale`` from it. -1 (the default) keeps the
            loop's holes (``config``'s ramp).
        small_mask_scale, large_mask_scale: hole-size factors before and after ``switch_step``.
        vgg: local VGG16 weights for the coarse network's feature loss; empty for none (the default).
        vgg_weight: weight of that loss (the paper's 0.01).
    """

    coarse_steps: int = 0
    sr_steps: int = 0
    refine_steps: int = 0
    switch_step: int = -1
    small_mask_scale: float = 0.5
    large_mask_scale: float = 1.0
    vgg: str = ""
    vgg_weight: float = 0.01

    def __post_init__(self) -> None:
        if min(self.coarse_steps, self.sr_steps, self.refine_steps) < 0 or self.switch_step < -1:
            raise ConfigError("coarse_steps, sr_steps and refine_steps must be >= 0, switch_step >= 0 (or -1)")
        if self.small_mask_scale <= 0 or self.large_mask_scale <= 0 or self.vgg_weight < 0:
            raise ConfigError("mask scales must be positive and vgg_weight non-negative")


class Phase(NamedTuple):
    """A training phase: its name and the steps it spans, ``[start, start + length)``."""

    name: str
    start: int
    length: int

    @property
    def fills(self) -> bool:
        """Whether the phase runs the coarse network, which fills the hole from a prefill (every phase but
        ``sr``, which trains the SR network alone on whole images)."""
        return self.name != "sr"


def phases(options: ZoomTrainOptions, steps: int) -> list[Phase]:
    """The phases of a ``steps``-step run, empty ones left out (pretraining beyond ``steps`` is cut off)."""
    lengths = (options.coarse_steps, options.sr_steps, options.refine_steps)
    result, start = [], 0
    for name, length in zip(PHASES, (*lengths, max(steps - sum(lengths), 0)), strict=True):
        length = min(length, steps - start)
        if length > 0:
            result.append(Phase(name, start, length))
            start += length
    return result


def downsample_pair(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The low-resolution input from a high-resolution label: area average by 2, and a mask where any pixel
    touching the hole is hole.

    Shape:
        ``B x 3 x 2h x 2w`` and ``B x 1 x 2h x 2w`` -> ``B x 3 x h x w`` and ``B x 1 x h x w``.
    """
    return F.avg_pool2d(image, SCALE), (F.max_pool2d(mask, SCALE) > 0.5).to(mask.dtype)


class ZoomTrainer(Trainer):
    """Trains :class:`ZoomGenerator` in phases (see the module docstring). It reads no ``tv_weight`` or ``band``
    (its losses are on label-blended outputs) and no ``gp_weight`` (its critic is the paper's hinge loss)."""

    model_name = "zoom"
    ModelConfig = ZoomConfig
    Options = ZoomTrainOptions
    unused = ("losses.tv_weight", "losses.band", "critic.gp_weight")
    model_config: ZoomConfig
    options: ZoomTrainOptions
    discriminator: PatchDiscriminator | None

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        if config.data.crop % SCALE:
            raise ConfigError(
                f"the zoom trainer halves the crop for the network's input; crop {config.data.crop} is odd"
            )
        if self.options.sr_steps and self.model_config.zoom != "sr":
            raise ConfigError(f"sr_steps is {self.options.sr_steps} but zoom {self.model_config.zoom!r} has no SR net")
        if config.critic.weight > 0 and config.critic.gan != "hinge":
            raise ConfigError(
                f"the zoom trainer uses the paper's hinge GAN loss; set gan = 'hinge', not {config.critic.gan!r}"
            )
        self.phases = phases(self.options, config.steps)
        self.switch: ProgressiveSchedule | None = None
        if self.options.switch_step >= 0:
            try:
                self.switch = ProgressiveSchedule.switch(
                    self.options.switch_step,
                    config.data.mask_kinds,
                    self.options.small_mask_scale,
                    self.options.large_mask_scale,
                )
            except InpaintError as error:
                raise ConfigError(str(error)) from error
        self.setup(ZoomGenerator(self.model_config), lambda: PatchDiscriminator(config.critic.width))
        self.vgg: Any = None
        if self.options.vgg:
            from hrinpaint.train.vgg import load_vgg16  # only with local VGG weights: none ship

            self.vgg = load_vgg16(self.options.vgg).to(self.device).eval()

    def phase(self, step: int) -> Phase:
        """The phase ``step`` belongs to (the last one for steps past the end)."""
        for phase in self.phases:
            if step < phase.start + phase.length:
                return phase
        return self.phases[-1]

    def masks(self, batch: Batch, step: int) -> torch.Tensor:
        """The step's high-resolution holes: the batch's, or with ``switch_step`` drawn here, small before the
        switch and large from it (a pure function of ``(seed, step)``)."""
        if self.switch is None:
            return batch.mask
        rng = np.random.default_rng([self.config.seed, step, _MASK_STREAM])
        shape = (int(batch.image.shape[-2]), int(batch.image.shape[-1]))
        holes = np.stack([self.switch.mask(shape, step, rng) for _ in range(batch.image.shape[0])])
        return torch.from_numpy(holes[:, None].astype(np.float32))

    def _set_modes(self, phase: str) -> None:
        """Trains the phase's parts; the frozen ones feeding them use their batch-norm running statistics."""
        generator = self.generator
        generator.train()
        if phase == "refine":
            generator.coarse.eval()
            if generator.sr is not None:
                generator.sr.eval()

    def _coarse_loss(self, raw: torch.Tensor, label: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        blended = raw * mask + label * (1.0 - mask)
        named = {
            "coarse_l1": losses.masked_l1(
                blended, label, mask, self.config.losses.hole_weight, self.config.losses.known_weight
            )
        }
        if self.vgg is not None:
            from hrinpaint.train.vgg import perceptual_loss

            named["coarse_vgg"] = self.options.vgg_weight * perceptual_loss(self.vgg, blended, label)
        return named

    def _refine_loss(
        self, refined: torch.Tensor, label: torch.Tensor, mask: torch.Tensor, named: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        """``L_r`` on the label-blended output; runs the critic step first when there is a discriminator."""
        config = self.config
        blended = refined * mask + label * (1.0 - mask)
        terms = {
            "refine_l1": losses.masked_l1(blended, label, mask, config.losses.hole_weight, config.losses.known_weight)
        }
        if config.losses.gradient_weight > 0:
            gradient = losses.gradient_loss(blended, label, mask, squared=True)
            terms["gradient"] = config.losses.gradient_weight * gradient
        if self.discriminator is not None and self.critic_optimizer is not None:
            for _ in range(config.critic.steps):
                critic = losses.hinge_critic_loss(
                    self.discriminator(label, mask), self.discriminator(blended.detach(), mask)
                )
                self.critic_optimizer.zero_grad(set_to_none=True)
                critic.backward()
                self.critic_optimizer.step()
                named["critic"] = critic.item()
            adversarial = losses.hinge_generator_loss(self.discriminator(blended, mask))
            terms["adversarial"] = config.critic.weight * adversarial
        return terms

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One training step at ``step``; returns the named (weighted) losses, their total and the learning rate."""
        phase = self.phase(step)
        lr = self.set_lr(step, phase.start, phase.length)
        self._set_modes(phase.name)
        batch = replace(batch, mask=self.masks(batch, step)).to(self.device)
        label = batch.image
        image, mask = downsample_pair(label, batch.mask)
        generator = self.generator
        prefill = None
        if phase.fills and batch.prefill is not None and self.switch is None and self.model_config.prefill != "none":
            prefill = F.interpolate(batch.prefill, size=image.shape[-2:], mode="area")  # a pool's
        elif phase.fills:
            prefill = batch_prefill(image, mask, self.model_config.prefill)
        refine_label, refine_mask = (image, mask) if generator.scale == 1 else (label, zoom_mask(mask, SCALE))
        named: dict[str, float] = {"lr": lr}
        terms: dict[str, torch.Tensor] = {}

        if phase.name == "coarse":
            terms.update(self._coarse_loss(generator.coarse_fill(image, mask, prefill)[0], image, mask))
        elif phase.name == "sr":
            assert generator.sr is not None
            terms["sr_l1"] = F.l1_loss(generator.sr(image), label)
        elif phase.name == "refine":
            with torch.no_grad():
                zoomed = generator.zoom_in(generator.coarse_fill(image, mask, prefill)[1])
            refined, _, _ = generator.refine(zoomed.clamp(0.0, 1.0), refine_mask)
            terms.update(self._refine_loss(refined, refine_label, refine_mask, named))
        else:
            out = generator(image, mask, prefill)
            coarse = self._coarse_loss(out.coarse, image, mask)
            terms.update({name: self.config.losses.coarse_weight * value for name, value in coarse.items()})
            if generator.sr is not None:
                terms["sr_l1"] = F.l1_loss(out.zoomed, label)
            terms.update(self._refine_loss(out.refined, refine_label, refine_mask, named))

        total = torch.stack(list(terms.values())).sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        named.update({name: value.item() for name, value in terms.items()})
        named["total"] = total.item()
        return named
