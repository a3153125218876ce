"""Handing freed heap memory back to the system: one place for glibc's ``malloc_trim``.

Large numpy arrays are memory-mapped and go back to the system when freed; the many medium ones of a pipeline run
land in malloc's arenas, which keep them unless trimmed. A long-lived server would otherwise keep its peak, and a
benchmark worker would measure a job against memory an earlier job left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from typing import Any

_libc: Any = None


def libc() -> Any:
    """The C library (``ctypes.CDLL``, loaded once), or None where it cannot be found or loaded."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = False
        if name:
            with contextlib.suppress(OSError):
                _libc = ctypes.CDLL(name, use_errno=True)
    return _libc or None


def trim_heap() -> bool:
    """Asks glibc to return freed heap pages (``malloc_trim(0)``); a no-op without glibc (macOS, Windows, musl).

    Returns:
        True when it trimmed, False where there is no ``malloc_trim``.
    """
    library = libc()
    if library is None or not hasattr(library, "malloc_trim"):
        return False
    library.malloc_trim(0)
    return True
