"""Weights on disk: a ``.safetensors`` file and a JSON manifest of the same stem beside it.

The manifest says what the tensors are and how they measured, so that a model is rebuilt from it alone:

- ``model``: the registry name (``hifill``); ``config``: the generator config's fields;
- ``sha256``: of the ``.safetensors`` file, checked on load;
- ``value_range`` ([0, 1]), ``mask_polarity`` (``1 = hole``), ``pad_multiple``;
- ``training``: resolution, steps, batch, data, time, the resolved training config;
- ``validation``: the numbers measured on the validation set when the weights were exported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hrinpaint.errors import InputError

MANIFEST_VERSION = 1


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(weights: str | Path) -> Path:
    """``x.safetensors`` -> ``x.json``."""
    return Path(weights).with_suffix(".json")


def save_weights(
    model: Any, model_name: str, path: str | Path, training: dict[str, Any], validation: dict[str, Any]
) -> dict[str, Any]:
    """Writes ``model``'s tensors to ``path`` (safetensors) and its manifest beside it; returns the manifest."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    temporary = path.with_suffix(".safetensors.tmp")
    save_file(tensors, str(temporary), metadata={"model": model_name})
    os.replace(temporary, path)
    manifest = {
        "version": MANIFEST_VERSION,
        "model": model_name,
        "config": dataclasses.asdict(model.config),
        "sha256": sha256_of(path),
        "parameters": int(sum(t.numel() for t in tensors.values())),
        "value_range": [0.0, 1.0],
        "mask_polarity": "1 = hole",
        "pad_multiple": int(getattr(model, "pad_multiple", 1)),
        "training": training,
        "validation": validation,
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the weights at ``path``; a missing or malformed one is an :class:`InputError`."""
    manifest_file = manifest_path(path)
    try:
        manifest = json.loads(manifest_file.read_text())
    except FileNotFoundError as error:
        raise InputError(f"weights {path} have no manifest {manifest_file.name} beside them") from error
    except json.JSONDecodeError as error:
        raise InputError(f"manifest {manifest_file} is not valid JSON: {error}") from error
    for key in ("model", "config", "sha256"):
        if key not in manifest:
            raise InputError(f"manifest {manifest_file} lacks {key!r}")
    return manifest


def load_model(path: str | Path, verify: bool = True) -> tuple[Any, dict[str, Any]]:
    """Rebuilds the model a manifest describes and loads its weights (eval mode); checks the sha256.

    Raises:
        InputError: missing files, a checksum mismatch, or tensors that do not fit the described model.
    """
    from safetensors.torch import load_file

    from hrinpaint.nn import MODELS

    path = Path(path)
    if not path.exists():
        raise InputError(f"weights {path} do not exist")
    manifest = read_manifest(path)
    if verify and sha256_of(path) != manifest["sha256"]:
        raise InputError(f"weights {path} do not match the sha256 in their manifest (damaged or replaced file)")
    model = MODELS.build(manifest["model"], **manifest["config"])
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as error:
        raise InputError(f"weights {path} do not fit a {manifest['model']} model: {error}") from error
    model.eval()
    return model, manifest
