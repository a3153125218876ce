"""Atomic files: an output is either the old file or the complete new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import struct
import zlib
from collections.abc import Callable
from typing import IO

from hrinpaint.errors import OutputError
from hrinpaint.io.info import describe_os_error


def write_atomically(path: str, encode: Callable[[IO[bytes]], None], prefix: str) -> None:
    """Encodes into a temporary file beside ``path`` and renames it over ``path``, so that a failure or a
    crash never leaves a half-written output; the temporary file is removed on any failure."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
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
    except OSError as error:
        raise OutputError(f"{prefix}: {describe_os_error(error)}") from error
    except (ValueError, TypeError, KeyError, struct.error, zlib.error) as error:
        raise OutputError(f"{prefix}: {' '.join(str(error).split()) or type(error).__name__}") from error
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                os.remove(temporary)
