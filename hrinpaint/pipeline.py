"""The pipeline: validate, split the hole into regions with context, fill each at a working size, paste back.

Only hole pixels of the output ever differ from the input. The image can stay in its integer dtype (uint8 or
uint16, as decoded): each region goes to the lifter as a view in that dtype, the lifter converts only what it
reads to the canonical float32 form and returns the fill of the hole's bounding box, whose hole pixels are
converted back and pasted. Known pixels are untouched by construction, and memory grows with the holes, not with
a float copy of the whole photo or of a region.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrinpaint.adapters import fill_any
from hrinpaint.bounds import DEFAULT_MAX_PIXELS, check_bounds
from hrinpaint.errors import InputError
from hrinpaint.extras import missing_extra
from hrinpaint.fillers import FILLERS, Filler
from hrinpaint.lifters import LIFTERS, Lifter
from hrinpaint.methods import resolve_method
from hrinpaint.ops.morphology import dilate
from hrinpaint.ops.regions import Box, bounding_box, hole_regions
from hrinpaint.ops.resize import downsample_mask, fit_long_side
from hrinpaint.pixels import float_to_dtype

#: ``progress(done, total)`` in regions.
ProgressCallback = Callable[[int, int], None]

_INTEGER_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
_FLOAT_SLACK = 1e-4
_PASTE_BAND_PIXELS = 1 << 18


@dataclass(frozen=True)
class PipelineOptions:
    """How the pipeline cuts and scales the work.

    Attributes:
        working_size: long side, in pixels, at which the filler works; regions larger than this are
            area-downsampled to it (aspect kept), smaller ones are filled at their own resolution.
        context: margin around each hole as a fraction of the hole box's long side.
        min_margin: smallest margin in full-resolution pixels.
        max_pixels: largest image accepted, in pixels.
        grow: pixels by which the hole is grown before filling (covers the halo and shadow fringe that a
            rough mask leaves around an object); those pixels then count as hole and may change.
    """

    working_size: int = 512
    context: float = 1.0
    min_margin: int = 32
    max_pixels: int = DEFAULT_MAX_PIXELS
    grow: int = 0

    def __post_init__(self) -> None:
        # every field is bounded (hrinpaint.bounds); ConfigError is a ValueError too
        check_bounds("pipeline", "", dataclasses.asdict(self))


@dataclass
class Inpainter:
    """A configured method: ``Inpainter(filler, lifter, options)(image, mask) -> image``.

    Build one with :meth:`from_method` and call it for as many images as needed: its networks stay loaded.
    ``device`` is where its networks run (``"cpu"``, ``"cuda"``, ...), None for a method without a network.
    """

    filler: Filler
    lifter: Lifter
    options: PipelineOptions = field(default_factory=PipelineOptions)
    name: str = "custom"
    device: str | None = None

    @classmethod
    def from_method(
        cls,
        method: str | None = None,
        filler: dict[str, Any] | None = None,
        lifter: dict[str, Any] | None = None,
        *,
        device: str = "auto",
        half: bool = False,
        threads: int = 0,
        **options: Any,
    ) -> Inpainter:
        """Builds the named method with per-part options.

        Args:
            method: ``"filler+lifter"``, a bare filler or an alias (``hrinpaint.methods()``); None = the default.
            filler, lifter: options of each part (``hrinpaint.methods()`` lists them), e.g. ``{"weights": ...}``.
            device: where network parts run: ``"auto"`` (CUDA, then MPS, then the CPU), ``"cpu"``, ``"cuda"``,
                ``"mps"``; ignored by parts without a network. A part's own ``device`` option wins.
            half: float16 for network parts on a GPU (never on the CPU); ``refine`` keeps its filler in float32
                (it optimises the network's features).
            threads: torch CPU threads for network parts during a call, put back afterwards (0: torch's setting).
            **options: :class:`PipelineOptions` fields (``working_size``, ``context``, ``grow``, ...).

        Raises:
            UnknownNameError: an unknown method; InpaintError: an unknown or invalid option, a device this machine
                lacks; MissingExtraError: the method needs an extra that is not installed (``hrinpaint[nn]``).
        """
        filler = _legacy_config(filler, options, "filler_config")
        lifter = _legacy_config(lifter, options, "lifter_config")
        spec = resolve_method(method)
        pipeline_options = PipelineOptions(**options)
        try:
            filler_class, lifter_class = FILLERS.get(spec.filler), LIFTERS.get(spec.lifter)
            network = _takes(filler_class, "device") or _takes(lifter_class, "device")
            resolved = None
            if network:
                from hrinpaint.device import resolve_device

                resolved = str(resolve_device(device))
            shared = {"device": resolved, "threads": threads}
            filler_half = half and not getattr(lifter_class, "float32_filler", False)
            filler_part = FILLERS.build(spec.filler, **_shared(filler_class, filler, {**shared, "half": filler_half}))
            lifter_part = LIFTERS.build(spec.lifter, **_shared(lifter_class, lifter, {**shared, "half": half}))
        except ImportError as error:
            raised = missing_extra(error, f"method {spec.name}")
            if raised is None:
                raise
            raise raised from None
        return cls(filler_part, lifter_part, pipeline_options, spec.name, resolved)

    def regions(self, mask: np.ndarray) -> list[Box]:
        """The regions of interest that this pipeline fills for ``mask``."""
        return hole_regions(mask, self.options.context, self.options.min_margin)

    def working_mask(self, mask: np.ndarray) -> np.ndarray:
        """A region's mask at its working size: the configured long side, doubled while the downsampled mask would
        leave no known pixel (a thin frame of context around a huge hole); ``mask`` itself at native size."""
        long_side = self.options.working_size
        while True:
            shape = fit_long_side(mask.shape, long_side)
            if shape == mask.shape:
                return mask
            working = downsample_mask(mask, shape)
            if not working.all():
                return working
            long_side *= 2

    def __call__(self, image: Any, mask: Any, progress: ProgressCallback | None = None) -> Any:
        """Returns a new image of the same kind, shape and dtype as ``image``, with the hole filled.

        Args:
            image: a numpy array (``H x W x 3`` RGB, ``H x W`` or ``H x W x 1`` greyscale, ``H x W x 2`` or
                ``H x W x 4`` with alpha; float32/float64 in [0, 1], uint8 or uint16) or a PIL image; alpha is
                passed through untouched (:mod:`hrinpaint.adapters`).
            mask: ``H x W`` array or PIL image; True or non-zero = hole.
            progress: called as ``progress(done, total)`` after each region.

        Raises:
            InputError: wrong shapes or dtypes, values out of range, too many pixels, or a mask with no known
                pixel to draw context from.
        """
        return fill_any(self.fill_rgb, image, mask, progress)

    def fill_rgb(self, image: np.ndarray, mask: np.ndarray, progress: ProgressCallback | None = None) -> np.ndarray:
        """:meth:`__call__` on the pipeline's own form: ``image`` ``H x W x 3`` RGB, ``mask`` ``H x W``."""
        mask = validate(image, mask, self.options.max_pixels)
        if self.options.grow:
            mask = dilate(mask, self.options.grow)
            if mask.all():
                raise InputError(f"the mask grown by {self.options.grow} px covers the whole image")
        result = image.copy()
        if not mask.any():
            return result
        regions = self.regions(mask)
        for done, box in enumerate(regions, start=1):
            region_mask = mask[box.slices]
            # The region goes to the lifter as stored (a view, no float copy) and only the hole's bounding box
            # comes back: at 8K, float copies of whole regions cost more time in fresh memory than the lifting.
            hole = bounding_box(region_mask)
            assert hole is not None  # every region holds a hole
            filled = self.lifter.run(image[box.slices], region_mask, self.filler, self.working_mask(region_mask), hole)
            if filled.shape != (*hole.shape, 3):
                raise RuntimeError(f"{self.name} returned {filled.shape} for a hole box of {hole.shape}")
            _paste(result[box.slices][hole.slices], filled, region_mask[hole.slices])
            if progress is not None:
                progress(done, len(regions))
        return result


def _takes(part: Any, option: str) -> bool:
    """Whether a filler or lifter class has ``option`` in its typed config."""
    config = getattr(part, "Config", None)
    return config is not None and dataclasses.is_dataclass(config) and option in config.__dataclass_fields__


def _shared(part: Any, given: dict[str, Any] | None, shared: dict[str, Any]) -> dict[str, Any]:
    """A part's options: ``given``, plus each shared setting the part takes and ``given`` leaves open (a None or
    zero shared value leaves the part's default)."""
    config = dict(given or {})
    for option, value in shared.items():
        if value and option not in config and _takes(part, option):
            config[option] = value
    return config


def _legacy_config(value: dict[str, Any] | None, options: dict[str, Any], old: str) -> dict[str, Any] | None:
    """Accepts the old keyword (``filler_config=``, ``lifter_config=``) for one release, with a warning."""
    if old not in options:
        return value
    warnings.warn(f"from_method({old}=...) is now {old.split('_')[0]}=...", DeprecationWarning, stacklevel=3)
    return options.pop(old) if value is None else value


def validate(image: np.ndarray, mask: np.ndarray, max_pixels: int) -> np.ndarray:
    """Checks an image and mask pair at the public entry point; returns the mask as bool."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise InputError(f"image must be an H x W x 3 RGB array, got shape {shape}")
    if image.dtype not in (np.float32, np.float64) and image.dtype not in _INTEGER_DTYPES:
        raise InputError(f"image dtype must be float32/float64 in [0, 1], uint8 or uint16, got {image.dtype}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InputError(
            f"image is {image.shape[1]}x{image.shape[0]} = {image.shape[0] * image.shape[1]:,} pixels, "
            f"over the limit of {max_pixels:,}"
        )
    if image.dtype.kind == "f":
        low, high = float(np.min(image)), float(np.max(image))
        # a little slack for rounding (area averaging of 1.0 can give 1.0000001); fills are clipped anyway
        if not (-_FLOAT_SLACK <= low and high <= 1.0 + _FLOAT_SLACK):  # also catches NaN
            raise InputError(f"float image values must be in [0, 1], got [{low}, {high}]")
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise InputError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    mask = mask.astype(bool) if mask.dtype != bool else mask
    if mask.all():
        raise InputError("the mask covers the whole image: there is no known pixel to draw context from")
    return mask


def _paste(target: np.ndarray, filled: np.ndarray, hole: np.ndarray) -> None:
    """Writes ``filled`` into ``target`` where ``hole`` is True, converted to ``target``'s dtype.

    Band by band: the conversion's temporaries are then a few megabytes reused, not fresh memory the size of
    the hole's box (which on the reference machine costs about as much as the conversion itself).
    """
    band_rows = max(1, _PASTE_BAND_PIXELS // max(1, target.shape[1]))
    for top in range(0, target.shape[0], band_rows):
        rows = slice(top, top + band_rows)
        np.copyto(target[rows], float_to_dtype(filled[rows], target.dtype), where=hole[rows, :, None])
