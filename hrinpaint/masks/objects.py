"""Object-shaped holes: silhouettes of real removals, flipped, scaled and placed at random.

What users remove is an object (a person, a sign, a car), not a brush stroke. The silhouettes are the largest
connected component of each hand-drawn mask in the HiFill sample set (``real-masks/masks_hole255``), stored as
outlines in ``silhouettes.json`` (built by ``scripts/make_silhouettes.py``). A draw first picks a *spec*, which
does not depend on the image size: which silhouette, whether it is mirrored left-right, the fraction of the image
it covers (3-15 %) and where it sits (its box's position as fractions of the free room). The spec is then
rasterised at the requested size, so one seed gives the same hole at 2048 px and at 4096 px.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from hrinpaint.errors import InpaintError


@dataclass(frozen=True)
class Silhouette:
    """One outline: ``points`` (N x 2, x and y in [0, 1] of its bounding box), the box's width over height and
    the fraction of the box the silhouette fills."""

    name: str
    aspect: float
    fill: float
    points: np.ndarray


@functools.cache
def silhouettes() -> tuple[Silhouette, ...]:
    """The shipped silhouettes, in file order."""
    data = json.loads(resources.files("hrinpaint.masks").joinpath("silhouettes.json").read_text())
    return tuple(
        Silhouette(item["name"], float(item["aspect"]), float(item["fill"]), np.asarray(item["points"], np.float64))
        for item in data["silhouettes"]
    )


@dataclass(frozen=True)
class ObjectSpec:
    """A size-free object hole: silhouette index, mirror, covered fraction of the image, box position (0..1)."""

    index: int
    mirrored: bool
    area: float
    x: float
    y: float


@dataclass(frozen=True)
class ObjectMask:
    """Object holes covering ``min_area`` to ``max_area`` of the image (uniform), mirrored with probability
    ``flip_probability``.

    Attributes:
        min_area: smallest covered fraction of the image.
        max_area: largest covered fraction of the image.
        flip_probability: chance of a left-right mirror.
    """

    min_area: float = 0.03
    max_area: float = 0.15
    flip_probability: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.min_area <= self.max_area < 1 or not 0 <= self.flip_probability <= 1:
            raise InpaintError("ObjectMask needs 0 < min_area <= max_area < 1 and 0 <= flip_probability <= 1")

    def scaled(self, factor: float) -> ObjectMask:
        """Covered fractions multiplied by ``factor`` squared (a length factor), capped below the whole image."""
        area = factor * factor
        return ObjectMask(min(self.min_area * area, 0.9), min(self.max_area * area, 0.9), self.flip_probability)

    def spec(self, rng: np.random.Generator) -> ObjectSpec:
        """Draws the size-free part of a hole."""
        index = int(rng.integers(len(silhouettes())))
        mirrored = bool(rng.random() < self.flip_probability)
        area = float(rng.uniform(self.min_area, self.max_area))
        return ObjectSpec(index, mirrored, area, float(rng.random()), float(rng.random()))


def rasterise(spec: ObjectSpec, shape: tuple[int, int]) -> np.ndarray:
    """The hole of ``spec`` at ``shape`` = ``(H, W)``: bool, True = hole, never empty.

    The box is sized so that the silhouette covers ``spec.area`` of the image, shrunk if it would not fit, and
    placed at ``spec.x``, ``spec.y`` of the room left around it.
    """
    import cv2

    height, width = shape
    shape_ = silhouettes()[spec.index]
    box_height = math.sqrt(spec.area * height * width / (shape_.fill * shape_.aspect))
    box_width = box_height * shape_.aspect
    shrink = min(1.0, width / box_width, height / box_height)
    box_width, box_height = box_width * shrink, box_height * shrink
    left = spec.x * (width - box_width)
    top = spec.y * (height - box_height)
    points = shape_.points.copy()
    if spec.mirrored:
        points[:, 0] = 1.0 - points[:, 0]
    # Pixel centres sit at integer coordinates; fillPoly's fixed-point shift keeps sub-pixel precision.
    scale = 16
    corners = points * [box_width, box_height] + [left, top] - 0.5
    polygon = np.round(corners * scale).astype(np.int32)[None]
    hole = np.zeros(shape, np.uint8)
    cv2.fillPoly(hole, polygon, 1, lineType=cv2.LINE_8, shift=4)
    if not hole.any():
        hole[min(int(top + box_height / 2), height - 1), min(int(left + box_width / 2), width - 1)] = 1
    return hole.astype(bool)


def object_mask(shape: tuple[int, int], rng: np.random.Generator, config: ObjectMask) -> np.ndarray:
    """Draws one object hole (see :class:`ObjectMask`). Returns bool ``H x W``, True = hole."""
    return rasterise(config.spec(rng), shape)
