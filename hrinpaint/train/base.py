"""The base of every trainer: the contract the training loop calls, and what the families share.

A family's trainer subclasses :class:`Trainer`, names its generator's config class (``ModelConfig``) and its own
options class (``Options``, a frozen dataclass; none by default), builds its generator in ``__init__`` through
:meth:`Trainer.setup` (which also makes the optimizer and, with ``[critic] weight > 0``, the critic and its
optimizer), and writes :meth:`Trainer.step`. Everything else has a default that a family may override:
``make_pool`` (the prefill pool), ``initialise`` (nothing), ``validate`` (hole PSNR and L1 against the default),
the learning-rate schedule and the checkpoint state.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from hrinpaint.device import resolve_device
from hrinpaint.errors import ConfigError
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch, ValidationItem, validate_against_default
from hrinpaint.train.typed import checked

if TYPE_CHECKING:
    from hrinpaint.train.data import PhotoCrops
    from hrinpaint.train.pool import PrefillPool

#: The batch a data-dependent initialisation sees: drawn like a step, but no training step uses it.
INIT_BATCH_STEP = 10**9


def cosine_lr(step: int, steps: int, lr: float, lr_final: float) -> float:
    """Cosine decay from ``lr`` at step 0 to ``lr_final`` at ``steps``."""
    progress = min(max(step / max(steps, 1), 0.0), 1.0)
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class NoOptions:
    """The options of a trainer that has none."""


def check_unused(config: TrainConfig, unused: tuple[str, ...], family: str) -> None:
    """Refuses a setting the trainer would ignore: each of ``unused`` (``"section.name"``, or ``"section"`` for
    all of it) must keep its default."""
    for entry in unused:
        section, _, name = entry.partition(".")
        given, default = getattr(config, section), type(getattr(config, section))()
        names = [name] if name else [item.name for item in dataclasses.fields(default)]
        changed = [item for item in names if getattr(given, item) != getattr(default, item)]
        if changed:
            settings = ", ".join(f"[{section}] {item} = {getattr(given, item)!r}" for item in changed)
            raise ConfigError(f"the {family} trainer does not use {settings}: leave it out")


class Trainer(ABC):
    """A family's trainer: one generator step at a time, validation, and its checkpoint state.

    Class attributes a family sets: ``model_name`` (its registry and weights name), ``ModelConfig`` (its
    generator's config dataclass, built from ``config.model``), ``Options`` (its options dataclass, built from
    ``config.options``), ``critic_attribute`` (where its critic lives: one discriminator, or a ``ModuleList``) and
    ``unused`` (settings it does not read, which must then keep their defaults: see :func:`check_unused`).
    """

    model_name: ClassVar[str]
    ModelConfig: ClassVar[type]
    Options: ClassVar[type] = NoOptions
    critic_attribute: ClassVar[str] = "discriminator"
    unused: ClassVar[tuple[str, ...]] = ()

    generator: torch.nn.Module
    optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer | None

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.options: Any = checked(self.Options, config.options, f"{self.model_name} trainer options")
        self.model_config: Any = checked(self.ModelConfig, config.model, f"{self.model_name} model")
        check_unused(config, self.unused, self.model_name)
        self.device = resolve_device(config.device)
        self.critic_optimizer = None
        setattr(self, self.critic_attribute, None)

    def setup(self, generator: torch.nn.Module, critic: Callable[[], torch.nn.Module] | None = None) -> None:
        """Moves ``generator`` to the device with its Adam optimizer; with ``[critic] weight > 0`` also
        ``critic()`` (made after the generator, so a seed draws the same weights) and its own Adam."""
        config = self.config
        self.generator = generator.to(self.device)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=config.betas)
        if critic is not None and config.critic.weight > 0:
            made = critic().to(self.device)
            setattr(self, self.critic_attribute, made)
            self.critic_optimizer = torch.optim.Adam(made.parameters(), lr=config.lr, betas=config.betas)

    # --- what the loop calls ---------------------------------------------------------------------------------

    def make_pool(self, crops: PhotoCrops) -> PrefillPool:
        """With ``[data] pool``: the cases the run draws its batches from (by default the default's fill of
        each crop, :class:`~hrinpaint.train.pool.PrefillPool`)."""
        from hrinpaint.train.pool import PrefillPool

        data = self.config.data
        return PrefillPool(crops, data.pool, data.pool_cache, self.config.seed)

    def initialise(self, dataset: Any) -> None:
        """Before the first step of a new run (not a resume, not from ``init`` weights); ``dataset`` draws
        batches. Nothing by default."""
        return None

    @abstractmethod
    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One training step at ``step``; returns the named losses (floats), their total and the learning rate."""

    @torch.no_grad()
    def validate(self, items: list[ValidationItem]) -> dict[str, float]:
        """Hole PSNR and hole L1 of the generator's output (:meth:`validation_fill`) on fixed cases, per mask
        kind and overall; with a ``patchmatch`` prefill also the default's own scores and the gain over them."""
        self.generator.eval()
        return validate_against_default(
            items, self.model_config.prefill, self.config.losses.band, self.validation_fill, self.device
        )

    def validation_fill(self, image: torch.Tensor, mask: torch.Tensor, prefill: torch.Tensor | None) -> torch.Tensor:
        """The generator's output for one validation case, from the case's prefill (None without one)."""
        return self.generator(image, mask, prefill).image

    # --- shared pieces ---------------------------------------------------------------------------------------

    def init_batch(self, dataset: Any) -> Batch:
        """The batch an initialisation sees (:data:`INIT_BATCH_STEP`, at most 4 cases)."""
        return dataset.batch(INIT_BATCH_STEP, min(self.config.batch_size, 4))

    def set_lr(self, step: int, start: int = 0, length: int | None = None) -> float:
        """Sets the cosine learning rate of ``step`` on every optimizer and returns it; the cosine runs over
        ``[start, start + length)`` (default: the whole run)."""
        config = self.config
        lr = cosine_lr(step - start, config.steps if length is None else length, config.lr, config.lr_final)
        for optimizer in (self.optimizer, self.critic_optimizer):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr
        return lr

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
        """The generator, its optimizer and, when the run has one, the critic and its optimizer."""
        return {name: part.state_dict() for name, part in self._parts().items() if part is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`; a state without a critic loads into a trainer that has one."""
        optional = (self.critic_attribute, "critic_optimizer")
        for name, part in self._parts().items():
            if part is not None and not (name in optional and name not in state):
                part.load_state_dict(state[name])
