"""Atomic files: an output is either the old file or the complete new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import struct
import zlib
from collections.abc import Callable, Collection
from typing import IO

from hrinpaint.errors import OutputError
from hrinpaint.io.info import describe_os_error

#: A temporary file of :func:`write_atomically`: ``.<output name>.<8 hex digits>.tmp`` beside the output.
_TOKEN_BYTES = 4
_TEMPORARY_NAME = re.compile(rf"^\.(?P<name>.+)\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp$")


#: What an encoder raises for a result it cannot write (besides OSError): each becomes a one-line OutputError.
ENCODER_ERRORS = (ValueError, TypeError, KeyError, struct.error, zlib.error)


def encoding_error(prefix: str, error: Exception) -> OutputError:
    """The one-line :class:`OutputError` for an ``OSError`` or one of :data:`ENCODER_ERRORS` raised while encoding
    or writing: ``prefix: what went wrong``."""
    if isinstance(error, OSError):
        return OutputError(f"{prefix}: {describe_os_error(error)}")
    return OutputError(f"{prefix}: {' '.join(str(error).split()) or type(error).__name__}")


def write_atomically(path: str, encode: Callable[[IO[bytes]], None], prefix: str) -> None:
    """Encodes into a temporary file beside ``path`` and renames it over ``path``, so that a failure or a
    crash never leaves a half-written output; the temporary file is removed on any failure."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(_TOKEN_BYTES)}.tmp")
    try:
        # "x" creates exclusively with the umask's permissions, as for any new file (mkstemp forces 0o600);
        # a named file object also suits tifffile, which wants a file name.
        file = open(temporary, "xb")
    except OSError as error:
        raise OutputError(f"{prefix}: {describe_os_error(error)}") from None
    finished = False
    try:
        with file:
            encode(file)
            file.flush()
            os.fsync(file.fileno())
        if os.path.exists(path):
            with contextlib.suppress(OSError):
                os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
        finished = True
    except (OSError, *ENCODER_ERRORS) as error:
        raise encoding_error(prefix, error) from error
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                os.remove(temporary)


def remove_partial_writes(directory: str | os.PathLike[str], names: Collection[str]) -> int:
    """Removes the temporary files that writes of ``directory/<name>`` (for ``name`` in ``names``) left behind
    because their process was killed mid-write, which no ``finally`` can clean up; returns how many it removed.

    Call it only when nothing is writing those outputs any more (at the end of a batch).
    """
    removed = 0
    try:
        entries = os.listdir(directory)
    except OSError:
        return 0
    for entry in entries:
        match = _TEMPORARY_NAME.match(entry)
        if match and match["name"] in names:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, entry))
                removed += 1
    return removed
