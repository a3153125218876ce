"""The generic training loop: batches, steps, logs, validation, checkpoints and resume.

A run directory holds ``config.json`` (the resolved config), ``checkpoint.pt`` (the latest state, written
atomically), ``log.jsonl`` (one line per logged step or validation) and, after :func:`hrinpaint.train.export`,
the exported weights. Batches depend only on ``(seed, step)``, so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hrinpaint.errors import InputError
from hrinpaint.masks.schedule import ProgressiveSchedule
from hrinpaint.train import TRAINERS
from hrinpaint.train.base import Trainer
from hrinpaint.train.config import TrainConfig, read_saved
from hrinpaint.train.data import PhotoCrops, validation_set

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
LOG = "log.jsonl"


def build_trainer(config: TrainConfig) -> Trainer:
    """The family's trainer, initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    return TRAINERS.get(config.family)(config)


def mask_schedule(config: TrainConfig) -> ProgressiveSchedule:
    data = config.data
    return ProgressiveSchedule(data.mask_start_scale, data.mask_end_scale, data.mask_ramp_steps, data.mask_kinds)


def save_checkpoint(run_dir: Path, trainer: Trainer, step: int, elapsed: float) -> None:
    """Writes ``checkpoint.pt`` atomically: ``step`` is the number of steps done."""
    temporary = run_dir / (CHECKPOINT + ".tmp")
    torch.save({"step": step, "elapsed": elapsed, "trainer": trainer.state_dict()}, temporary)
    os.replace(temporary, run_dir / CHECKPOINT)


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise InputError(f"no checkpoint to resume in {run_dir}")
    return torch.load(path, map_location="cpu", weights_only=False)


def _append_log(run_dir: Path, record: dict[str, Any], on_log: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Appends ``record`` to the run's log and hands it to ``on_log``."""
    with open(run_dir / LOG, "a") as log:
        log.write(json.dumps(record) + "\n")
    if on_log:
        on_log(record)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    dataset: PhotoCrops | None = None,
    until: int | None = None,
) -> Trainer:
    """Trains ``config.steps`` steps into ``run_dir`` (``until``: stops after that step, checkpointed, the
    learning rate's cosine still over ``config.steps``); returns the trainer.

    With ``resume`` the run continues from ``run_dir/checkpoint.pt`` with the config saved there (the given
    ``config`` may change only ``steps`` and the logging intervals). Without it, an existing checkpoint is an
    error rather than being overwritten.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    state = None
    if resume:
        state = load_checkpoint(run_dir)
        saved = read_saved(run_dir / CONFIG)  # sectioned, or the flat form of older runs
        config = saved.replace(
            steps=config.steps,
            log_every=config.log_every,
            val_every=config.val_every,
            checkpoint_every=config.checkpoint_every,
            time_limit=config.time_limit,
        )
    elif (run_dir / CHECKPOINT).exists():
        raise InputError(f"{run_dir} already has a checkpoint; resume it or choose another folder")
    (run_dir / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    trainer = build_trainer(config)
    start, elapsed = 0, 0.0
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        start, elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
    data = config.data
    if dataset is None:
        dataset = PhotoCrops(data.folder, data.crop, mask_schedule(config), seed=config.seed)
        if data.pool:
            dataset = trainer.make_pool(dataset)
    validation = (
        validation_set(data.val_folder, data.val_size, data.val_masks, data.val_limit) if data.val_folder else []
    )

    if state is None and config.init:
        from hrinpaint.nn.weights import load_model

        trainer.generator.load_state_dict(load_model(config.init)[0].state_dict())
    elif state is None:
        trainer.initialise(dataset)
    began = time.perf_counter() - elapsed
    last = config.steps if until is None else min(until, config.steps)
    for step in range(start, last):
        named = trainer.step(dataset.batch(step, config.batch_size), step)
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            _append_log(run_dir, {"step": done, "seconds": round(time.perf_counter() - began, 1), **named}, on_log)
        if validation and (done % config.val_every == 0 or done == config.steps):
            _append_log(run_dir, {"step": done, "validation": trainer.validate(validation)}, on_log)
        out_of_time = bool(config.time_limit) and time.perf_counter() - began >= config.time_limit
        if out_of_time and done % config.log_every and done != config.steps:
            _append_log(run_dir, {"step": done, "seconds": round(time.perf_counter() - began, 1), **named}, on_log)
        if out_of_time and validation and done % config.val_every and done != config.steps:
            _append_log(run_dir, {"step": done, "validation": trainer.validate(validation)}, on_log)
        if done % config.checkpoint_every == 0 or done in (config.steps, last) or out_of_time:
            save_checkpoint(run_dir, trainer, done, time.perf_counter() - began)
        if out_of_time:
            break
    return trainer
