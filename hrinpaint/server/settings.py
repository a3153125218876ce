"""A server's limits and whom it answers: :class:`ServerSettings`, the pixel limit from the memory, loopback names."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from hrinpaint.bounds import DEFAULT_MAX_PIXELS
from hrinpaint.errors import ConfigError

#: Memory a job may need per pixel of the photo, in bytes, for the default pixel limit. Measured: a 24 MP photo
#: with the default method peaks at 0.52 GB resident (~22 B/px with the interpreter), and decoding alone a 9000 x
#: 9000 zlib bomb took the server from 0.7 to 2.9 GB (27 B/px); 48 leaves room for the heavier methods.
BYTES_PER_PIXEL = 48
#: Names under which a loopback server answers (the Host header); other names are refused (DNS rebinding).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30  # not POSIX: assume a modest machine
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            text = Path(limit_file).read_text().strip()
            if text.isdigit():
                total = min(total, int(text))
    return total


def pixel_limit_for(memory_bytes: int) -> int:
    """The default pixel limit for a server with ``memory_bytes``: half of it at :data:`BYTES_PER_PIXEL`."""
    return max(1_000_000, min(DEFAULT_MAX_PIXELS, memory_bytes // 2 // BYTES_PER_PIXEL))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ``::1``), bracketed or not."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str, allow_host: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The Host names a server listening on ``host`` answers: loopback names on loopback, else ``allow_host``
    (plus ``host`` itself unless it is a wildcard address). Raises ConfigError when nothing would be allowed."""
    names = [name.strip().strip("[]").lower() for name in allow_host if name.strip()]
    if is_loopback(host):
        return tuple(dict.fromkeys([*LOOPBACK_NAMES, host.strip("[]").lower(), *names]))
    if host not in ("0.0.0.0", "::", ""):
        names.append(host.strip("[]").lower())
    if not names:
        raise ConfigError(
            f"--host {host} listens on every network: name the host names clients use with --allow-host "
            "(comma-separated; '*' allows any, which lets other web sites reach it through DNS rebinding)"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ServerSettings:
    """Limits of one server.

    Attributes:
        max_upload_bytes: largest request body (image and mask together).
        max_pixels: largest image (and mask), checked from the header before anything is decoded; None derives it
            from the memory (:func:`pixel_limit_for`), and ``max_pixels_source`` says how.
        queue_size: jobs that may wait while one runs; more are refused with 503.
        keep_seconds: how long a finished job's result waits to be fetched.
        temp_dir: unused (uploads are decoded from memory); kept so that existing callers still work.
        allowed_hosts: Host names the server answers (empty: any). ``hrinpaint serve`` on a loopback address
            allows only the loopback names (:func:`allowed_hosts_for`), so a web page that rebinds its own name to
            127.0.0.1 (DNS rebinding) cannot use the server from the user's browser.
        job_timeout: seconds a job may run before it is stopped and answered 504 (None: no limit).
        memory_bytes: the memory ``max_pixels`` is derived from (None: this machine's, :func:`machine_memory`).
        check_origin: refuse POST and DELETE requests whose ``Origin`` is another site (a form on any web page
            the user visits could otherwise queue work on this machine).
        device, half: where network methods run (``auto``: CUDA, then MPS, then the CPU) and whether in float16
            on a GPU; the server's choice, not the client's.
    """

    max_upload_bytes: int = 100 * 1024 * 1024
    max_pixels: int | None = None
    queue_size: int = 4
    keep_seconds: float = 300.0
    temp_dir: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    job_timeout: float | None = 300.0
    memory_bytes: int | None = None
    check_origin: bool = True
    max_pixels_source: str = ""
    device: str = "auto"
    half: bool = False

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1:
            raise ConfigError(f"the upload limit must be positive, got {self.max_upload_bytes} bytes")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(f"--max-pixels must be positive, got {self.max_pixels}")
        if not 0 <= self.queue_size <= 1000:
            raise ConfigError(f"--queue-size must be 0 to 1000, got {self.queue_size}")
        if self.job_timeout is not None and not 0 < self.job_timeout <= 86_400:
            raise ConfigError(f"--job-timeout must be above 0 and at most 86400 s, got {self.job_timeout:g}")
        if self.max_pixels is None:
            memory = self.memory_bytes or machine_memory()
            object.__setattr__(self, "max_pixels", pixel_limit_for(memory))
            object.__setattr__(
                self,
                "max_pixels_source",
                f"half of {memory / 2**30:.1f} GiB of memory at {BYTES_PER_PIXEL} bytes a pixel; --max-pixels sets it",
            )
        elif not self.max_pixels_source:
            object.__setattr__(self, "max_pixels_source", "set by the server's --max-pixels")

    @property
    def pixel_limit(self) -> int:
        assert self.max_pixels is not None  # set in __post_init__
        return self.max_pixels
