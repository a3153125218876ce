"""Errors with one-line, user-facing messages.

Every problem a user can cause (bad file, bad mask, bad option) raises a subclass of :class:`InpaintError`;
front ends print ``str(error)`` and exit non-zero. Anything else is a bug.
"""

from __future__ import annotations


class InpaintError(Exception):
    """A problem with the user's input or options; the message is one line that names it."""


class InputError(InpaintError):
    """An input file or array is missing, unreadable, of the wrong size or outside the limits."""


class OutputError(InpaintError):
    """The output path cannot be written (missing directory, no permission, would overwrite the input)."""


class ConfigError(InpaintError, ValueError):
    """An option out of its bounds or of the wrong kind (a config's own validation); nothing has run yet.

    A ``ValueError`` too, so code that checked configs with ``except ValueError`` keeps working. Front ends catch
    :class:`InpaintError` once: the CLI prints the line and exits 2 for this class, the server answers 422.
    """


class JobCancelled(InpaintError):
    """The work was stopped on request: a cancel, a client that went away, a server shutting down."""


class JobTimedOut(JobCancelled):
    """The work was stopped because it ran past its time limit."""


class UnknownNameError(ConfigError, KeyError):
    """A method, filler, lifter or mask kind that no registry knows."""

    def __str__(self) -> str:  # KeyError quotes its message; we want the plain line.
        return str(self.args[0]) if self.args else ""


def one_line(error: BaseException) -> str:
    """An error as one line: the message of an InpaintError, the kind and message of anything else (a bug)."""
    text = " ".join(str(error).split())
    if isinstance(error, InpaintError):
        return text
    return f"unexpected {type(error).__name__}: {text}" if text else f"unexpected {type(error).__name__}"
