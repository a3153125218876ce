"""Writing images: checks before any work, conversion to what the format holds, atomic files.

The encoders themselves are in :mod:`hrinpaint.io.encoders`; :func:`write_atomically` makes sure that a failure
or a crash never leaves a half-written output.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Sequence
from typing import IO

import numpy as np

from hrinpaint.errors import OutputError
from hrinpaint.io.atomic import ENCODER_ERRORS, encoding_error, write_atomically
from hrinpaint.io.encoders import encode_pixels
from hrinpaint.io.exif import prefixed
from hrinpaint.io.info import ImageInfo, StrPath
from hrinpaint.pixels import from_float, to_8bit, to_bit_depth

_WRITE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_GREY_FORMATS = frozenset({"JPEG", "PNG", "TIFF"})
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
# Encoders refuse larger images; checking first turns a late encoder failure into a clear message.
_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}
_JPEG_MAX_MARKER_BYTES = 65_533


def check_output_path(path: StrPath, source_paths: Sequence[StrPath] = (), overwrite: bool = False) -> None:
    """Checks that ``path`` can be written, before any work is done.

    Args:
        path: The output file; its extension picks the format.
        source_paths: Input files that must not be replaced.
        overwrite: Allow replacing one of ``source_paths``; any other existing file may always be replaced.

    Raises:
        OutputError: Unknown extension, missing or unwritable directory, the path is a directory, or it is one
            of the inputs and ``overwrite`` is False.
    """
    path = os.fspath(path)
    prefix = f"cannot write '{path}'"
    _output_format(path)
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise OutputError(f"{prefix}: '{directory}' is not a directory")
        raise OutputError(f"{prefix}: directory '{directory}' does not exist")
    if os.path.isdir(path):
        raise OutputError(f"{prefix}: it is a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{prefix}: directory '{directory}' is not writable")
    if overwrite or not os.path.exists(path):
        return
    for source in source_paths:
        if _same_file(path, os.fspath(source)):
            raise OutputError(f"{prefix}: it is the input file (use --overwrite to replace it)")


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return os.path.normcase(os.path.realpath(first)) == os.path.normcase(os.path.realpath(second))


def _output_format(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension not in _WRITE_FORMATS:
        known = ", ".join(_WRITE_FORMATS)
        found = f"unknown extension '{extension}'" if extension else "no file extension"
        raise OutputError(f"cannot write '{path}': {found} (use one of {known})")
    return _WRITE_FORMATS[extension]


def write_image(
    path: StrPath,
    pixels: np.ndarray,
    info: ImageInfo | None = None,
    *,
    quality: int = 95,
    overwrite: bool = False,
    source_path: str | None = None,
) -> None:
    """Writes an image atomically, in the format its extension names, keeping what ``info`` recorded.

    Greyscale sources are written as greyscale (the mean of the channels, which is exact for replicated
    grey) except to WebP, which has no greyscale; ``info.alpha`` is re-attached for PNG, WebP and TIFF and
    dropped for JPEG; the ICC profile is attached when it matches the written colour space; EXIF is kept
    (for 16-bit colour TIFF only its descriptive tags; for JPEG only when it fits in one marker). uint16
    pixels stay 16-bit in PNG and TIFF and are rounded to 8 bits elsewhere.

    Args:
        path: Output file: ``.jpg``, ``.jpeg``, ``.png``, ``.webp``, ``.tif`` or ``.tiff``.
        pixels: ``H x W x 3`` RGB, uint8 or uint16, or float in [0, 1] (converted to ``info.bit_depth``,
            or to 8 bits without ``info``).
        info: Metadata from :func:`read_image`; None writes plain RGB.
        quality: JPEG and WebP quality, 1 to 100; JPEG at 90 or more keeps full-resolution chroma (4:4:4).
        overwrite: Allow replacing the input file (``source_path`` or ``info.path``).
        source_path: An input file that must not be replaced unless ``overwrite``.

    Raises:
        OutputError: The path fails :func:`check_output_path`, or writing fails (nothing is left behind).
    """
    path = os.fspath(path)
    sources = [source for source in (source_path, info.path if info else None) if source]
    check_output_path(path, sources, overwrite)
    image_format = _output_format(path)
    prefix = f"cannot write '{path}'"
    encode = _encoder(pixels, info, image_format, quality, prefix)
    write_atomically(path, encode, prefix)


def encode_image(
    pixels: np.ndarray, info: ImageInfo | None = None, *, suffix: str = ".png", quality: int = 95
) -> bytes:
    """Encodes an image into bytes as :func:`write_image` would write it to a file named ``*suffix``.

    The server answers with these bytes; nothing touches the file system.

    Raises:
        OutputError: unknown suffix, quality out of range, an image too large for the format, an encoder failure.
    """
    image_format = _output_format(f"image{suffix}")
    prefix = f"cannot encode the result as {image_format}"
    encode = _encoder(pixels, info, image_format, quality, prefix)
    buffer = io.BytesIO()
    try:
        encode(buffer)
    except (OSError, *ENCODER_ERRORS) as error:
        raise encoding_error(prefix, error) from error
    return buffer.getvalue()


def _encoder(
    pixels: np.ndarray, info: ImageInfo | None, image_format: str, quality: int, prefix: str
) -> Callable[[IO[bytes]], None]:
    """Checks and converts what :func:`write_image` and :func:`encode_image` write; returns the encoding step."""
    if not 1 <= quality <= 100:
        raise OutputError(f"{prefix}: quality must be 1 to 100, got {quality}")

    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"write_image expects H x W x 3 pixels, got shape {pixels.shape}")
    if np.issubdtype(pixels.dtype, np.floating):
        pixels = from_float(pixels, np.uint16 if info is not None and info.bit_depth == 16 else np.uint8)
    elif pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_image expects uint8, uint16 or float pixels, got {pixels.dtype}")
    height, width = pixels.shape[:2]
    max_side = _MAX_SIDE.get(image_format)
    if max_side is not None and max(height, width) > max_side:
        raise OutputError(f"{prefix}: {image_format} holds at most {max_side} pixels a side, image is {width}x{height}")

    if image_format not in _SIXTEEN_BIT_FORMATS:
        pixels = to_8bit(pixels)
    grayscale = info is not None and info.grayscale and image_format in _GREY_FORMATS
    colour = grey_from_rgb(pixels) if grayscale else pixels
    alpha = info.alpha if info is not None and image_format in _ALPHA_FORMATS else None
    if alpha is not None:
        if alpha.shape != (height, width):
            raise ValueError(f"info.alpha is {alpha.shape[1]}x{alpha.shape[0]} but pixels are {width}x{height}")
        alpha = to_bit_depth(alpha, colour.dtype)
    icc = info.icc_profile if info is not None else None
    if icc is not None and _icc_colour_space(icc) != ("GRAY" if grayscale else "RGB"):
        icc = None
    exif = prefixed(info.exif) if info is not None and info.exif else None
    if image_format == "JPEG" and exif is not None and len(exif) > _JPEG_MAX_MARKER_BYTES:
        exif = None

    def encode(file: IO[bytes]) -> None:
        encode_pixels(file, image_format, colour, alpha, icc, exif, quality)

    return encode


def copy_file(source: StrPath, path: StrPath, *, overwrite: bool = False) -> None:
    """Copies ``source`` byte for byte to ``path``, atomically, with the same checks as :func:`write_image`.

    Used when there is nothing to change (an empty mask): the output is then exactly the input file.
    """
    source, path = os.fspath(source), os.fspath(path)
    check_output_path(path, [source], overwrite)

    def encode(file: IO[bytes]) -> None:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, file)

    write_atomically(path, encode, f"cannot write '{path}'")


def grey_from_rgb(pixels: np.ndarray) -> np.ndarray:
    """``H x W x 3`` -> ``H x W``, the channels' mean in the pixels' dtype. Integers: rounded to nearest in
    integers (a third never ties), so equal channels (replicated grey) come back bit-exact; floats: averaged in
    float32."""
    if pixels.dtype.kind == "u":
        total = pixels.astype(np.uint32).sum(axis=2)
        return ((total + 1) // 3).astype(pixels.dtype)
    return pixels.astype(np.float32).mean(axis=2).astype(pixels.dtype)


def _icc_colour_space(icc: bytes) -> str:
    return icc[16:20].decode("ascii", "replace").strip()
