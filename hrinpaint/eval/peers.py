"""Peer methods that the benchmark runs beside the project's own: classical inpainting at full resolution.

Each peer is ``fn(image, mask) -> image`` on canonical arrays (float32 RGB [0, 1], bool mask, True = hole), and
is listed in :data:`PEERS`. OpenCV's functions take 8-bit input, so the peer quantises on the way in; that is
part of what the peer is.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

PeerFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _to_bytes(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def opencv_telea(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV Telea at full resolution, radius 5."""
    return cv2.inpaint(_to_bytes(image), mask.astype(np.uint8), 5, cv2.INPAINT_TELEA).astype(np.float32) / 255.0


def opencv_ns(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV Navier-Stokes at full resolution, radius 5."""
    return cv2.inpaint(_to_bytes(image), mask.astype(np.uint8), 5, cv2.INPAINT_NS).astype(np.float32) / 255.0


def _xphoto(image: np.ndarray, mask: np.ndarray, algorithm: int, lab: bool) -> np.ndarray:
    source = _to_bytes(image)
    if lab:  # ShiftMap expects intensity in the first channel (its documentation asks for CIELab or similar)
        source = cv2.cvtColor(source, cv2.COLOR_RGB2Lab)
    valid = np.where(mask, 0, 255).astype(np.uint8)  # xphoto's mask marks the *valid* pixels
    result = np.zeros_like(source)
    cv2.xphoto.inpaint(source, valid, result, algorithm)
    if lab:
        result = cv2.cvtColor(result, cv2.COLOR_Lab2RGB)
    return result.astype(np.float32) / 255.0


def fsr_fast(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Frequency-selective reconstruction (Genser et al.), OpenCV contrib's fast variant."""
    return _xphoto(image, mask, cv2.xphoto.INPAINT_FSR_FAST, lab=False)


def shiftmap(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift-map inpainting (Pritch et al.; He and Sun's statistics of patch offsets), OpenCV contrib."""
    return _xphoto(image, mask, cv2.xphoto.INPAINT_SHIFTMAP, lab=True)


PEERS: dict[str, PeerFn] = {
    "opencv-telea": opencv_telea,
    "opencv-ns": opencv_ns,
    "fsr-fast": fsr_fast,
    "shiftmap": shiftmap,
}
