"""The training configuration: typed sections, read from TOML (with ``base`` includes), saved as JSON beside a run.

A config file has the loop's settings at the top and one table per concern::

    base = "zoom-ablation.toml"   # optional: start from this file (relative to this one)
    family = "zoom"
    steps = 400

    [model]      # the family's generator config (its fields; checked by the trainer)
    [data]       # photos, crops, holes, validation cases, the prefill pool
    [losses]     # reconstruction weights and the band the loss sees
    [critic]     # the discriminator: weight 0 trains without one
    [options]    # the family trainer's own options (each trainer documents its keys)

An unknown key anywhere is an error. A run saves its resolved config as sectioned JSON; the flat JSON that runs
saved before the sections (every option at the top, as ``checkpoints/hifill-pm/config.json``) is still read
(:func:`read_saved`, :meth:`TrainConfig.from_flat`).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrinpaint.errors import ConfigError, InputError
from hrinpaint.train.typed import checked

#: The typed sections (`[model]` and `[options]` are tables that the family's trainer checks against its classes).
SECTIONS = ("data", "losses", "critic")


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: what a step and a validation see.

    Attributes:
        folder: folder of training photos.
        val_folder: folder of validation photos (every photo, once per ``val_masks`` kind); none to skip.
        crop: training crop side in pixels (the generator's training resolution).
        mask_kinds: hole kinds drawn uniformly (see ``hrinpaint masks``).
        mask_start_scale, mask_end_scale, mask_ramp_steps: the progressive schedule (holes grow).
        val_size: validation photos' long side.
        val_masks: validation hole kinds.
        val_limit: use only the first photos of ``val_folder``.
        pool: draw crops from a fixed pool of this many cases with the default's fill of each cached
            (:class:`~hrinpaint.train.pool.PrefillPool`; needed for ``prefill = "patchmatch"``); 0 draws fresh
            crops every step.
        pool_cache: folder of the pools' files.
    """

    folder: str = "../shared/data/train"
    val_folder: str | None = "../shared/data/eval/kodak"
    crop: int = 256
    mask_kinds: tuple[str, ...] = ("thick", "medium", "deepfill", "box")
    mask_start_scale: float = 0.5
    mask_end_scale: float = 1.0
    mask_ramp_steps: int = 2000
    val_size: int = 256
    val_masks: tuple[str, ...] = ("medium", "thick")
    val_limit: int | None = None
    pool: int = 0
    pool_cache: str = "runs/pools"

    def __post_init__(self) -> None:
        for name in ("mask_kinds", "val_masks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.crop < 16:
            raise ConfigError(f"crop must be >= 16, got {self.crop}")
        if self.pool < 0:
            raise ConfigError(f"pool must be >= 0, got {self.pool}")


@dataclass(frozen=True)
class LossConfig:
    """``[losses]``: the reconstruction terms (a trainer refuses a term it does not use).

    Attributes:
        hole_weight, known_weight: masked L1 weights (the paper's 1.0 and 1.2).
        coarse_weight: weight of the coarse branch's reconstruction loss.
        gradient_weight, tv_weight: gradient loss and total variation in the hole.
        band: sigma in crop pixels: the loss sees the output as the fillers make it, the prefill plus the
            network's change below this Gaussian (``band_merge``); 0 sees the network's whole output.
    """

    hole_weight: float = 1.0
    known_weight: float = 1.2
    coarse_weight: float = 1.0
    gradient_weight: float = 0.0
    tv_weight: float = 0.0
    band: float = 0.0

    def __post_init__(self) -> None:
        if not self.band >= 0:
            raise ConfigError(f"band must be >= 0, got {self.band}")


@dataclass(frozen=True)
class CriticConfig:
    """``[critic]``: the discriminator (a trainer without one refuses any of these).

    Attributes:
        weight: the adversarial loss's weight; 0 trains without a discriminator (the HiFill paper uses 1e-4
            with WGAN-GP).
        gan: ``wgan-gp`` or ``hinge``.
        steps: discriminator updates per generator step.
        gp_weight: gradient-penalty weight (``wgan-gp``).
        width: channels of the first discriminator layer.
    """

    weight: float = 0.0
    gan: str = "wgan-gp"
    steps: int = 1
    gp_weight: float = 10.0
    width: int = 32

    def __post_init__(self) -> None:
        if self.gan not in ("wgan-gp", "hinge"):
            raise ConfigError(f"gan must be 'wgan-gp' or 'hinge', got {self.gan!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; a run is reproducible from this and the data.

    Attributes:
        family: trainer registry name (``hifill``).
        model: options of the family's generator config (for ``hifill``: ``HiFillConfig``'s fields).
        options: the family trainer's own options (its ``Options`` class; ``hifill`` has none).
        data, losses, critic: the sections (:class:`DataConfig`, :class:`LossConfig`, :class:`CriticConfig`).
        steps, batch_size: the number of generator steps and the per-step batch.
        lr, lr_final: Adam learning rate, decayed along a cosine to ``lr_final`` at ``steps``.
        betas: Adam betas.
        seed: seeds batches, masks and initialisation.
        threads: torch CPU threads (0 = torch's default).
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when available).
        init: a ``.safetensors`` file of the same family and config to start the generator from (fine-tuning).
        time_limit: seconds of training after which the run stops at the end of a step (checkpointed, and
            resumable like any run); 0 for none.
        log_every, val_every, checkpoint_every: in steps.
    """

    family: str = "hifill"
    model: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    steps: int = 10000
    batch_size: int = 8
    lr: float = 1e-3
    lr_final: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    threads: int = 0
    device: str = "cpu"
    init: str | None = None
    time_limit: float = 0.0
    log_every: int = 10
    val_every: int = 500
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.batch_size < 1 or self.steps < 1:
            raise ConfigError(f"batch_size and steps must be >= 1, got {self.batch_size} and {self.steps}")
        if min(self.log_every, self.val_every, self.checkpoint_every) < 1:
            raise ConfigError("log_every, val_every and checkpoint_every must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """The sectioned form, as a run saves it (JSON) and :meth:`from_dict` reads it."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; a section may be given as a dict of its fields to change
        (``replace(data={"pool": 2})``) or as a whole section."""
        for name in SECTIONS:
            if isinstance(changes.get(name), dict):
                changes[name] = dataclasses.replace(getattr(self, name), **changes[name])
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The checked config from its sectioned form; an unknown key anywhere is a :class:`ConfigError`."""
        moved = sorted(set(values) & set(FLAT_NAMES) - set(SECTIONS))
        if moved:
            where = ", ".join(f"{name} (as [{FLAT_NAMES[name][0]}] {FLAT_NAMES[name][1]})" for name in moved)
            raise ConfigError(f"training config: these options live in a section now: {where}")
        return checked(cls, values, "training config")

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> TrainConfig:
        """The config from the flat form runs saved before the sections: every section's option at the top,
        under its old name (``data``, ``val_data``, ``adversarial_weight``, ``discriminator_width``...)."""
        top: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for name, value in values.items():
            if name in FLAT_NAMES:
                section, key = FLAT_NAMES[name]
                sections[section][key] = value
            else:
                top[name] = value
        return cls.from_dict({**top, **sections})


#: The flat form's names of the sections' options: old name -> (section, name).
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "data": ("data", "folder"),
    "val_data": ("data", "val_folder"),
    **{item.name: ("data", item.name) for item in dataclasses.fields(DataConfig) if "folder" not in item.name},
    **{item.name: ("losses", item.name) for item in dataclasses.fields(LossConfig)},
    "adversarial_weight": ("critic", "weight"),
    "gan": ("critic", "gan"),
    "critic_steps": ("critic", "steps"),
    "gp_weight": ("critic", "gp_weight"),
    "discriminator_width": ("critic", "width"),
}


def is_flat(values: dict[str, Any]) -> bool:
    """Whether ``values`` is the flat form (:meth:`TrainConfig.from_flat`): a string ``data`` folder or any
    option that now lives in a section, at the top."""
    return isinstance(values.get("data"), str) or any(name in values for name in set(FLAT_NAMES) - set(SECTIONS))


def read_saved(path: str | Path) -> TrainConfig:
    """The config a run saved (``config.json``), sectioned or in the flat form of older runs."""
    path = Path(path)
    values = _parse(path)
    return TrainConfig.from_flat(values) if is_flat(values) else TrainConfig.from_dict(values)


def load_config(path: str | Path) -> TrainConfig:
    """Reads a sectioned TOML training config, following its ``base`` includes; a ``.json`` file is read as a
    run saved it (:func:`read_saved`). Unknown keys, bad values and include cycles are a :class:`ConfigError`."""
    path = Path(path)
    if path.suffix == ".json":
        return read_saved(path)
    return TrainConfig.from_dict(resolve_includes(path))


def resolve_includes(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The TOML file's values over those of its ``base`` (a path relative to the file; bases may have bases):
    top-level keys replace the base's, a table's keys replace the same table's keys in the base."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(item.name for item in (*seen, path))
        raise ConfigError(f"training config includes itself: {chain}")
    values = _parse(path)
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str):
        raise ConfigError(f"{path.name}: base must be a file name, got {base!r}")
    merged = resolve_includes(path.parent / base, (*seen, path))
    for name, value in values.items():
        below = merged.get(name)
        merged[name] = {**below, **value} if isinstance(value, dict) and isinstance(below, dict) else value
    return merged


def _parse(path: Path) -> dict[str, Any]:
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"cannot read training config {path}: {error.strerror}") from error
    try:
        values = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not valid {kind}: {error}") from error
    if not isinstance(values, dict):
        raise InputError(f"{path} is not a training config: it holds a {type(values).__name__}, not a table")
    return values
