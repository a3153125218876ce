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


def trim_heap() -> bool:
    """Asks glibc to return freed heap pages (``malloc_trim(0)``); a no-op without glibc (macOS, Windows, musl).

    Returns:
        True when it trimmed, False where there is no ``malloc_trim``.
    """
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = False
        if name:
            with contextlib.suppress(OSError):
                candidate = ctypes.CDLL(name)
                if hasattr(candidate, "malloc_trim"):
                    _libc = candidate
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
