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


class UnknownNameError(InpaintError, KeyError):
    """A method, filler, lifter or mask kind that no registry knows."""

    def __str__(self) -> str:  # KeyError quotes its message; we want the plain line.
        return str(self.args[0]) if self.args else ""
