"""Where networks run: device selection, half precision, CPU threads scoped to a call, and the model cache.

``auto`` picks CUDA, then Apple's MPS, then the CPU. A network is loaded from its weights once per process, device
and precision and kept in a small least-recently-used cache (:data:`MODELS`), so that an ``Inpainter`` built again
for the next photo, or a server job, costs no reload. Thread settings change torch's process-wide state only for
the duration of one call (:func:`torch_threads`) and are put back afterwards.

Nothing here imports torch at module import: the core install (no ``nn`` extra) imports this module freely.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrinpaint.errors import ConfigError, InputError
from hrinpaint.extras import require

if TYPE_CHECKING:
    import torch

#: The device names accepted by ``--device`` and every ``device`` option (``cuda:1`` picks a GPU by index).
DEVICES = ("auto", "cpu", "cuda", "mps")

#: Networks kept loaded at once (per weights file, device and precision); the least recently used goes first.
CACHE_SIZE = 4


def check_device_name(name: str) -> str:
    """``name`` if it is one of :data:`DEVICES` (or ``cuda:N``); else a :class:`ConfigError` listing them."""
    kind, _, index = name.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device {name!r}; use one of {', '.join(DEVICES)} (or cuda:N)")
    return name


def _mps_available(torch_module: Any) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` is CUDA when present, then MPS, then the CPU.

    Raises:
        ConfigError: an unknown name; InputError: a device this machine does not have (``cuda`` without a CUDA GPU).
        MissingExtraError: torch is not installed (the ``nn`` extra).
    """
    check_device_name(name)
    torch = require("torch", "network methods")
    kind = name.partition(":")[0]
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available(torch) else torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} is not available: torch {torch.__version__} sees no CUDA GPU")
    if kind == "cuda" and name != "cuda" and int(name.partition(":")[2]) >= torch.cuda.device_count():
        raise InputError(f"device {name!r} is not available: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if kind == "mps" and not _mps_available(torch):
        raise InputError("device 'mps' is not available: torch sees no Apple GPU")
    return torch.device(name)


def describe_device(name: str) -> str:
    """One line for ``--verbose``: which device ``name`` resolves to here, and why for ``auto``."""
    device = resolve_device(name)
    if name != "auto":
        return f"device: {device} (asked for {name})"
    if device.type == "cpu":
        return "device: cpu (auto: no CUDA or MPS device found)"
    return f"device: {device} (auto)"


def half_precision(device: torch.device | str, half: bool) -> bool:
    """Whether to run in float16: only when asked and never on the CPU (slower there, and no gain in memory that
    matters). ``device``: a torch device or its name (``cpu``, ``cuda:0``...; ``auto`` resolved first)."""
    if isinstance(device, str):
        device = resolve_device(device) if device == "auto" else device.split(":")[0]
    return bool(half) and (device if isinstance(device, str) else device.type) != "cpu"


_THREADS_LOCK = threading.RLock()  # held for the call: two calls must not undo each other's setting


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Runs the block with torch's intra-op CPU threads set to ``threads`` (0: leave them as they are), then puts
    back the previous value: the host program's setting survives the call."""
    if not threads:
        yield
        return
    import torch

    with _THREADS_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


class ModelCache:
    """Loaded networks by ``(weights file, model name, device, half)``, at most ``size`` of them (LRU).

    Args:
        size: how many networks stay loaded; 0 keeps none (every call loads).
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        # (path, model, device, half) -> (network, manifest, the file's stamp when it was loaded)
        self._entries: OrderedDict[tuple[str, str, str, bool], tuple[Any, dict[str, Any], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[tuple[str, str, str, bool]]:
        return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load(
        self, path: str | Path, model_name: str, device: str = "cpu", half: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """The ``model_name`` network at ``path`` (eval mode) on ``device``, in float16 when ``half`` (and not on
        the CPU), with its manifest; weights of another model are an :class:`InputError`."""
        from hrinpaint.nn.weights import load_model

        torch_device = resolve_device(device)
        half = half_precision(torch_device, half)
        key = (str(Path(path).resolve()), model_name, str(torch_device), half)
        stamp = _file_stamp(path)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[2] == stamp:  # a file rewritten in place is loaded again
                self._entries.move_to_end(key)
                return entry[0], entry[1]
        model, manifest = load_model(path)
        if manifest["model"] != model_name:
            raise InputError(f"weights {path} hold a {manifest['model']!r} model, not {model_name}")
        model = model.to(torch_device)
        if half:
            model = model.half()
        with self._lock:
            self._entries[key] = model, manifest, stamp
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return model, manifest


def _file_stamp(path: str | Path) -> tuple[int, int] | None:
    """The file's modification time and size: a weights file exported again at the same path differs in them."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


#: The process's model cache, shared by every network filler and lifter.
MODELS = ModelCache()


def model_placement(model: Any) -> tuple[torch.device, torch.dtype]:
    """The device and dtype of a network's parameters (where its inputs must go)."""
    parameter = next(model.parameters())
    return parameter.device, parameter.dtype
