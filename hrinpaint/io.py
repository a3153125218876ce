"""Reading and writing images and masks: the only module that touches image files.

Images are read into their file's integer dtype (:class:`LoadedImage`), so the pipeline can paste hole pixels
into the original array and keep every known pixel bit-exact; :func:`to_float` gives the canonical float32
``H x W x 3`` RGB in [0, 1]. Masks come back as bool ``H x W`` with True = hole.

What is kept on a round trip: EXIF orientation is applied on read and reset to 1 in the kept EXIF; the ICC
profile and EXIF are written back where the format holds them; greyscale stays greyscale; 16-bit stays
16-bit in PNG and TIFF; alpha is passed through untouched (only RGB is inpainted). Writes are atomic and never
replace an input file unless asked.

Every problem a user can cause raises :class:`~hrinpaint.errors.InputError` or
:class:`~hrinpaint.errors.OutputError` with a one-line message that names the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError, features

from hrinpaint.errors import InputError, OutputError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageInfo",
    "LoadedImage",
    "IMAGE_SUFFIXES",
    "check_output_path",
    "copy_file",
    "encode_image",
    "from_float",
    "mask_from_array",
    "read_image",
    "read_mask",
    "to_float",
    "write_image",
]

StrPath = str | os.PathLike[str]

DEFAULT_MAX_PIXELS = 400_000_000

_WRITE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
#: File suffixes that the readers accept (lower case); batch and bench look for these.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_GREY_FORMATS = frozenset({"JPEG", "PNG", "TIFF"})
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
# Encoders refuse larger images; checking first turns a late encoder failure into a clear message.
_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}
_JPEG_MAX_MARKER_BYTES = 65_533

_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_GPS_IFD_TAG = 0x8825
_EXIF_PREFIX = b"Exif\x00\x00"
# TIFF IFD0 tags that describe the photo rather than the pixel layout; layout tags (strip offsets, bits per
# sample, compression) from a TIFF source would be wrong in any other file.
_DESCRIPTIVE_TIFF_TAGS = (271, 272, 282, 283, 296, 305, 306, 315, 33432)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError)


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


# --------------------------------------------------------------------------------------------- conversions


def to_float(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Converts integer pixels to float32 in [0, 1]: uint8 / 255, uint16 / 65535; floats are cast to float32.

    Args:
        pixels: Any shape; uint8, uint16, bool or floating point.
        out: A float32 array of the same shape to write into (a loop over windows can reuse one buffer);
            ``None`` allocates one.

    Returns:
        A new float32 array of the same shape, or ``out``.
    """
    pixels = np.asarray(pixels)
    if out is None:
        out = np.empty(pixels.shape, dtype=np.float32)
    elif out.shape != pixels.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {pixels.shape}, got {out.dtype} {out.shape}")
    if pixels.dtype == np.uint8 or pixels.dtype == np.uint16:
        scale = np.float32(np.iinfo(pixels.dtype).max)
        # Division (not multiplying by a reciprocal) is correctly rounded, so from_float inverts it exactly.
        return np.divide(pixels, scale, out=out, dtype=np.float32)
    if pixels.dtype == np.bool_ or np.issubdtype(pixels.dtype, np.floating):
        np.copyto(out, pixels, casting="unsafe")
        return out
    raise ValueError(f"to_float expects uint8, uint16, bool or float pixels, got {pixels.dtype}")


def from_float(image: np.ndarray, dtype: Any) -> np.ndarray:
    """Converts a float image in [0, 1] to uint8 or uint16, rounding to nearest and clipping; NaN becomes 0.

    Args:
        image: Any shape, floating point, nominally in [0, 1].
        dtype: ``np.uint8`` or ``np.uint16``.

    Returns:
        A new array of ``dtype`` and the same shape.
    """
    target = np.dtype(dtype)
    if target not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"from_float converts to uint8 or uint16, not {target}")
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"from_float expects a floating-point image, got {image.dtype}")
    if target == np.uint8 and image.dtype == np.float32 and image.ndim == 3 and image.shape[2] <= 4 and image.size > 16:
        # OpenCV's saturating conversion rounds half to even like np.rint and maps NaN to 0, with no float
        # temporaries: about fifty times faster on a large image. Scalars are per channel, hence the 4-tuples.
        # OpenCV reads an array of four values or fewer as a scalar (a one-pixel hole box), hence the size check.
        clipped = cv2.max(np.ascontiguousarray(image), (0.0,) * 4)
        cv2.min(clipped, (1.0,) * 4, dst=clipped)  # in place: one float temporary, not two
        return cv2.convertScaleAbs(clipped, alpha=255.0).reshape(image.shape)
    work_dtype = np.float64 if image.dtype == np.float64 else np.float32
    top = np.iinfo(target).max
    scaled = np.multiply(image, top, dtype=work_dtype)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, top, out=scaled)
    return scaled.astype(target)


def _to_8bit(array: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with round-to-nearest in integers: (v + 128) // 257 equals round(v / 257) exactly."""
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to_16bit(array: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 by v * 257, which maps 0..255 onto 0..65535 exactly."""
    if array.dtype == np.uint16:
        return array
    return array.astype(np.uint16) * np.uint16(257)


def _as_dtype(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return _to_16bit(array) if dtype == np.uint16 else _to_8bit(array)


# --------------------------------------------------------------------------------------------- masks


def mask_from_array(array: np.ndarray, invert: bool = False, threshold: float = 0.0) -> np.ndarray:
    """Applies the mask polarity rules to an in-memory array and returns bool ``H x W``, True = hole.

    Rules: a pixel that is non-zero in any colour channel is a hole. An array with an alpha channel (2
    channels: grey + alpha, 4 channels: RGB + alpha) whose alpha is not fully opaque is a layer of painted
    strokes: hole = alpha > 0. A fully opaque alpha carries no information, so the colour decides. ``invert``
    flips the result.

    Args:
        array: ``H x W`` or ``H x W x C`` with C in 1..4; bool, integer or float (opaque alpha is the dtype's
            maximum, 1.0 for floats).
        invert: True when the mask marks the pixels to keep instead of the hole.
        threshold: a pixel is a hole when its value is above this fraction of full scale (0 = any non-zero);
            about 0.5 suits JPEG masks, whose compression noise makes near-black pixels non-zero.

    Returns:
        Bool ``H x W``.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        return _hole_from(array, None, invert, threshold)
    if array.ndim == 3 and array.shape[2] in (1, 3):
        return _hole_from(array, None, invert, threshold)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        return _hole_from(array[:, :, :-1], array[:, :, -1], invert, threshold)
    raise InputError(f"mask must be H x W or H x W x C with 1 to 4 channels, got shape {array.shape}")


def _opaque_value(dtype: np.dtype) -> float | int | bool:
    if dtype == np.bool_:
        return True
    if np.issubdtype(dtype, np.integer):
        return int(np.iinfo(dtype).max)
    return 1.0


def _hole_from(colour: np.ndarray, alpha: np.ndarray | None, invert: bool, threshold: float = 0.0) -> np.ndarray:
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"mask threshold must be in [0, 1), got {threshold}")
    if alpha is not None and not np.all(alpha == _opaque_value(alpha.dtype)):
        hole = alpha > threshold * _opaque_value(alpha.dtype)
    else:
        # a threshold above 0 ignores the near-black noise that JPEG compression leaves in a mask
        level = threshold * _opaque_value(colour.dtype)
        hole = np.any(colour > level, axis=2) if colour.ndim == 3 else colour > level
    if invert:
        hole = ~hole
    return np.ascontiguousarray(hole, dtype=bool)


# --------------------------------------------------------------------------------------------- reading


@dataclass
class _Decoded:
    """Pixels straight from a decoder, oriented; colour is ``H x W`` for greyscale or ``H x W x 3``."""

    colour: np.ndarray
    alpha: np.ndarray | None
    format: str | None
    mode: str
    bit_depth: int
    icc_profile: bytes | None
    exif: bytes | None


class _PillowLimit:
    """Turns off Pillow's own decompression-bomb check while any read is in progress.

    We check ``max_pixels`` against the header ourselves, before decoding; Pillow's global limit (about 179 MP
    for an error) would otherwise refuse images that the user's limit allows. A reference count restores the
    old value when the last concurrent read ends, so nothing changes at import or after a call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    Image.MAX_IMAGE_PIXELS = self._saved


_pillow_limit = _PillowLimit()


def read_image(
    path: StrPath | bytes | IO[bytes], max_pixels: int = DEFAULT_MAX_PIXELS, *, name: str | None = None
) -> LoadedImage:
    """Reads an image (JPEG, PNG, WebP, TIFF, or anything Pillow reads) at 8 or 16 bits per channel.

    EXIF orientation is applied. Greyscale is replicated to RGB (``info.grayscale``); alpha goes to
    ``info.alpha`` untouched; CMYK, Lab and palette images are converted to RGB.

    Args:
        path: The image file, or its bytes, or a binary file object (read from its current position): an
            upload is decoded from memory, never written to a temporary file.
        max_pixels: Refuse images with more pixels than this, checked from the header before decoding.
        name: What error messages call it (default: the path; ``'<memory>'`` for bytes).

    Returns:
        The pixels, ``H x W x 3`` uint8 or uint16, and the metadata to write them back (``info.path`` is None
        for bytes and file objects).

    Raises:
        InputError: The file is missing, not an image, truncated, unsupported or over ``max_pixels``.
    """
    source, label = _source(path, name)
    decoded = _decode(source, max_pixels, "", label)
    colour = decoded.colour
    grayscale = colour.ndim == 2
    if grayscale:
        colour = np.repeat(colour[:, :, None], 3, axis=2)
    info = ImageInfo(
        path=source if isinstance(source, str) else None,
        format=decoded.format,
        bit_depth=decoded.bit_depth,
        mode=decoded.mode,
        icc_profile=decoded.icc_profile,
        exif=decoded.exif,
        alpha=decoded.alpha,
        grayscale=grayscale,
    )
    return LoadedImage(pixels=np.ascontiguousarray(colour), info=info)


def read_mask(
    path: StrPath | bytes | IO[bytes],
    shape: tuple[int, int] | None = None,
    invert: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    threshold: float = 0.0,
    *,
    name: str | None = None,
) -> np.ndarray:
    """Reads a mask file as bool ``H x W``, True = hole, with the rules of :func:`mask_from_array`.

    Any non-zero pixel in any colour channel is a hole; a mask with a not fully opaque alpha channel is a
    layer of painted strokes, so hole = alpha > 0. EXIF orientation is applied, as for images.

    Args:
        path: The mask file (8 or 16 bit, greyscale, colour, palette or with alpha), its bytes or a binary file.
        shape: The image's ``(height, width)``; a mask of another size is an error.
        invert: True when the mask marks the pixels to keep.
        max_pixels: Refuse masks with more pixels than this, checked from the header.
        threshold: See :func:`mask_from_array`; 0 keeps "any non-zero pixel is a hole".
        name: What error messages call it (default: the path).

    Returns:
        Bool ``H x W``.

    Raises:
        InputError: The file cannot be read, its size differs from ``shape``, or the threshold is not in [0, 1).
    """
    source, label = _source(path, name)
    decoded = _decode(source, max_pixels, "mask ", label)
    height, width = decoded.colour.shape[:2]
    if shape is not None and (height, width) != tuple(shape):
        raise InputError(f"mask {label} is {width}x{height} but image is {shape[1]}x{shape[0]} (width x height)")
    return _hole_from(decoded.colour, decoded.alpha, invert, threshold)


#: A file's path, or its bytes already in memory.
_Source = str | bytes


def _source(given: StrPath | bytes | IO[bytes], name: str | None) -> tuple[_Source, str]:
    """``(path or bytes, quoted label for messages)``; a file object is read into bytes."""
    if isinstance(given, bytes | bytearray | memoryview):
        source: _Source = bytes(given)
    elif hasattr(given, "read"):
        try:
            source = given.read()  # type: ignore[union-attr]
        except OSError as error:
            raise InputError(f"cannot read '{name or 'the upload'}': {_describe_os_error(error)}") from None
        if not isinstance(source, bytes):
            raise InputError(f"cannot read '{name or 'the upload'}': it is not opened in binary mode")
    else:
        source = os.fspath(given)  # type: ignore[arg-type]
    label = name if name is not None else (source if isinstance(source, str) else "<memory>")
    return source, f"'{label}'"


def _opened(source: _Source) -> str | io.BytesIO:
    """What Pillow and tifffile open: the path, or a file object over the bytes."""
    return source if isinstance(source, str) else io.BytesIO(source)


def _head(source: _Source, size: int) -> bytes:
    if isinstance(source, bytes):
        return source[:size]
    with open(source, "rb") as file:
        return file.read(size)


def _decode(source: _Source, max_pixels: int, what: str, label: str) -> _Decoded:
    """Decodes any supported file; ``what`` ("" or "mask ") and ``label`` (the quoted name) go into messages."""
    prefix = f"cannot read {what}{label}"
    if isinstance(source, str) and not os.path.exists(source):
        raise InputError(f"{prefix}: file does not exist")
    if isinstance(source, str) and os.path.isdir(source):
        raise InputError(f"{prefix}: it is a directory")
    if isinstance(source, bytes) and not source:
        raise InputError(f"{prefix}: it is empty")
    path = source
    with _pillow_limit.disabled():
        try:
            try:
                with Image.open(_opened(path)) as image:
                    _check_pixels(image.size, max_pixels, prefix)
                    return _decode_pillow(image, path, prefix)
            except UnidentifiedImageError:
                if _head(path, 4) in _TIFF_MAGICS:
                    # Pillow cannot open some valid TIFFs (16-bit grey + alpha, for one); tifffile can.
                    return _decode_tiff_only(path, max_pixels, prefix)
                raise InputError(f"{prefix}: not a recognised image file") from None
        except InputError:
            raise
        except PermissionError:
            raise InputError(f"{prefix}: permission denied") from None
        except Image.DecompressionBombError as error:  # only if another thread set a limit mid-read
            raise InputError(f"{prefix}: {error}") from None
        except MemoryError:
            raise InputError(f"{prefix}: not enough memory to decode it") from None
        except _READ_ERRORS as error:
            raise InputError(f"{prefix}: {_describe_read_error(error)}") from None


def _describe_read_error(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, EOFError) or "truncated" in text.lower() or "incomplete" in text.lower():
        return "file is truncated"
    return text or type(error).__name__


def _check_pixels(size: tuple[int, int], max_pixels: int, prefix: str) -> None:
    width, height = size
    pixels = width * height
    if pixels > max_pixels:
        raise InputError(
            f"{prefix}: image is {width}x{height} = {pixels:,} pixels, over the limit of {max_pixels:,} "
            "(raise it with --max-pixels)"
        )


def _decode_pillow(image: Image.Image, path: _Source, prefix: str) -> _Decoded:
    """Decodes an opened Pillow image, handing 16-bit colour to a decoder that keeps all 16 bits."""
    icc = image.info.get("icc_profile") or None
    wide = _wide_colour_kind(image, path)
    # Pillow's TIFF loader turns the pixels upright itself and deletes the tag, so read the tags before.
    tiff_metadata = _orientation_and_exif(image) if image.format == "TIFF" else None
    if wide is None:
        image.load()  # some formats (PNG eXIf after the pixels) only fill info on load
        colour, alpha, bit_depth, keeps_icc = _pillow_pixels(image, icc, prefix)
        mode = image.mode
    else:
        colour, alpha = _decode_wide(image, path, wide, prefix)
        bit_depth, keeps_icc = 16, True
        mode = ("LA16" if colour.ndim == 2 else "RGBA16") if alpha is not None else "RGB16"
    if tiff_metadata is None:
        orientation, exif = _orientation_and_exif(image)
    else:
        orientation, exif = tiff_metadata
        if wide is None and _ORIENTATION_TAG not in image.tag_v2:
            orientation = 1  # Pillow has applied it
    colour = _orient(colour, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    return _Decoded(
        colour=colour,
        alpha=alpha,
        format=image.format,
        mode=mode,
        bit_depth=bit_depth,
        icc_profile=icc if keeps_icc else None,
        exif=exif,
    )


def _wide_colour_kind(image: Image.Image, path: _Source) -> str | None:
    """Returns "PNG", "PNG_GREY_ALPHA" or "TIFF" when the file holds more than 8 bits per channel that Pillow
    would truncate (it keeps 16 bits only for single-channel greyscale), else None."""
    if image.format == "PNG":
        header = _head(path, 26)
        bit_depth, colour_type = header[24], header[25]
        # Colour types 2, 4, 6 are RGB, grey + alpha, RGBA; 0 (grey) is kept by Pillow as "I;16".
        if bit_depth != 16 or colour_type not in (2, 4, 6):
            return None
        return "PNG_GREY_ALPHA" if colour_type == 4 else "PNG"
    if image.format == "TIFF" and image.mode not in _PILLOW_16BIT_GREY:
        bits = image.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return "TIFF" if max(bits) > 8 else None
    return None


_PILLOW_16BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def _pillow_pixels(
    image: Image.Image, icc: bytes | None, prefix: str
) -> tuple[np.ndarray, np.ndarray | None, int, bool]:
    """Returns ``(colour, alpha, bit_depth, keeps_icc)`` from a loaded Pillow image of any mode."""
    mode = image.mode
    has_transparency = "transparency" in image.info
    if mode == "1" or (mode == "L" and not has_transparency):
        return np.asarray(image.convert("L")), None, 8, True
    if mode in ("L", "LA", "La"):
        grey_alpha = np.asarray(image.convert("LA"))
        return grey_alpha[:, :, 0], grey_alpha[:, :, 1], 8, True
    if mode in _PILLOW_16BIT_GREY:
        grey = np.asarray(image)
        if mode == "I" and (grey.min(initial=0) < 0 or grey.max(initial=0) > 65535):
            raise InputError(f"{prefix}: 32-bit integer images are not supported")
        return grey.astype(np.uint16), None, 16, True
    if mode == "F":
        raise InputError(f"{prefix}: floating-point images are not supported")
    if mode in ("RGBA", "RGBa", "PA") or (mode in ("RGB", "P") and has_transparency):
        rgba = np.asarray(image.convert("RGBA"))
        return rgba[:, :, :3], rgba[:, :, 3], 8, True
    if mode in ("RGB", "P", "RGBX"):
        return np.asarray(image.convert("RGB")), None, 8, True
    if mode == "CMYK":
        # The CMYK profile describes ink, not the RGB we produce, so it must not follow the pixels.
        return np.asarray(_cmyk_to_rgb(image, icc)), None, 8, False
    # Lab, YCbCr, HSV and the like: a profile for those colour spaces would mislabel RGB output.
    return np.asarray(image.convert("RGB")), None, 8, False


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Converts through the embedded profile when there is one (inks differ a lot between profiles)."""
    if icc:
        try:
            from PIL import ImageCms
        except ImportError:
            return image.convert("RGB")
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return image.convert("RGB")


def _decode_wide(image: Image.Image, path: _Source, kind: str, prefix: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Decodes 16-bit colour (or grey + alpha) PNG or TIFF pixels; returns ``(colour, alpha)`` unoriented."""
    if kind == "TIFF":
        return _tiff_pixels(path, prefix)
    array = _cv2_decode(path, prefix)
    if kind == "PNG_GREY_ALPHA":  # cv2 expands it to BGRA with equal colour channels
        return array[:, :, 0], array[:, :, 3]
    return _split_bgr(array, prefix)


def _cv2_decode(path: _Source, prefix: str) -> np.ndarray:
    import cv2

    # imdecode from bytes rather than imread: imread cannot open non-ASCII paths on Windows.
    raw = np.fromfile(path, dtype=np.uint8) if isinstance(path, str) else np.frombuffer(path, dtype=np.uint8)
    array = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InputError(f"{prefix}: file is truncated or corrupt")
    if array.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{prefix}: {array.dtype} samples are not supported")
    return array


def _split_bgr(array: np.ndarray, prefix: str) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 2:
        return array, None
    if array.shape[2] == 3:
        return np.ascontiguousarray(array[:, :, ::-1]), None
    if array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, 2::-1]), np.ascontiguousarray(array[:, :, 3])
    raise InputError(f"{prefix}: {array.shape[2]} channels are not supported")


def _tiff_pixels(path: _Source, prefix: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads the first page of a TIFF with tifffile, falling back to OpenCV's libtiff for compressions that
    tifffile needs the optional ``imagecodecs`` package for (LZW, JPEG)."""
    import tifffile

    with tifffile.TiffFile(_opened(path)) as tiff:
        page = tiff.pages.first
        samples = int(page.samplesperpixel)
        photometric = int(page.photometric)
        if page.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{prefix}: {page.dtype} samples are not supported")
        try:
            data = page.asarray()
        except ValueError as error:
            if "imagecodecs" not in str(error) or samples == 2:
                raise
            data = None
    if data is None:
        return _split_bgr(_cv2_decode(path, prefix), prefix)
    axes = page.axes
    if "S" not in axes:
        data, axes = data[..., None], axes + "S"
    if axes not in ("YXS", "SYX"):
        raise InputError(f"{prefix}: TIFF pages with axes {axes} are not supported")
    if axes == "SYX":
        data = np.moveaxis(data, 0, -1)
    if photometric == 1 and samples in (1, 2):  # grey, grey + alpha
        return np.ascontiguousarray(data[:, :, 0]), (data[:, :, 1].copy() if samples == 2 else None)
    if photometric == 2 and samples in (3, 4):  # RGB, RGBA
        return np.ascontiguousarray(data[:, :, :3]), (data[:, :, 3].copy() if samples == 4 else None)
    raise InputError(f"{prefix}: TIFF photometric {photometric} with {samples} samples is not supported")


def _decode_tiff_only(path: _Source, max_pixels: int, prefix: str) -> _Decoded:
    """Decodes a TIFF that Pillow cannot open, with tifffile for the header and the pixels."""
    import tifffile

    with tifffile.TiffFile(_opened(path)) as tiff:
        page = tiff.pages.first
        _check_pixels((int(page.imagewidth), int(page.imagelength)), max_pixels, prefix)
        tags = page.tags
        orientation = int(tags[274].value) if 274 in tags else 1
        icc = bytes(tags[34675].value) if 34675 in tags else None
    colour, alpha = _tiff_pixels(path, prefix)
    depth = 16 if colour.dtype == np.uint16 else 8
    grey = colour.ndim == 2
    mode = ("LA" if grey else "RGBA") if alpha is not None else ("L" if grey else "RGB")
    return _Decoded(
        colour=_orient(colour, orientation),
        alpha=None if alpha is None else _orient(alpha, orientation),
        format="TIFF",
        mode=mode + ("16" if depth == 16 else ""),
        bit_depth=depth,
        icc_profile=icc,
        exif=None,
    )


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Applies EXIF orientation 1..8 the way ``PIL.ImageOps.exif_transpose`` does; others are ignored."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.swapaxes(0, 1)
    elif orientation == 6:
        array = array.swapaxes(0, 1)[:, ::-1]
    elif orientation == 7:
        array = array.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        array = array.swapaxes(0, 1)[::-1]
    return np.ascontiguousarray(array)


def _orientation_and_exif(image: Image.Image) -> tuple[int, bytes | None]:
    """Returns the EXIF orientation and the EXIF to keep (prefixed, Orientation set to 1)."""
    if image.format == "TIFF":
        tags = image.getexif()
        return _valid_orientation(tags.get(_ORIENTATION_TAG)), _exif_from_tiff_tags(tags)
    raw = image.info.get("exif")
    if not raw and "Raw profile type exif" in image.info:  # ImageMagick's PNG text chunk
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex("".join(image.info["Raw profile type exif"].split("\n")[3:]))
    if not isinstance(raw, bytes) or not raw:
        return 1, None
    # WebP holds bare TIFF-structured EXIF; keep one form, the prefixed one that JPEG needs.
    if not raw.startswith(_EXIF_PREFIX):
        raw = _EXIF_PREFIX + raw
    parsed = Image.Exif()
    try:
        parsed.load(raw)
    except _READ_ERRORS:
        return 1, raw
    return _valid_orientation(parsed.get(_ORIENTATION_TAG)), _exif_upright(raw)


def _valid_orientation(value: Any) -> int:
    try:
        orientation = int(value)
    except (TypeError, ValueError):
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _exif_upright(exif: bytes) -> bytes:
    """Sets Orientation to 1 by patching its value in place.

    Patching rather than re-serialising keeps every other byte where it was, so maker notes that use absolute
    offsets stay valid. EXIF that cannot be parsed is returned unchanged.
    """
    tiff = bytearray(exif[len(_EXIF_PREFIX) :])
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8:
        return exif
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            tag, kind, _ = struct.unpack_from(order + "HHI", tiff, entry)
            if tag == _ORIENTATION_TAG and kind == 3:  # SHORT
                struct.pack_into(order + "H", tiff, entry + 8, 1)
            elif tag == _ORIENTATION_TAG and kind == 4:  # LONG, from non-conforming writers
                struct.pack_into(order + "I", tiff, entry + 8, 1)
    except struct.error:
        return exif
    return _EXIF_PREFIX + bytes(tiff)


def _exif_from_tiff_tags(tags: Image.Exif) -> bytes | None:
    """Builds EXIF from a TIFF's tags: the descriptive IFD0 tags and the EXIF and GPS sub-IFDs."""
    kept = Image.Exif()
    for tag in _DESCRIPTIVE_TIFF_TAGS:
        if tag in tags:
            kept[tag] = tags[tag]
    for pointer in (_EXIF_IFD_TAG, _GPS_IFD_TAG):
        if pointer in tags:
            with contextlib.suppress(*_READ_ERRORS):
                sub_ifd = dict(tags.get_ifd(pointer))
                if sub_ifd:
                    kept[pointer] = sub_ifd
    if _ORIENTATION_TAG in tags:
        kept[_ORIENTATION_TAG] = 1
    if not len(kept):
        return None
    return kept.tobytes()


# --------------------------------------------------------------------------------------------- writing


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
    _write_atomically(path, encode, prefix)


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
    except OSError as error:
        raise OutputError(f"{prefix}: {_describe_os_error(error)}") from error
    except (ValueError, TypeError, KeyError, struct.error, zlib.error) as error:
        raise OutputError(f"{prefix}: {' '.join(str(error).split()) or type(error).__name__}") from error
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
        pixels = _to_8bit(pixels)
    grayscale = info is not None and info.grayscale and image_format in _GREY_FORMATS
    colour = _grey_from_rgb(pixels) if grayscale else pixels
    alpha = info.alpha if info is not None and image_format in _ALPHA_FORMATS else None
    if alpha is not None:
        if alpha.shape != (height, width):
            raise ValueError(f"info.alpha is {alpha.shape[1]}x{alpha.shape[0]} but pixels are {width}x{height}")
        alpha = _as_dtype(alpha, colour.dtype)
    icc = info.icc_profile if info is not None else None
    if icc is not None and _icc_colour_space(icc) != ("GRAY" if grayscale else "RGB"):
        icc = None
    exif = _prefixed(info.exif) if info is not None and info.exif else None
    if image_format == "JPEG" and exif is not None and len(exif) > _JPEG_MAX_MARKER_BYTES:
        exif = None

    def encode(file: IO[bytes]) -> None:
        _encode(file, image_format, colour, alpha, icc, exif, quality)

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

    _write_atomically(path, encode, f"cannot write '{path}'")


def _grey_from_rgb(pixels: np.ndarray) -> np.ndarray:
    """Rounded channel mean in integers: equal channels (replicated grey) come back bit-exact."""
    total = pixels.astype(np.uint32).sum(axis=2)
    return ((total + 1) // 3).astype(pixels.dtype)


def _icc_colour_space(icc: bytes) -> str:
    return icc[16:20].decode("ascii", "replace").strip()


def _prefixed(exif: bytes) -> bytes:
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif


def _encode(
    file: IO[bytes],
    image_format: str,
    colour: np.ndarray,
    alpha: np.ndarray | None,
    icc: bytes | None,
    exif: bytes | None,
    quality: int,
) -> None:
    """Encodes ``colour`` (``H x W`` grey or ``H x W x 3``) plus optional alpha into ``file``."""
    if image_format == "TIFF" and exif is not None:
        # Neither libtiff (through Pillow) nor tifffile writes an EXIF sub-IFD: encode without, then add it.
        buffer = io.BytesIO()
        _encode(buffer, image_format, colour, alpha, icc, None, quality)
        file.write(_tiff_with_exif(buffer.getvalue(), exif))
        return
    sixteen_bit = colour.dtype == np.uint16
    if sixteen_bit and image_format == "TIFF" and (colour.ndim == 3 or alpha is not None):
        _encode_tiff16(file, colour, alpha, icc)
        return
    if sixteen_bit and image_format == "PNG" and (colour.ndim == 3 or alpha is not None):
        file.write(_png_with_metadata(_encode_png16(colour, alpha), icc, exif))
        return
    if image_format == "WEBP" and colour.ndim == 2:  # WebP has no greyscale
        colour = np.repeat(colour[:, :, None], 3, axis=2)
    # Pillow infers the mode from shape and dtype: L, LA, RGB, RGBA, and I;16 for 16-bit grey.
    image = Image.fromarray(colour if alpha is None else np.dstack([colour, alpha]))
    options: dict[str, Any] = {}
    if icc is not None:
        options["icc_profile"] = icc
    if exif is not None:
        options["exif"] = exif
    if image_format == "JPEG":
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif image_format == "WEBP":
        options.update(quality=quality)
    elif image_format == "TIFF" and features.check("libtiff"):  # Pillow compresses TIFF only through libtiff
        options.update(compression="tiff_adobe_deflate")
    image.save(file, format=image_format, **options)


def _tiff_with_exif(tiff: bytes, exif: bytes) -> bytes:
    """Adds EXIF to a classic TIFF: the descriptive IFD0 tags and the EXIF and GPS sub-IFDs.

    The tags are serialised by Pillow at the end of the file, and a new IFD0 (the old entries, byte for byte, plus
    the new ones, in tag order) is written after them; the header then points at it. The old entries' data stay
    where they were, so strip offsets and every other pointer remain valid. A BigTIFF or EXIF that cannot be
    parsed comes back unchanged (the pixels matter more than the metadata).
    """
    from PIL import TiffImagePlugin

    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    parsed = Image.Exif()
    try:
        parsed.load(_prefixed(exif))
    except _READ_ERRORS:
        return tiff
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return tiff
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, first)
    old_entries = {
        struct.unpack_from(order + "H", tiff, first + 2 + 12 * index)[0]: tiff[
            first + 2 + 12 * index : first + 14 + 12 * index
        ]
        for index in range(count)
    }
    (next_ifd,) = struct.unpack_from(order + "I", tiff, first + 2 + 12 * count)
    extra = TiffImagePlugin.ImageFileDirectory_v2(ifh=tiff[:2] + tiff[2:4] + b"\0\0\0\0")
    for tag in (*_DESCRIPTIVE_TIFF_TAGS, _ORIENTATION_TAG):
        if tag in parsed and tag not in old_entries:
            extra[tag] = parsed[tag]
    for pointer in (_EXIF_IFD_TAG, _GPS_IFD_TAG):
        with contextlib.suppress(*_READ_ERRORS):
            sub_ifd = dict(parsed.get_ifd(pointer))
            if sub_ifd and pointer not in old_entries:
                extra[pointer] = sub_ifd
    if not len(extra):
        return tiff
    start = len(tiff) + len(tiff) % 2  # IFDs begin on a word boundary
    try:
        extra_bytes = extra.tobytes(start)
    except _READ_ERRORS + (TypeError,):
        return tiff
    (extra_count,) = struct.unpack_from(order + "H", extra_bytes, 0)
    entries = dict(old_entries)
    for index in range(extra_count):
        entry = extra_bytes[2 + 12 * index : 14 + 12 * index]
        entries[struct.unpack_from(order + "H", entry)[0]] = entry
    new_first = start + len(extra_bytes) + len(extra_bytes) % 2
    new_ifd = struct.pack(order + "H", len(entries)) + b"".join(entries[tag] for tag in sorted(entries))
    new_ifd += struct.pack(order + "I", next_ifd)
    padding = b"\0" * (start - len(tiff)) + extra_bytes + b"\0" * (len(extra_bytes) % 2)
    return tiff[:4] + struct.pack(order + "I", new_first) + tiff[8:] + padding + new_ifd


def _encode_tiff16(file: IO[bytes], colour: np.ndarray, alpha: np.ndarray | None, icc: bytes | None) -> None:
    import tifffile

    data = colour if alpha is None else np.dstack([colour, alpha])
    tifffile.imwrite(
        file,
        data,
        photometric="rgb" if colour.ndim == 3 else "minisblack",
        extrasamples=["unassalpha"] if alpha is not None else None,
        compression="zlib",
        iccprofile=icc,
        metadata=None,
        software=False,
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png16(colour: np.ndarray, alpha: np.ndarray | None) -> bytes:
    """Encodes 16-bit RGB, RGBA or grey + alpha PNG, which Pillow cannot write."""
    if colour.ndim == 3:
        import cv2

        bgr = colour[:, :, ::-1] if alpha is None else np.dstack([colour[:, :, ::-1], alpha])
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
        if not ok:
            raise OSError("PNG encoder failed")
        return encoded.tobytes()
    # Grey + alpha: OpenCV cannot write 2 channels, so encode it here (no row filters, plain deflate).
    height, width = colour.shape
    interleaved = np.dstack([colour, alpha]).astype(">u2")
    rows = np.zeros((height, 1 + width * 4), dtype=np.uint8)  # column 0: filter type 0 (none)
    rows[:, 1:] = interleaved.view(np.uint8).reshape(height, width * 4)
    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _png_chunk(b"IEND", b"")
    )


def _png_with_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Inserts iCCP and eXIf chunks right after IHDR (iCCP must precede the pixel data)."""
    extra = b""
    if icc is not None:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif is not None:
        extra += _png_chunk(b"eXIf", exif[len(_EXIF_PREFIX) :])
    end_of_header = len(_PNG_SIGNATURE) + 8 + 13 + 4
    return png[:end_of_header] + extra + png[end_of_header:]


def _write_atomically(path: str, encode: Callable[[IO[bytes]], None], prefix: str) -> None:
    """Encodes into a temporary file beside ``path`` and renames it over ``path``, so that a failure or a
    crash never leaves a half-written output; the temporary file is removed on any failure."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(_TEMPORARY_TOKEN_BYTES)}.tmp")
    try:
        # "x" creates exclusively with the umask's permissions, as for any new file (mkstemp forces 0o600);
        # a named file object also suits tifffile, which wants a file name.
        file = open(temporary, "xb")
    except OSError as error:
        raise OutputError(f"{prefix}: {_describe_os_error(error)}") from None
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
        raise OutputError(f"{prefix}: {_describe_os_error(error)}") from error
    except (ValueError, TypeError, KeyError, struct.error, zlib.error) as error:
        raise OutputError(f"{prefix}: {' '.join(str(error).split()) or type(error).__name__}") from error
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                os.remove(temporary)


#: A temporary file of :func:`_write_atomically`: ``.<output name>.<8 hex digits>.tmp`` beside the output.
_TEMPORARY_TOKEN_BYTES = 4
_TEMPORARY_NAME = re.compile(rf"^\.(?P<name>.+)\.[0-9a-f]{{{2 * _TEMPORARY_TOKEN_BYTES}}}\.tmp$")


def remove_partial_writes(directory: StrPath, names: Collection[str]) -> int:
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


def _describe_os_error(error: OSError) -> str:
    if error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return " ".join(str(error).split()) or type(error).__name__
