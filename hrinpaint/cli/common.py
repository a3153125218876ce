"""What the command modules share: the exit statuses and the comma-separated list type."""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2  # a bad command line or option: nothing was read, run or written
EXIT_INTERRUPTED = 130


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
