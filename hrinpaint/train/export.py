"""Export a training run's generator to safetensors with its manifest (see :mod:`hrinpaint.nn.weights`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hrinpaint.nn.weights import save_weights
from hrinpaint.train.config import read_saved
from hrinpaint.train.loop import CONFIG, LOG, build_trainer, load_checkpoint


def last_validation(run_dir: Path) -> dict[str, Any]:
    """The newest validation record in the run's log (empty if it never validated)."""
    found: dict[str, Any] = {}
    log = run_dir / LOG
    if log.exists():
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if "validation" in record:
                found = {"step": record["step"], **record["validation"]}
    return found


def last_losses(run_dir: Path, window: int = 20) -> dict[str, float]:
    """Mean of each logged loss over the last ``window`` log records: where the loss curve ended."""
    records = []
    log = run_dir / LOG
    if log.exists():
        records = [r for r in map(json.loads, log.read_text().splitlines()) if "validation" not in r]
    records = records[-window:]
    keys = sorted({k for r in records for k in r if k not in ("step", "seconds", "lr")})
    return {k: sum(r[k] for r in records if k in r) / max(1, sum(k in r for r in records)) for k in keys}


def export_run(run_dir: str | Path, output: str | Path, validation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the run's latest generator to ``output`` and returns the manifest.

    ``validation`` (for example benchmark numbers) is recorded; by default the run's newest validation.
    """
    run_dir = Path(run_dir)
    config = read_saved(run_dir / CONFIG)
    state = load_checkpoint(run_dir)
    trainer = build_trainer(config)
    trainer.load_state_dict(state["trainer"])
    training = {
        "resolution": config.data.crop,
        "steps": int(state["step"]),
        "batch_size": config.batch_size,
        "seconds": round(float(state.get("elapsed", 0.0)), 1),
        "data": config.data.folder,
        "final_losses": last_losses(run_dir),
        "config": config.to_dict(),
    }
    return save_weights(
        trainer.generator,
        trainer.model_name,
        output,
        training,
        validation if validation is not None else last_validation(run_dir),
    )
