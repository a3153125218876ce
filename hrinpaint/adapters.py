"""Meets callers where they are: numpy arrays of any channel layout and PIL images in, the same kind out.

The pipeline fills ``H x W x 3`` RGB. Around it, :func:`fill_any` takes

- numpy: ``H x W`` or ``H x W x 1`` greyscale, ``H x W x 2`` greyscale + alpha, ``H x W x 3`` RGB,
  ``H x W x 4`` RGBA; uint8, uint16 or float in [0, 1];
- PIL: ``RGB``, ``RGBA``, ``L``, ``LA``, 16-bit greyscale (``I;16``), and palette, bilevel or CMYK images
  (converted to RGB or RGBA, which is what comes back for them);

and returns the same kind, shape and dtype. Alpha is passed through untouched; a greyscale image is filled as RGB
with three equal channels and its hole brought back as their mean, so its known pixels stay bit-exact. A mask is a
numpy array or a PIL image under the rules of :func:`hrinpaint.io.mask_from_array` (non-zero = hole; a painted
layer with transparency: alpha > 0 = hole). A PIL image is used as stored: EXIF orientation is not applied
(``PIL.ImageOps.exif_transpose`` first, or read files with :func:`hrinpaint.io.read_image`, which applies it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from hrinpaint.errors import InputError
from hrinpaint.io import mask_from_array
from hrinpaint.io.write import grey_from_rgb

#: ``fill(rgb, mask, progress) -> rgb``: the pipeline on ``H x W x 3`` arrays.
RgbFill = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]

_PIL_AS_IS = {"RGB", "RGBA", "L", "LA", "I;16", "I;16L", "I;16B"}


def mask_array(mask: Any) -> np.ndarray:
    """A numpy or PIL mask as bool ``H x W`` (True = hole); other arrays pass through unchanged for the pipeline's
    own checks."""
    if isinstance(mask, Image.Image):
        if mask.mode in ("1", "P", "PA"):
            mask = mask.convert("RGBA" if mask.mode == "PA" or "transparency" in mask.info else "L")
        return mask_from_array(np.asarray(mask))
    if isinstance(mask, np.ndarray) and mask.ndim == 3:
        return mask_from_array(mask)
    return mask


def _pil_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _PIL_AS_IS:
        return np.asarray(image)
    if mode in ("I", "F"):
        raise InputError(f"PIL images of mode {mode!r} (32-bit) are not supported; convert to 'I;16' or 'RGB'")
    if mode == "PA" or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    if mode == "1":
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))


def _grey_back(filled: np.ndarray, rgb: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """The filled RGB image as greyscale: the channels' mean where the fill changed a pixel (the hole, grown if
    the pipeline grew it), the input elsewhere, bit-exact."""
    return np.where(np.any(filled != rgb, axis=2), grey_from_rgb(filled), grey)


def fill_array(fill: RgbFill, image: np.ndarray, mask: Any, progress: Any = None) -> np.ndarray:
    """Runs ``fill`` on any numpy layout (module notes); returns the same shape and dtype."""
    if image.ndim == 3 and image.shape[2] == 3:
        return fill(image, mask_array(mask), progress)
    if image.ndim == 2:
        colour, alpha = image, None
    elif image.ndim == 3 and image.shape[2] in (1, 2, 4):
        colour, alpha = (image[:, :, :-1], image[:, :, -1:]) if image.shape[2] in (2, 4) else (image, None)
    else:
        raise InputError(
            f"image must be H x W (grey) or H x W x C with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), "
            f"got shape {image.shape}"
        )
    grey = colour.shape[-1] == 1 if colour.ndim == 3 else True
    plane = colour.reshape(colour.shape[:2]) if grey else colour
    rgb = np.repeat(plane[:, :, None], 3, axis=2) if grey else np.ascontiguousarray(plane)
    filled = fill(rgb, mask_array(mask), progress)
    result = _grey_back(filled, rgb, plane) if grey else filled
    if colour.ndim == 3 and grey:
        result = result[:, :, None]
    return np.concatenate([result, alpha], axis=2) if alpha is not None else result


def fill_any(fill: RgbFill, image: Any, mask: Any, progress: Any = None) -> Any:
    """Runs ``fill`` on a numpy array or PIL image (module notes); returns the same kind."""
    if isinstance(image, Image.Image):
        result = fill_array(fill, _pil_array(image), mask, progress)
        filled = Image.fromarray(result)
        if image.info.get("icc_profile"):
            filled.info["icc_profile"] = image.info["icc_profile"]
        return filled
    if isinstance(image, np.ndarray):
        return fill_array(fill, image, mask, progress)
    raise InputError(f"image must be a numpy array or a PIL image, got {type(image).__name__}")
