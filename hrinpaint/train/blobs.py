"""JPEG blobs in one ``.npz``: how the GPU pack stores its photos and cached fills.

A store is two arrays, ``data`` (every blob's bytes, one after the other) and ``offsets`` (where each starts, and
the end), so that a pack of a few hundred images is one compact file that ``np.load`` opens without unpickling.
Pixels are ``H x W x 3`` uint8 RGB.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["decode", "decode_at", "encode", "joined", "split"]


def encode(pixels: np.ndarray, quality: int) -> bytes:
    """``pixels`` as a JPEG of ``quality``."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def decode(data: np.ndarray) -> np.ndarray:
    """The pixels of one encoded blob (a uint8 array)."""
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def joined(blobs: list[bytes]) -> dict[str, np.ndarray]:
    """Encoded blobs as one byte array and their offsets, the arrays to save (what :func:`split` decodes)."""
    offsets = np.cumsum([0] + [len(blob) for blob in blobs]).astype(np.int64)
    return {"data": np.frombuffer(b"".join(blobs), np.uint8), "offsets": offsets}


def split(stored: Any) -> list[np.ndarray]:
    """Every image of a :func:`joined` store (an open ``.npz`` or the dict), decoded."""
    data, offsets = stored["data"], stored["offsets"]
    return [decode(data[start:stop]) for start, stop in zip(offsets[:-1], offsets[1:], strict=True)]


def decode_at(stored: Any, index: int) -> np.ndarray:
    """Image ``index`` of a :func:`joined` store, decoded alone."""
    start, stop = stored["offsets"][index : index + 2]
    return decode(stored["data"][start:stop])
