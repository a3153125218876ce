"""The optional parts of the install (``pip install "hrinpaint[nn]"``) and the one-line error when one is missing.

The core (numpy, OpenCV, Pillow, numba, tifffile, tqdm) runs the default method. Everything else lives in an
extra; which module belongs to which is written once, here, so every front end names the same extra.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from hrinpaint.errors import InpaintError

#: Top-level module -> the extra that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "nn",
    "safetensors": "nn",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "multipart": "server",
    "python_multipart": "server",
    "pydantic": "server",
    "matplotlib": "bench",
    "psutil": "bench",  # also in cluster; bench is where it is required
    "dask": "cluster",
    "distributed": "cluster",
    "fsspec": "cluster",
}


#: The modules whose presence says an extra is installed.
EXTRA_PROBES: dict[str, tuple[str, ...]] = {
    "nn": ("torch", "safetensors"),
    "server": ("fastapi", "uvicorn"),
    "bench": ("psutil", "matplotlib"),
}


def extra_installed(extra: str) -> bool:
    """Whether the modules of ``extra`` can be imported here (found, not imported)."""
    return all(importlib.util.find_spec(module) is not None for module in EXTRA_PROBES[extra])


class MissingExtraError(InpaintError, ImportError):
    """Something needs a module of an extra that is not installed; the message names the extra.

    Args:
        what: what needs it (``"method hifill+cra"``); module: the missing top-level module.
    """

    def __init__(self, what: str, module: str) -> None:
        super().__init__(extra_message(what, module))
        self.module = module


def extra_message(what: str, module: str) -> str:
    """``"<what> needs hrinpaint[nn] (torch is not installed): pip install 'hrinpaint[nn]'"``."""
    extra = EXTRA_OF_MODULE.get(module.split(".")[0], "all")
    return f"{what} needs hrinpaint[{extra}] ({module} is not installed): pip install 'hrinpaint[{extra}]'"


def missing_extra(error: BaseException, what: str) -> MissingExtraError | None:
    """A :class:`MissingExtraError` for ``error`` when it is a missing module of an extra; else None."""
    if isinstance(error, MissingExtraError):
        return MissingExtraError(what, error.module)
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    module = error.name.split(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    return MissingExtraError(what, module)


def require(module: str, what: str) -> ModuleType:
    """Imports ``module``; when it is missing, a :class:`MissingExtraError` says which extra ``what`` needs."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raised = missing_extra(error, what)
        if raised is None:
            raise
        raise raised from None
