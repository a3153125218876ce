"""EXIF and orientation: applying EXIF orientation on read, keeping EXIF upright, and adding EXIF to a TIFF.

Orientation is applied to the pixels on read and reset to 1 in the EXIF that is kept, by patching its value in
place so that maker notes with absolute offsets stay valid.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
from PIL import Image

from hrinpaint.io.info import READ_ERRORS

ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_GPS_IFD_TAG = 0x8825
EXIF_PREFIX = b"Exif\x00\x00"
# TIFF IFD0 tags that describe the photo rather than the pixel layout; layout tags (strip offsets, bits per
# sample, compression) from a TIFF source would be wrong in any other file.
_DESCRIPTIVE_TIFF_TAGS = (271, 272, 282, 283, 296, 305, 306, 315, 33432)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
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


def orientation_and_exif(image: Image.Image) -> tuple[int, bytes | None]:
    """Returns the EXIF orientation and the EXIF to keep (prefixed, Orientation set to 1)."""
    if image.format == "TIFF":
        tags = image.getexif()
        return _valid_orientation(tags.get(ORIENTATION_TAG)), _exif_from_tiff_tags(tags)
    raw = image.info.get("exif")
    if not raw and "Raw profile type exif" in image.info:  # ImageMagick's PNG text chunk
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex("".join(image.info["Raw profile type exif"].split("\n")[3:]))
    if not isinstance(raw, bytes) or not raw:
        return 1, None
    # WebP holds bare TIFF-structured EXIF; keep one form, the prefixed one that JPEG needs.
    if not raw.startswith(EXIF_PREFIX):
        raw = EXIF_PREFIX + raw
    parsed = Image.Exif()
    try:
        parsed.load(raw)
    except READ_ERRORS:
        return 1, raw
    return _valid_orientation(parsed.get(ORIENTATION_TAG)), _exif_upright(raw)


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
    tiff = bytearray(exif[len(EXIF_PREFIX) :])
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8:
        return exif
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            entry = ifd + 2 + 12 * index
            tag, kind, _ = struct.unpack_from(order + "HHI", tiff, entry)
            if tag == ORIENTATION_TAG and kind == 3:  # SHORT
                struct.pack_into(order + "H", tiff, entry + 8, 1)
            elif tag == ORIENTATION_TAG and kind == 4:  # LONG, from non-conforming writers
                struct.pack_into(order + "I", tiff, entry + 8, 1)
    except struct.error:
        return exif
    return EXIF_PREFIX + bytes(tiff)


def _exif_from_tiff_tags(tags: Image.Exif) -> bytes | None:
    """Builds EXIF from a TIFF's tags: the descriptive IFD0 tags and the EXIF and GPS sub-IFDs."""
    kept = Image.Exif()
    for tag in _DESCRIPTIVE_TIFF_TAGS:
        if tag in tags:
            kept[tag] = tags[tag]
    for pointer in (_EXIF_IFD_TAG, _GPS_IFD_TAG):
        if pointer in tags:
            with contextlib.suppress(*READ_ERRORS):
                sub_ifd = dict(tags.get_ifd(pointer))
                if sub_ifd:
                    kept[pointer] = sub_ifd
    if ORIENTATION_TAG in tags:
        kept[ORIENTATION_TAG] = 1
    if not len(kept):
        return None
    return kept.tobytes()


# --------------------------------------------------------------------------------------------- writing


def prefixed(exif: bytes) -> bytes:
    """EXIF with the ``Exif\\0\\0`` prefix that JPEG needs (WebP and PNG hold it bare)."""
    return exif if exif.startswith(EXIF_PREFIX) else EXIF_PREFIX + exif


def tiff_with_exif(tiff: bytes, exif: bytes) -> bytes:
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
        parsed.load(prefixed(exif))
    except READ_ERRORS:
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
    for tag in (*_DESCRIPTIVE_TIFF_TAGS, ORIENTATION_TAG):
        if tag in parsed and tag not in old_entries:
            extra[tag] = parsed[tag]
    for pointer in (_EXIF_IFD_TAG, _GPS_IFD_TAG):
        with contextlib.suppress(*READ_ERRORS):
            sub_ifd = dict(parsed.get_ifd(pointer))
            if sub_ifd and pointer not in old_entries:
                extra[pointer] = sub_ifd
    if not len(extra):
        return tiff
    start = len(tiff) + len(tiff) % 2  # IFDs begin on a word boundary
    try:
        extra_bytes = extra.tobytes(start)
    except READ_ERRORS + (TypeError,):
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
