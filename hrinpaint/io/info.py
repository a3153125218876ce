"""What the file layer shares: the pixel limit, the suffixes, :class:`ImageInfo` and :class:`LoadedImage`, and how
errors are put in one line."""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from hrinpaint.bounds import DEFAULT_MAX_PIXELS
from hrinpaint.pixels import to_float

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "READ_ERRORS",
    "ImageInfo",
    "LoadedImage",
    "StrPath",
    "describe_os_error",
    "describe_read_error",
]

StrPath = str | os.PathLike[str]

#: File suffixes that the readers accept (lower case); batch and bench look for these.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})

READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError)


@dataclass(frozen=True, eq=False)
class ImageInfo:
    """What :func:`write_image` needs to write an image back the way it was read.

    ``eq=False`` because ``alpha`` is an array: comparing two infos field by field has no single truth value.

    Attributes:
        path: The file it was read from, or None for an in-memory image.
        format: Pillow's format name (``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"WEBP"``), or None.
        bit_depth: 8 or 16 bits per channel.
        mode: The file's mode before conversion: Pillow's name (``"RGB"``, ``"L"``, ``"P"``, ``"CMYK"``,
            ``"I;16"``) or ``"RGB16"``, ``"RGBA16"``, ``"LA16"`` for 16-bit colour Pillow cannot hold.
        icc_profile: The embedded ICC profile; None when absent or when it described a colour space that was
            converted away from (CMYK, Lab).
        exif: EXIF bytes starting with ``b"Exif\\x00\\x00"``, with Orientation reset to 1 because the rotation
            has been applied to the pixels.
        alpha: ``H x W`` alpha in the file's dtype (uint8 or uint16), untouched, or None.
        grayscale: True when the file was greyscale; it is written back as greyscale.
    """

    path: str | None = None
    format: str | None = None
    bit_depth: int = 8
    mode: str = "RGB"
    icc_profile: bytes | None = field(default=None, repr=False)
    exif: bytes | None = field(default=None, repr=False)
    alpha: np.ndarray | None = field(default=None, repr=False)
    grayscale: bool = False


@dataclass(eq=False)
class LoadedImage:
    """An image as read from a file.

    Attributes:
        pixels: ``H x W x 3`` RGB in the file's dtype (uint8 or uint16), EXIF orientation applied; greyscale
            is replicated to three channels.
        info: Metadata for writing the result back.
    """

    pixels: np.ndarray
    info: ImageInfo

    def to_float(self) -> np.ndarray:
        """Returns the canonical float32 ``H x W x 3`` RGB in [0, 1]."""
        return to_float(self.pixels)


def describe_read_error(error: BaseException) -> str:
    """A decoder's exception as the end of a one-line message ("file is truncated" for the many forms of it)."""
    text = " ".join(str(error).split())
    if isinstance(error, EOFError) or "truncated" in text.lower() or "incomplete" in text.lower():
        return "file is truncated"
    return text or type(error).__name__


def describe_os_error(error: OSError) -> str:
    """An ``OSError`` as the end of a one-line message: its text without the errno and file name."""
    if error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return " ".join(str(error).split()) or type(error).__name__
