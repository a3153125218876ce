"""The Pyramid Generator trainer: every level jointly, each with its own L1 and its own discriminator.

A training crop is the top level's label; level ``n``'s label and hole are the crop and its hole downsampled as the
generator downsamples its input (:func:`hrinpaint.nn.pyramid.image_pyramid`). Level ``n``'s loss is the paper's
Eq. 4, ``L_n = L_adv(G_n, D_n) + L_re(G_n)``, with DeepFill v2's L1 of the coarse stage added
(``config.losses.coarse_weight``): L1 terms on the label-blended predictions (``M * f + (1 - M) * I_n``, so that no loss
falls on known pixels), the adversarial term the SN-PatchGAN hinge loss of a per-level discriminator (all of the
same structure, trained independently) on ``I_n``, weighted by ``config.critic.weight``. The generator
minimises ``sum_n lambda_n L_n`` (Eq. 8; ``level_weights``, the paper's ``(10, 1, 1)`` bottom first). The learning
rate follows a cosine from ``config.lr`` to ``config.lr_final``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.network import batch_prefill
from hrinpaint.nn.discriminator import PatchDiscriminator
from hrinpaint.nn.pyramid import Prefill, PyramidConfig, PyramidGenerator, image_pyramid
from hrinpaint.train import losses
from hrinpaint.train.base import Trainer
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch
from hrinpaint.train.init import unit_variance_init

#: The paper's weight of the bottom level's loss (its error back-propagates through every level above).
BOTTOM_LEVEL_WEIGHT = 10.0


def default_level_weights(levels: int) -> tuple[float, ...]:
    """The paper's ``(10, 1, 1)``: 10 for the bottom level when there are levels above it, 1 for the others."""
    return (BOTTOM_LEVEL_WEIGHT if levels > 1 else 1.0,) + (1.0,) * (levels - 1)


@dataclass(frozen=True)
class PyramidTrainOptions:
    """The ``pyramid`` trainer's ``config.options``.

    Attributes:
        level_weights: ``lambda_n`` per level, bottom first; empty for :func:`default_level_weights`.
    """

    level_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not all(weight >= 0 for weight in self.level_weights):
            raise ConfigError(f"level_weights must be non-negative numbers, got {list(self.level_weights)}")

    def weights(self, levels: int) -> tuple[float, ...]:
        """The level weights of a ``levels``-level generator; a count that does not match is an error."""
        if not self.level_weights:
            return default_level_weights(levels)
        if len(self.level_weights) != levels:
            raise ConfigError(f"level_weights has {len(self.level_weights)} entries for {levels} levels")
        return self.level_weights


class PyramidTrainer(Trainer):
    """Trains :class:`PyramidGenerator` jointly (see the module docstring). It reads no ``tv_weight`` or ``band``
    (its L1 terms are on label-blended predictions) and no ``gp_weight`` (its critics use the hinge loss)."""

    model_name = "pyramid"
    ModelConfig = PyramidConfig
    Options = PyramidTrainOptions
    critic_attribute = "discriminators"
    unused = ("losses.tv_weight", "losses.band", "critic.gp_weight")
    model_config: PyramidConfig
    options: PyramidTrainOptions
    discriminators: torch.nn.ModuleList | None

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.level_weights = self.options.weights(self.model_config.levels)
        if config.critic.weight > 0 and config.critic.gan != "hinge":
            raise ConfigError(
                f"the pyramid trainer uses the paper's hinge loss; set gan = 'hinge', not {config.critic.gan!r}"
            )
        # one optimizer over independent discriminators: Adam's state is per parameter, so this is the same as one
        # optimizer each
        self.setup(
            PyramidGenerator(self.model_config),
            lambda: torch.nn.ModuleList(
                PatchDiscriminator(config.critic.width) for _ in range(self.model_config.levels)
            ),
        )

    def initialise(self, dataset: Any) -> None:
        """Before the first step of a new run: a residual (prefilled) generator gets unit-variance layers, so that
        its small output layers see real features (see :mod:`hrinpaint.train.init`)."""
        if not self.generator.residual:
            return
        batch = self.init_batch(dataset)
        # half size: the spreads are the same and the forward passes cost a quarter
        half = batch.halved().to(self.device)
        image, mask = half.image, half.mask
        prefill = self._prefill_cache(image, mask)
        unit_variance_init(self.generator, lambda: self.generator(image, mask, prefill))

    def _prefill(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A level's hole filled by the configured prefill (Telea, per image, on the CPU)."""
        filled = batch_prefill(image, mask, self.model_config.prefill)
        assert filled is not None  # only called for a prefilled generator
        return filled

    def _prefill_cache(self, image: torch.Tensor, mask: torch.Tensor) -> Prefill:
        """:meth:`_prefill` computed once per level of this ``image`` (the initialisation runs many passes)."""
        cache: dict[tuple[int, int], torch.Tensor] = {}

        def prefill(level_image: torch.Tensor, level_mask: torch.Tensor) -> torch.Tensor:
            key = tuple(level_image.shape[-2:])
            if key not in cache:
                cache[key] = self._prefill(level_image, level_mask)
            return cache[key]

        return prefill

    def _critic_step(self, labels: list[tuple[torch.Tensor, torch.Tensor]], fakes: list[torch.Tensor]) -> list[float]:
        """One update of every level's discriminator; returns each level's hinge loss."""
        assert self.discriminators is not None and self.critic_optimizer is not None
        critics = [
            losses.hinge_critic_loss(discriminator(label, mask), discriminator(fake.detach(), mask))
            for discriminator, (label, mask), fake in zip(self.discriminators, labels, fakes, strict=True)
        ]
        self.critic_optimizer.zero_grad(set_to_none=True)
        torch.stack(critics).sum().backward()
        self.critic_optimizer.step()
        return [critic.item() for critic in critics]

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One joint step at ``step``; returns each level's named losses (``level{n}_l1``, ``level{n}_coarse_l1``,
        ``level{n}_adversarial``, ``level{n}_critic``, and ``level{n}``: ``L_n``), the total and the learning rate."""
        config = self.config
        self.generator.train()
        lr = self.set_lr(step)
        batch = batch.to(self.device)
        image, mask = batch.image, batch.mask
        labels = image_pyramid(image, mask, self.model_config.levels)
        prefill = self._prefill if batch.prefill is None else cached_prefill(batch.prefill)
        if batch.level_prefills is not None:  # made ahead, on the threads that make batches
            prefill = made_prefill(batch.level_prefills)
        out = self.generator(image, mask, prefill)
        named: dict[str, float] = {"lr": lr}

        if self.discriminators is not None:
            for _ in range(config.critic.steps):
                critics = self._critic_step(labels, [level.image for level in out.levels])
                named.update({f"level{n}_critic": value for n, value in enumerate(critics)})

        total = image.new_zeros(())
        for n, (level, (label, level_mask), weight) in enumerate(
            zip(out.levels, labels, self.level_weights, strict=True)
        ):
            terms = self._level_losses(n, level.refined, level.coarse, level.image, label, level_mask)
            level_loss = torch.stack(list(terms.values())).sum()
            total = total + weight * level_loss
            named.update({name: value.item() for name, value in terms.items()})
            named[f"level{n}"] = level_loss.item()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        named["total"] = total.item()
        return named

    def _level_losses(
        self,
        n: int,
        refined: torch.Tensor,
        coarse: torch.Tensor,
        pasted: torch.Tensor,
        label: torch.Tensor,
        mask: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Level ``n``'s weighted terms: L1 of the refined and (``coarse_weight``) coarse predictions, and the
        hinge generator loss of its discriminator (``adversarial_weight``)."""
        config = self.config
        known = 1.0 - mask

        def l1(prediction: torch.Tensor) -> torch.Tensor:
            blended = prediction * mask + label * known
            return losses.masked_l1(blended, label, mask, config.losses.hole_weight, config.losses.known_weight)

        terms = {f"level{n}_l1": l1(refined)}
        if config.losses.coarse_weight > 0:
            terms[f"level{n}_coarse_l1"] = config.losses.coarse_weight * l1(coarse)
        if self.discriminators is not None:
            adversarial = losses.hinge_generator_loss(self.discriminators[n](pasted, mask))
            terms[f"level{n}_adversarial"] = config.critic.weight * adversarial
        return terms

    def validation_fill(self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None) -> torch.Tensor:
        """The output for one validation case (the photo taken as the top level's input, at its size): from the
        default's fill brought to each level with a ``patchmatch`` prefill, else each level's own, as trained."""
        cached = prefill is not None and self.model_config.prefill == "patchmatch"
        return self.generator(image, mask, cached_prefill(prefill) if cached else self._prefill).image


def cached_prefill(top: torch.Tensor) -> Prefill:
    """Every level's prefill from a cached one at the top level's size (a pool's default fill): area-averaged
    to the level, as the filler brings the default's working fill to each level."""

    def prefill(level_image: torch.Tensor, level_mask: torch.Tensor) -> torch.Tensor:
        size = tuple(level_image.shape[-2:])
        return top if size == tuple(top.shape[-2:]) else torch.nn.functional.interpolate(top, size=size, mode="area")

    return prefill


def made_prefill(levels: tuple[torch.Tensor, ...]) -> Prefill:
    """The generator's prefill from fills made ahead (:func:`level_prefills`), each level's by its size."""
    by_size = {tuple(level.shape[-2:]): level for level in levels}

    def prefill(level_image: torch.Tensor, level_mask: torch.Tensor) -> torch.Tensor:
        made = by_size.get(tuple(level_image.shape[-2:]))
        if made is None or made.shape != level_image.shape:
            raise ValueError(f"no prefill made ahead for a level of {tuple(level_image.shape)}")
        return made

    return prefill


def level_prefills(image: torch.Tensor, mask: torch.Tensor, levels: int, kind: str) -> tuple[torch.Tensor, ...]:
    """``kind``'s fill of the hole at every level of the generator's pyramid (:func:`image_pyramid`), coarsest
    first: what the generator asks its prefill for in a training step, made before it."""
    filled = []
    for level_image, level_mask in image_pyramid(image, mask, levels):
        made = batch_prefill(level_image, level_mask, kind)
        assert made is not None  # only for a prefilled generator
        filled.append(made)
    return tuple(filled)
