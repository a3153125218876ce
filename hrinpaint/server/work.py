"""What one request does: check the uploads, then (on the worker) read, inpaint and encode like the CLI does.

Uploads stay in memory: :mod:`hrinpaint.io` decodes them from their bytes, the pipeline fills the hole, and the
result is encoded into bytes in the image's own format. Nothing is written to disk, so no message can name a
server path; the client's file name only shapes the download name and the messages, after sanitising.
"""

from __future__ import annotations

import io as bytes_io
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from hrinpaint import io
from hrinpaint.errors import InpaintError, JobCancelled
from hrinpaint.io.read import TIFF_MAGICS
from hrinpaint.server.jobs import Job

#: The formats the result can be written in, by Pillow's format name; anything else comes back as PNG.
OUTPUT_SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif"}
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".tif": "image/tiff"}
# letters and digits of any script are kept (the download name follows RFC 5987); the rest becomes "_"
_UNSAFE_NAME = re.compile(r"[^\w.-]+")
_NON_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
# messages about shipped files name them from the package down, not by the server's full path
_INSTALL_ROOT = str(Path(__file__).resolve().parents[2]) + os.sep


class RequestError(Exception):
    """A failure the client caused, with the HTTP status that says so and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Header:
    """What the first bytes of an upload say: Pillow's format name (None when only tifffile reads it) and size."""

    format: str | None
    width: int | None
    height: int | None


def probe(data: bytes, what: str, max_pixels: int) -> Header:
    """Checks that ``data`` is an image within ``max_pixels`` from its header alone, without decoding it.

    Raises:
        RequestError: 415 when it is not an image, 413 when it has too many pixels.
    """
    if not data:
        raise RequestError(415, f"the {what} is empty")
    try:
        with Image.open(bytes_io.BytesIO(data)) as image:
            width, height = image.size
            image_format = image.format
    except Image.DecompressionBombError:
        # Pillow's own limit (about 179 MP) is past ours unless the server raised max_pixels beyond it
        if max_pixels <= 2 * (Image.MAX_IMAGE_PIXELS or 0):
            raise RequestError(413, f"the {what} has over {max_pixels:,} pixels, the server's limit") from None
        return Header(None, None, None)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        if data[:4] in TIFF_MAGICS:  # some valid TIFFs only tifffile reads; hrinpaint.io handles them
            return Header(None, None, None)
        raise RequestError(415, f"the {what} is not an image that can be read (JPEG, PNG, WebP, TIFF, BMP)") from None
    if width * height > max_pixels:
        raise RequestError(
            413,
            f"the {what} is {width}x{height} = {width * height:,} pixels, over the server's limit of {max_pixels:,}",
        )
    return Header(image_format, width, height)


def check_mask_size(image: Header, mask: Header) -> None:
    """Refuses a mask whose size cannot be the image's; a transposed size may be EXIF rotation, left to io."""
    if None in (image.width, image.height, mask.width, mask.height):
        return
    if (mask.width, mask.height) not in ((image.width, image.height), (image.height, image.width)):
        raise RequestError(
            422,
            f"the mask is {mask.width}x{mask.height} but the image is {image.width}x{image.height}; "
            "they must be the same size",
        )


def upload_name(filename: str | None, fallback: str) -> str:
    """The client's file name without any folder, printable and short, for messages; ``fallback`` when empty."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable())[:120]
    return name or fallback


def download_stem(filename: str | None) -> str:
    """The client's file name reduced to a safe stem for the download name (never used as a path).

    Letters and digits of every script are kept (``Ölberg_夜景``); see :func:`ascii_name` for the fallback.
    """
    name = upload_name(filename, "")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", stem)).strip("._")[:80]
    return stem or "image"


def ascii_name(name: str) -> str:
    """An ASCII stand-in for ``name`` (accents dropped, other characters ``_``) for clients without RFC 5987."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem, dot, suffix = plain.rpartition(".")
    stem = _NON_ASCII.sub("_", stem if dot else plain).strip("._")
    return f"{stem or 'image'}{dot}{suffix if dot else ''}"


@dataclass(frozen=True)
class InpaintJob:
    """A checked request, ready for the worker.

    Attributes:
        method: ``filler+lifter`` as resolved.
        filler_config, lifter_config: validated keyword configs of the two parts.
        pipeline: validated :class:`~hrinpaint.pipeline.PipelineOptions` fields that the request set.
        invert_mask, mask_threshold: how to read the mask (see :func:`hrinpaint.io.read_mask`).
        quality: JPEG/WebP quality of the result.
        max_pixels: the server's limit, applied again when decoding.
        stem: download name stem.
        image_name, mask_name: what messages call the uploads (the client's file names, no folders).
        device, half: where network methods run and whether in float16 (the server's settings).
    """

    method: str
    filler_config: dict[str, Any] = field(default_factory=dict)
    lifter_config: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    invert_mask: bool = False
    mask_threshold: float = 0.0
    quality: int = 95
    max_pixels: int = io.DEFAULT_MAX_PIXELS
    stem: str = "image"
    image_name: str = "image"
    mask_name: str = "mask"
    device: str = "auto"
    half: bool = False


@dataclass(frozen=True)
class InpaintResult:
    """The encoded result and what the response headers say about it."""

    data: bytes
    media_type: str
    filename: str
    method: str
    filled_pixels: int
    width: int
    height: int
    seconds: float


def run_inpaint(job: Job, request: InpaintJob, image_bytes: bytes, mask_bytes: bytes) -> InpaintResult:
    """Decodes the uploads with :mod:`hrinpaint.io`, fills the hole with the pipeline and encodes the result in the
    image's format, as ``hrinpaint inpaint`` does. Runs on the worker thread.

    Raises:
        RequestError: 422 for every problem with the input or the method (its message), 507 when out of memory.
    """
    from hrinpaint.pipeline import Inpainter

    start = time.perf_counter()
    try:
        job.stage = "reading"
        loaded = io.read_image(image_bytes, max_pixels=request.max_pixels, name=request.image_name)
        height, width = loaded.pixels.shape[:2]
        mask = io.read_mask(
            mask_bytes,
            shape=(height, width),
            invert=request.invert_mask,
            max_pixels=request.max_pixels,
            threshold=request.mask_threshold,
            name=request.mask_name,
        )
        del mask_bytes
        image_format = loaded.info.format
        if not mask.any():  # as the CLI: nothing to fill, the input comes back byte for byte
            media_type = Image.MIME.get(image_format or "", "application/octet-stream")
            suffix = OUTPUT_SUFFIXES.get(image_format or "", "")
            return InpaintResult(
                image_bytes,
                media_type,
                f"{request.stem}{suffix}",
                request.method,
                0,
                width,
                height,
                time.perf_counter() - start,
            )
        job.stage = "filling"
        try:
            inpainter = Inpainter.from_method(
                request.method,
                filler=request.filler_config,
                lifter=request.lifter_config,
                device=request.device,
                half=request.half,
                max_pixels=request.max_pixels,
                **request.pipeline,
            )
        except InpaintError as error:
            raise RequestError(422, f"method {request.method} cannot run: {_without_install_path(error)}") from None
        result = inpainter(loaded.pixels, mask, progress=job.progress)
        filled_pixels = int(mask.sum())
        del mask
        job.stage = "writing"
        suffix = OUTPUT_SUFFIXES.get(image_format or "", ".png")
        data = io.encode_image(result, loaded.info, suffix=suffix, quality=request.quality)
        del result, loaded
        return InpaintResult(
            data,
            MEDIA_TYPES[suffix],
            f"{request.stem}_filled{suffix}",
            inpainter.name,
            filled_pixels,
            width,
            height,
            time.perf_counter() - start,
        )
    except JobCancelled:
        raise
    except InpaintError as error:
        raise RequestError(422, _without_install_path(error)) from None
    except MemoryError:
        raise RequestError(507, "not enough memory for this image on the server") from None


def _without_install_path(error: Exception) -> str:
    """The message with the installation's own folder left out (``hrinpaint/weights/x`` instead of a full path)."""
    return str(error).replace(_INSTALL_ROOT, "")
