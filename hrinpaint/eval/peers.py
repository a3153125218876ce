"""Peer methods that the benchmark runs beside the project's own: classical inpainting at full resolution.

Each peer is ``fn(image, mask) -> image`` on canonical arrays (float32 RGB [0, 1], bool mask, True = hole), and
is listed in :data:`PEERS`. OpenCV's functions take 8-bit input, so the peer quantises on the way in; that is
part of what the peer is.

The PatchMatch peers come from optional packages (the ``bench`` extra) and are imported when called, not when
this module is; a missing package makes the call raise :class:`~hrinpaint.errors.InputError`, which the benchmark
records as an error row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import cv2
import numpy as np

from hrinpaint.errors import InputError
from hrinpaint.pixels import from_float

PeerFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _to_bytes(image: np.ndarray) -> np.ndarray:
    return from_float(image, np.uint8)


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


def _optional(peer: str, module: str, package: str) -> ModuleType:
    """Imports ``module`` of the optional ``package``, or says in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f'peer {peer!r} needs the package {package!r} (pip install -e ".[bench]")') from None


def pypatchmatch(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """PatchMatch of the ``pypatchmatch`` package (the PyPatchMatch C++ library that IOPaint uses), seed 0.

    Its ``patch_size`` is a radius and defaults to 15 (31 x 31 patches, very slow at full resolution); the peer
    uses 3 (7 x 7 patches), as the package's examples and its usual callers do. The library takes 8-bit RGB and
    a mask that is non-zero in the hole.
    """
    library = _optional("pypatchmatch", "patchmatch", "pypatchmatch")
    if not library.patchmatch_available:  # the package imports without its native library and only logs it
        raise InputError("peer 'pypatchmatch' found the package 'pypatchmatch' but not its native library")
    library.set_random_seed(0)
    filled = library.inpaint(_to_bytes(image), mask.astype(np.uint8), patch_size=3)
    return filled.astype(np.float32) / 255.0


def patchmatch_cython(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Coarse-to-fine PatchMatch of the ``patchmatch-cython`` package with its defaults, seed 0.

    The defaults are 5 x 5 patches and a blended seam (known pixels are kept). The package accepts float images
    but rounds its result to uint8 on a 0-255 scale, so a [0, 1] image would come back as zeros and ones; the
    peer hands it 8-bit RGB. Its mask is True (non-zero) in the hole.
    """
    library = _optional("patchmatch-cython", "patchmatch_cython", "patchmatch-cython")
    filled = library.inpaint_pyramid(_to_bytes(image), mask, seed=0)
    return filled.astype(np.float32) / 255.0


PEERS: dict[str, PeerFn] = {
    "opencv-telea": opencv_telea,
    "opencv-ns": opencv_ns,
    "fsr-fast": fsr_fast,
    "shiftmap": shiftmap,
    "pypatchmatch": pypatchmatch,
    "patchmatch-cython": patchmatch_cython,
}

#: Peers run when none are named: the OpenCV ones, always installed. The PyPI PatchMatch peers are opt-in.
DEFAULT_PEERS: tuple[str, ...] = ("opencv-telea", "opencv-ns", "fsr-fast", "shiftmap")
