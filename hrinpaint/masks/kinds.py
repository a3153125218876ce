"""The named mask kinds: LaMa thin / medium / thick, DeepFill v2, centre square and large box.

A kind is a :class:`MaskGenerator`: a pure draw function bound to a frozen config. The presets below carry
the published parameters; training code builds variants with keyword overrides
(``MASKS.build("thick", box_weight=0)``), ``dataclasses.replace`` or :meth:`MaskGenerator.scaled`. The
factories at the end are what :data:`hrinpaint.masks.MASKS` registers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from hrinpaint.bounds import check_known
from hrinpaint.errors import InpaintError, InputError
from hrinpaint.masks.boxes import CenterSquare, LargeBox, RandomBoxes, center_square, large_box, random_boxes
from hrinpaint.masks.objects import ObjectMask, object_mask
from hrinpaint.masks.strokes import BrushStrokes, LamaStrokes, brush_strokes, lama_strokes


class ScalableConfig(Protocol):
    def scaled(self, factor: float) -> Any: ...


ConfigT = TypeVar("ConfigT", bound=ScalableConfig)


def redraw_until_small(draw: Callable[[], np.ndarray], max_hole_fraction: float, max_tries: int) -> np.ndarray:
    """Calls ``draw`` until its hole is non-empty and covers at most ``max_hole_fraction`` of the image.

    LaMa drops generated masks over half the image; rejection keeps the shape distribution of the rest
    intact. After ``max_tries`` draws the smallest non-empty one is kept, so the call always ends.
    """
    fallback: np.ndarray | None = None
    fallback_size = math.inf
    for _ in range(max_tries):
        hole = draw()
        covered = np.count_nonzero(hole)
        if 0 < covered <= max_hole_fraction * hole.size:
            return hole
        size = covered or math.inf  # an empty hole is the worst fallback of all
        if fallback is None or size < fallback_size:
            fallback, fallback_size = hole, size
    if fallback is None:
        raise InpaintError(f"max_tries must be at least 1, got {max_tries}")
    return fallback


@dataclass(frozen=True)
class LamaMask:
    """One LaMa evaluation mask kind: irregular strokes or, sometimes, random boxes; at most half the image.

    LaMa's ``MixedMaskGenerator`` picks one generator per mask with probabilities proportional to their
    weights (``irregular_proba: 1``, ``box_proba: 0.3`` in its medium/thick configs), so a mask is boxes with
    probability ``box_weight / (1 + box_weight)`` (about 0.23) and strokes otherwise: the boxes replace the
    strokes, they are not added to them.

    Attributes:
        strokes: the irregular strokes.
        boxes: the random boxes, or None for strokes only.
        box_weight: LaMa's ``box_proba`` against a stroke weight of 1.
        max_hole_fraction: masks covering more of the image are redrawn (LaMa ``max_tamper_area``).
        max_tries: draws before giving up and keeping the smallest.
    """

    strokes: LamaStrokes
    boxes: RandomBoxes | None = None
    box_weight: float = 0.0
    max_hole_fraction: float = 0.5
    max_tries: int = 20

    def __post_init__(self) -> None:
        if self.box_weight < 0 or not 0 < self.max_hole_fraction <= 1 or self.max_tries < 1:
            raise InpaintError("LamaMask needs box_weight >= 0, 0 < max_hole_fraction <= 1, max_tries >= 1")

    def scaled(self, factor: float) -> LamaMask:
        """Strokes and boxes with every size multiplied by ``factor``."""
        boxes = self.boxes.scaled(factor) if self.boxes is not None else None
        return replace(self, strokes=self.strokes.scaled(factor), boxes=boxes)


def lama_mask(shape: tuple[int, int], rng: np.random.Generator, config: LamaMask) -> np.ndarray:
    """Draws one LaMa mask (see :class:`LamaMask`). Returns bool ``H x W``, True = hole."""
    boxes = config.boxes
    box_probability = config.box_weight / (1 + config.box_weight)

    def draw() -> np.ndarray:
        if boxes is not None and rng.random() < box_probability:
            return random_boxes(shape, rng, boxes)
        return lama_strokes(shape, rng, config.strokes)

    return redraw_until_small(draw, config.max_hole_fraction, config.max_tries)


@dataclass(frozen=True)
class DeepFillMask:
    """DeepFill v2 training holes: free-form brush strokes or one random box.

    DeepFill v2's own training code takes the union of a box and strokes; here a mask is one or the other
    (the box with ``box_probability``), so each hole has one clear shape. The box is DeepFill's 128 px square
    at 256 px with every side shrunk by up to ``max_delta = 32`` px, that is sides of 96..128 reference px.

    Attributes:
        strokes: the brush strokes.
        box: the random box.
        box_probability: chance that a mask is the box rather than strokes.
        max_hole_fraction: masks covering more of the image are redrawn.
        max_tries: draws before giving up and keeping the smallest.
    """

    strokes: BrushStrokes = field(default_factory=BrushStrokes)
    box: RandomBoxes = field(default_factory=lambda: RandomBoxes(1, 1, min_size=96, max_size=128, reference_size=256))
    box_probability: float = 0.5
    max_hole_fraction: float = 0.5
    max_tries: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.box_probability <= 1 or not 0 < self.max_hole_fraction <= 1 or self.max_tries < 1:
            raise InpaintError(
                "DeepFillMask needs 0 <= box_probability <= 1, 0 < max_hole_fraction <= 1, max_tries >= 1"
            )

    def scaled(self, factor: float) -> DeepFillMask:
        """Strokes and box with every size multiplied by ``factor``."""
        return replace(self, strokes=self.strokes.scaled(factor), box=self.box.scaled(factor))


def deepfill_mask(shape: tuple[int, int], rng: np.random.Generator, config: DeepFillMask) -> np.ndarray:
    """Draws one DeepFill v2 mask (see :class:`DeepFillMask`). Returns bool ``H x W``, True = hole."""

    def draw() -> np.ndarray:
        if rng.random() < config.box_probability:
            return random_boxes(shape, rng, config.box)
        return brush_strokes(shape, rng, config.strokes)

    return redraw_until_small(draw, config.max_hole_fraction, config.max_tries)


# LaMa's evaluation parameters at 512 px (configs/data_gen/random_{thin,medium,thick}_512.yaml).
THIN = LamaMask(strokes=LamaStrokes(min_strokes=4, max_strokes=70, max_length=100, max_width=20))
MEDIUM = LamaMask(
    strokes=LamaStrokes(min_strokes=4, max_strokes=10, max_length=200, max_width=100),
    boxes=RandomBoxes(min_boxes=1, max_boxes=5, min_size=30, max_size=150, margin=0),
    box_weight=0.3,
)
THICK = LamaMask(
    strokes=LamaStrokes(min_strokes=1, max_strokes=5, max_length=450, max_width=250),
    boxes=RandomBoxes(min_boxes=1, max_boxes=4, min_size=30, max_size=300, margin=10),
    box_weight=0.3,
)
DEEPFILL = DeepFillMask()
CENTER = CenterSquare()
BOX = LargeBox()
OBJECT = ObjectMask()


@dataclass(frozen=True)
class MaskGenerator(Generic[ConfigT]):
    """A pure draw function bound to its config: ``generator(shape, rng) -> bool H x W``.

    Attributes:
        draw: ``(shape, rng, config) -> bool H x W``.
        config: the frozen parameters.
    """

    draw: Callable[[tuple[int, int], np.random.Generator, ConfigT], np.ndarray]
    config: ConfigT

    def __call__(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Draws one mask of ``shape`` = ``(H, W)`` from ``rng``. Returns bool ``H x W``, True = hole."""
        return self.draw(check_shape(shape), rng, self.config)

    def scaled(self, factor: float) -> MaskGenerator[ConfigT]:
        """The same kind with every stroke width, length and box side multiplied by ``factor``."""
        return MaskGenerator(self.draw, self.config.scaled(factor))


def check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Returns ``shape`` as two Python ints; :class:`InputError` unless it is two positive integers."""
    if len(shape) != 2 or not all(isinstance(side, (int, np.integer)) and side > 0 for side in shape):
        raise InputError(f"mask shape must be two positive integers (H, W), got {shape!r}")
    return int(shape[0]), int(shape[1])


def _with(preset: ConfigT, overrides: dict[str, Any]) -> ConfigT:
    allowed = [option.name for option in dataclasses.fields(preset)]  # type: ignore[arg-type]
    check_known(overrides, allowed, "mask", InpaintError)
    return replace(preset, **overrides)  # type: ignore[type-var]


def thin(**overrides: Any) -> MaskGenerator[LamaMask]:
    """LaMa thin strokes; ``overrides`` replace fields of :data:`THIN`."""
    return MaskGenerator(lama_mask, _with(THIN, overrides))


def medium(**overrides: Any) -> MaskGenerator[LamaMask]:
    """LaMa medium strokes or boxes; ``overrides`` replace fields of :data:`MEDIUM`."""
    return MaskGenerator(lama_mask, _with(MEDIUM, overrides))


def thick(**overrides: Any) -> MaskGenerator[LamaMask]:
    """LaMa thick strokes or boxes; ``overrides`` replace fields of :data:`THICK`."""
    return MaskGenerator(lama_mask, _with(THICK, overrides))


def deepfill(**overrides: Any) -> MaskGenerator[DeepFillMask]:
    """DeepFill v2 brush strokes or a box; ``overrides`` replace fields of :data:`DEEPFILL`."""
    return MaskGenerator(deepfill_mask, _with(DEEPFILL, overrides))


def center(**overrides: Any) -> MaskGenerator[CenterSquare]:
    """The centred square; ``overrides`` replace fields of :data:`CENTER`."""
    return MaskGenerator(center_square, _with(CENTER, overrides))


def box(**overrides: Any) -> MaskGenerator[LargeBox]:
    """One large box; ``overrides`` replace fields of :data:`BOX`."""
    return MaskGenerator(large_box, _with(BOX, overrides))


def object_(**overrides: Any) -> MaskGenerator[ObjectMask]:
    """A real object's silhouette, mirrored, scaled and placed at random; ``overrides`` replace fields of
    :data:`OBJECT`."""
    return MaskGenerator(object_mask, _with(OBJECT, overrides))
