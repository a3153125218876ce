"""Encoders: Pillow for 8-bit and 16-bit grey, OpenCV and hand-written chunks for 16-bit colour PNG, tifffile for
16-bit colour TIFF; ICC and EXIF attached where the format holds them."""

from __future__ import annotations

import io
import struct
import zlib
from typing import IO, Any

import numpy as np
from PIL import Image, features

from hrinpaint.io.exif import EXIF_PREFIX, tiff_with_exif

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_pixels(
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
        encode_pixels(buffer, image_format, colour, alpha, icc, None, quality)
        file.write(tiff_with_exif(buffer.getvalue(), exif))
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
        extra += _png_chunk(b"eXIf", exif[len(EXIF_PREFIX) :])
    end_of_header = len(_PNG_SIGNATURE) + 8 + 13 + 4
    return png[:end_of_header] + extra + png[end_of_header:]
