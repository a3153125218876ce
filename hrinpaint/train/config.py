"""The training configuration: one frozen dataclass, read from TOML, saved resolved as JSON beside checkpoints."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrinpaint.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; a run is reproducible from this and the data.

    Attributes:
        family: trainer registry name (``hifill``).
        model: options of the family's generator config (for ``hifill``: ``HiFillConfig``'s fields).
        options: the family trainer's own options (each trainer documents and checks its keys; ``hifill`` has
            none).
        data: folder of training photos.
        val_data: folder of validation photos (every photo, once per ``val_masks`` kind); None to skip.
        crop: training crop side in pixels (the generator's training resolution).
        batch_size, steps: per-step batch and the number of generator steps.
        lr, lr_final: Adam learning rate, decayed along a cosine to ``lr_final`` at ``steps``.
        betas: Adam betas.
        mask_kinds: hole kinds drawn uniformly (see ``hrinpaint masks``).
        mask_start_scale, mask_end_scale, mask_ramp_steps: the progressive schedule (holes grow).
        hole_weight, known_weight: masked L1 weights (the paper's 1.0 and 1.2).
        coarse_weight: weight of the coarse branch's reconstruction loss.
        gradient_weight, tv_weight: gradient loss and total variation in the hole.
        adversarial_weight: 0 trains without a discriminator; the paper uses 1e-4 with WGAN-GP.
        gan: ``wgan-gp`` or ``hinge``.
        critic_steps: discriminator updates per generator step.
        gp_weight: gradient-penalty weight.
        discriminator_width: channels of the first discriminator layer.
        seed: seeds batches, masks and initialisation.
        threads: torch CPU threads (0 = torch's default).
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when available).
        val_size: validation photos' long side.
        val_masks: validation hole kinds.
        val_limit: use only the first photos of ``val_data``.
        log_every, val_every, checkpoint_every: in steps.
        pool: draw crops from a fixed pool of this many cases with the default's fill of each cached
            (:class:`~hrinpaint.train.pool.PrefillPool`; needed for ``prefill = "patchmatch"``); 0 draws fresh
            crops every step.
        pool_cache: folder of the pools' files.
        band: sigma in crop pixels: the loss sees the output as the fillers make it, the prefill plus the
            network's change below this Gaussian (``band_merge``); 0 sees the network's whole output.
        init: a ``.safetensors`` file of the same family and config to start the generator from (fine-tuning).
        time_limit: seconds of training after which the run stops at the end of a step (checkpointed, and
            resumable like any run); 0 for none.
    """

    family: str = "hifill"
    model: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    data: str = "../shared/data/train"
    val_data: str | None = "../shared/data/eval/kodak"
    crop: int = 256
    batch_size: int = 8
    steps: int = 10000
    lr: float = 1e-3
    lr_final: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    mask_kinds: tuple[str, ...] = ("thick", "medium", "deepfill", "box")
    mask_start_scale: float = 0.5
    mask_end_scale: float = 1.0
    mask_ramp_steps: int = 2000
    hole_weight: float = 1.0
    known_weight: float = 1.2
    coarse_weight: float = 1.0
    gradient_weight: float = 0.0
    tv_weight: float = 0.0
    adversarial_weight: float = 0.0
    gan: str = "wgan-gp"
    critic_steps: int = 1
    gp_weight: float = 10.0
    discriminator_width: int = 32
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    val_size: int = 256
    val_masks: tuple[str, ...] = ("medium", "thick")
    val_limit: int | None = None
    log_every: int = 10
    val_every: int = 500
    checkpoint_every: int = 100
    pool: int = 0
    pool_cache: str = "runs/pools"
    band: float = 0.0
    init: str | None = None
    time_limit: float = 0.0

    def __post_init__(self) -> None:
        for name in ("betas", "mask_kinds", "val_masks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.crop < 16 or self.batch_size < 1 or self.steps < 1:
            raise InputError("crop must be >= 16, batch_size and steps >= 1")
        if self.gan not in ("wgan-gp", "hinge"):
            raise InputError(f"gan must be 'wgan-gp' or 'hinge', got {self.gan!r}")
        if self.pool < 0 or not self.band >= 0:
            raise InputError(f"pool and band must be >= 0, got {self.pool} and {self.band}")
        if min(self.log_every, self.val_every, self.checkpoint_every) < 1:
            raise InputError("log_every, val_every and checkpoint_every must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise InputError(f"unknown training option {', '.join(unknown)}; options: {', '.join(sorted(allowed))}")
        return cls(**values)


def load_config(path: str | Path) -> TrainConfig:
    """Reads a TOML (or the JSON a run saved) training config; unknown keys are an error."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"cannot read training config {path}: {error.strerror}") from error
    try:
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}") from error
    return TrainConfig.from_dict(values)
