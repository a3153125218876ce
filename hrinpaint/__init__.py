"""hrinpaint: fill masked regions of photos at any resolution.

Canonical data: image float32 ``H x W x 3`` RGB in [0, 1]; mask bool ``H x W``, True = hole.

Quick use::

    import hrinpaint
    result = hrinpaint.inpaint(image, mask)  # or method="telea+cra", ...

Importing this package imports no method and no heavy dependency; they load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "inpaint"]

if TYPE_CHECKING:
    import numpy as np


def inpaint(image: np.ndarray, mask: np.ndarray, method: str | None = None, **options: Any) -> np.ndarray:
    """Fills the hole of ``image`` and returns a new image; only hole pixels differ from the input.

    Args:
        image: ``H x W x 3`` RGB, float32 in [0, 1] (canonical) or uint8 / uint16 (the same dtype comes back).
        mask: ``H x W``, True (or non-zero) = hole.
        method: ``"filler+lifter"`` or an alias (see ``hrinpaint methods``); ``None`` = the measured default.
        **options: :class:`hrinpaint.pipeline.PipelineOptions` fields (``working_size``, ``context``, ...).
    """
    from hrinpaint.pipeline import Inpainter

    return Inpainter.from_method(method, **options)(image, mask)
