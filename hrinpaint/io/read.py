"""Reading images and masks from files, bytes or file objects, with the pixel limit checked from the header.

16-bit colour that Pillow would truncate goes to OpenCV (PNG) or tifffile (TIFF); TIFFs Pillow cannot open go to
tifffile; EXIF orientation is applied (:mod:`hrinpaint.io.exif`).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from hrinpaint.errors import InputError
from hrinpaint.io.exif import ORIENTATION_TAG, orient, orientation_and_exif
from hrinpaint.io.info import (
    DEFAULT_MAX_PIXELS,
    READ_ERRORS,
    ImageInfo,
    LoadedImage,
    StrPath,
    describe_os_error,
    describe_read_error,
)
from hrinpaint.io.masks import hole_from

#: The first four bytes of a classic or big TIFF, either byte order.
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: The only formats Pillow may decode here: photos and masks. Anything else (EPS, which Pillow renders with
#: Ghostscript, PDF, PSD, ...) is "not a recognised image file", so an upload can never reach an interpreter.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")  # JPEG also opens multi-picture (MPO) files


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
    return hole_from(decoded.colour, decoded.alpha, invert, threshold)


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
            raise InputError(f"cannot read '{name or 'the upload'}': {describe_os_error(error)}") from None
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
    with _pillow_limit.disabled():
        try:
            try:
                with Image.open(_opened(source), formats=READ_FORMATS) as image:
                    _check_pixels(image.size, max_pixels, prefix)
                    return _decode_pillow(image, source, prefix)
            except UnidentifiedImageError:
                if _head(source, 4) in TIFF_MAGICS:
                    # Pillow cannot open some valid TIFFs (16-bit grey + alpha, for one); tifffile can.
                    return _decode_tiff_only(source, max_pixels, prefix)
                raise InputError(f"{prefix}: not a recognised image file") from None
        except InputError:
            raise
        except PermissionError:
            raise InputError(f"{prefix}: permission denied") from None
        except Image.DecompressionBombError as error:  # only if another thread set a limit mid-read
            raise InputError(f"{prefix}: {error}") from None
        except MemoryError:
            raise InputError(f"{prefix}: not enough memory to decode it") from None
        except READ_ERRORS as error:
            raise InputError(f"{prefix}: {describe_read_error(error)}") from None


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
    tiff_metadata = orientation_and_exif(image) if image.format == "TIFF" else None
    if wide is None:
        image.load()  # some formats (PNG eXIf after the pixels) only fill info on load
        colour, alpha, bit_depth, keeps_icc = _pillow_pixels(image, icc, prefix)
        mode = image.mode
    else:
        colour, alpha = _decode_wide(image, path, wide, prefix)
        bit_depth, keeps_icc = 16, True
        mode = ("LA16" if colour.ndim == 2 else "RGBA16") if alpha is not None else "RGB16"
    if tiff_metadata is None:
        orientation, exif = orientation_and_exif(image)
    else:
        orientation, exif = tiff_metadata
        if wide is None and ORIENTATION_TAG not in image.tag_v2:
            orientation = 1  # Pillow has applied it
    colour = orient(colour, orientation)
    alpha = None if alpha is None else orient(alpha, orientation)
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
        colour=orient(colour, orientation),
        alpha=None if alpha is None else orient(alpha, orientation),
        format="TIFF",
        mode=mode + ("16" if depth == 16 else ""),
        bit_depth=depth,
        icc_profile=icc,
        exif=None,
    )
