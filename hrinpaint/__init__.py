"""hrinpaint: fill masked regions of photos at any resolution.

Canonical data: image float32 ``H x W x 3`` RGB in [0, 1]; mask bool ``H x W``, True = hole. The public entry
points also take uint8/uint16 and float arrays, greyscale and RGBA (alpha passed through), and PIL images, and
give back the same kind.

Quick use::

    import hrinpaint
    result = hrinpaint.inpaint(image, mask)                      # numpy or PIL in, the same out
    inpainter = hrinpaint.Inpainter.from_method("pyramid", device="auto")   # reusable; networks stay loaded
    hrinpaint.methods()                                          # what is available, with each part's options

Importing this package imports no method and no heavy dependency (no torch); they load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Inpainter", "__version__", "inpaint", "methods"]

if TYPE_CHECKING:
    from hrinpaint.pipeline import Inpainter


def inpaint(
    image: Any,
    mask: Any,
    method: str | None = None,
    *,
    filler: dict[str, Any] | None = None,
    lifter: dict[str, Any] | None = None,
    device: str = "auto",
    half: bool = False,
    **options: Any,
) -> Any:
    """Fills the hole of ``image`` and returns a new image of the same kind; only hole pixels differ.

    For many images, build an :class:`Inpainter` once instead (a network then loads once).

    Args:
        image: a numpy array (``H x W x 3`` RGB, ``H x W`` greyscale, ``H x W x 4`` RGBA with alpha passed
            through; float32 in [0, 1] (canonical), uint8 or uint16) or a PIL image; the same kind comes back.
        mask: ``H x W`` array or PIL image, True (or non-zero) = hole.
        method: ``"filler+lifter"`` or an alias (``hrinpaint.methods()``); ``None`` = the measured default.
        filler, lifter: options of each part; device, half: where network parts run (see
            :meth:`Inpainter.from_method`).
        **options: :class:`hrinpaint.pipeline.PipelineOptions` fields (``working_size``, ``grow``, ...).
    """
    from hrinpaint.pipeline import Inpainter

    inpainter = Inpainter.from_method(method, filler, lifter, device=device, half=half, **options)
    return inpainter(image, mask)


def __getattr__(name: str) -> Any:
    # Lazy public names: ``hrinpaint.Inpainter`` imports the pipeline (OpenCV, numba) only when first used, and
    # ``hrinpaint.methods`` is the module hrinpaint.methods, which is callable (``hrinpaint.methods()``).
    if name == "Inpainter":
        from hrinpaint.pipeline import Inpainter

        return Inpainter
    if name == "methods":
        import hrinpaint.methods

        return hrinpaint.methods
    raise AttributeError(f"module 'hrinpaint' has no attribute {name!r}")
