"""Converting foreign checkpoints into the project's weights (safetensors + manifest).

``import_lama`` reads an official LaMa checkpoint (a PyTorch Lightning ``best.ckpt``: ``state_dict`` with the
generator under ``generator.``, beside the discriminator, the loss networks and the optimiser state), infers the
generator's config from the tensor shapes, checks that every tensor fits, and writes the generator alone.

Lightning checkpoints pickle more than tensors (callbacks, hyper-parameters). They are read without running any
of that code: first with torch's ``weights_only`` loader, and where it refuses an object, with an unpickler that
builds tensors and plain containers and replaces every other object by an inert placeholder.
"""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hrinpaint.errors import InputError

GENERATOR_PREFIX = "generator."

_FRONT_LAYER = re.compile(r"^model\.(\d+)\.ffc\.convl2l\.weight$")
_BLOCK_LAYER = re.compile(r"^model\.(\d+)\.conv1\.ffc\.convl2l\.weight$")
_PLAIN_LAYER = re.compile(r"^model\.(\d+)\.weight$")


class _Inert:
    """Stands in for any pickled object that is neither a tensor nor a plain container; keeps nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _allowed_global(module: str, name: str) -> Any | None:
    import torch

    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
        return getattr(torch._utils, name)
    if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
        return getattr(torch, name)
    return None


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_global(module, name)
        return _Inert if allowed is None else allowed


class _TolerantPickle:
    """A ``pickle_module`` for :func:`torch.load` (torch handles the tensor storages itself)."""

    Unpickler = _TolerantUnpickler
    load = staticmethod(pickle.load)  # torch checks that the module has it; the zip format never calls it


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's top-level dict, read without executing pickled code (see the module docstring)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # an object beyond tensors and containers: read it as a placeholder
            checkpoint = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TolerantPickle)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise InputError(f"cannot read checkpoint {path}: {str(error).splitlines()[0]}") from error
    if not isinstance(checkpoint, dict):
        raise InputError(f"checkpoint {path} is not a dict of tensors (got {type(checkpoint).__name__})")
    return checkpoint


def lama_generator_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The generator's tensors, ``generator.`` stripped; a bare generator state dict is taken as it is."""
    import torch

    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict):
        raise InputError("checkpoint has no state_dict")
    generator = {
        key[len(GENERATOR_PREFIX) :]: value
        for key, value in state.items()
        if key.startswith(GENERATOR_PREFIX) and isinstance(value, torch.Tensor)
    }
    if not generator and any(str(key).startswith("model.") for key in state):
        generator = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not generator:
        raise InputError("checkpoint has no 'generator.' tensors: is it a LaMa training checkpoint (best.ckpt)?")
    return generator


def lama_config_from_state(state: dict[str, Any]) -> Any:
    """The :class:`~hrinpaint.nn.lama.LamaConfig` whose generator has exactly these tensor shapes."""
    from hrinpaint.nn.lama import LamaConfig

    if any(".lfu." in key or ".gate." in key or ".se." in key for key in state):
        raise InputError("checkpoint uses LaMa options hrinpaint does not implement (LFU, gates or SE layers)")
    front = sorted(int(match[1]) for key in state if (match := _FRONT_LAYER.match(key)))
    blocks = sorted({int(match[1]) for key in state if (match := _BLOCK_LAYER.match(key))})
    if not front or front[0] != 1 or not blocks:
        raise InputError("checkpoint's generator is not an FFC ResNet (no model.1.ffc.convl2l or residual blocks)")
    first = state["model.1.ffc.convl2l.weight"]
    width, in_channels = int(first.shape[0]), int(first.shape[1])
    downsamplings = len(front) - 1
    local_in = int(state[f"model.{blocks[0]}.conv1.ffc.convl2l.weight"].shape[1])
    global_in = int(state[f"model.{blocks[0]}.conv1.ffc.convg2l.weight"].shape[1])
    bottleneck = local_in + global_in
    ratio = round(global_in / bottleneck, 6)
    if int(bottleneck * ratio) != global_in:
        raise InputError(f"cannot express {global_in} global of {bottleneck} channels as a ratio")
    max_width = bottleneck if bottleneck < width * 2**downsamplings else LamaConfig.max_width
    convolutions = {int(match[1]): value for key, value in state.items() if (match := _PLAIN_LAYER.match(key))}
    out_channels = int(convolutions[max(convolutions)].shape[0]) if convolutions else 3  # the last one: to RGB
    try:
        return LamaConfig(
            width=width,
            downsamplings=downsamplings,
            blocks=len(blocks),
            global_ratio=ratio,
            max_width=max_width,
            in_channels=in_channels,
            out_channels=out_channels,
        )
    except ValueError as error:
        raise InputError(f"checkpoint's generator does not fit LaMa's layout: {error}") from error


def import_lama(checkpoint_path: str | Path, output: str | Path) -> dict[str, Any]:
    """Converts an official LaMa checkpoint into ``output`` (safetensors) and its manifest; returns the manifest.

    Raises:
        InputError: an unreadable file, no generator in it, or tensors that do not fit the inferred generator.
    """
    from hrinpaint.nn.lama import LamaGenerator
    from hrinpaint.nn.weights import save_weights, sha256_of

    checkpoint_path = Path(checkpoint_path)
    checkpoint = read_checkpoint(checkpoint_path)
    state = lama_generator_state(checkpoint)
    config = lama_config_from_state(state)
    model = LamaGenerator(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise InputError(f"checkpoint's generator does not load into {config}: {error}") from error
    training: dict[str, Any] = {"source": checkpoint_path.name, "source_sha256": sha256_of(checkpoint_path)}
    for key, name in (("global_step", "steps"), ("epoch", "epoch")):
        value = checkpoint.get(key)
        if isinstance(value, int):
            training[name] = value
    return save_weights(model, "lama", output, training, {})
