"""Free-form stroke holes: LaMa's irregular polylines and DeepFill v2's brush strokes.

Each generator is a frozen config of sizes at a reference resolution plus a pure function
``(shape, rng, config) -> bool H x W``. Sizes are multiplied by ``min(H, W) / reference_size`` and every
random position is drawn as a fraction of the image, so one seed gives the same picture at any resolution,
only enlarged. Counts (strokes, vertices) are not scaled: a bigger photo gets the same strokes, not more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from hrinpaint.errors import InpaintError

# cv2 drawing takes integer coordinates; with this many fractional bits the sub-pixel position survives, which
# keeps small renderings (256 px) faithful to large ones.
_SHIFT = 4
_ONE = 1 << _SHIFT


def _fixed(x: float, y: float) -> tuple[int, int]:
    return round(x * _ONE), round(y * _ONE)


def _thickness(width: float) -> int:
    """The cv2 thickness whose line is closest to ``width`` pixels wide.

    A cv2 line of thickness ``t >= 2`` comes out ``2 * (t // 2) + 1`` pixels wide, so asking for
    ``round(width)`` would add about a pixel to every stroke: noise at 4000 px, but a 10 to 30% area bias for
    thin strokes at 256 px. Rounding to the nearest odd width keeps the area the same at every resolution. A
    stroke under a pixel still makes a one-pixel hole.
    """
    return max(1, 2 * round((width - 1) / 2))


@dataclass(frozen=True)
class LamaStrokes:
    """LaMa's irregular polyline strokes (``make_random_irregular_mask``), sizes in reference pixels.

    Kept in LaMa's own parametrisation so the numbers read like its configs: a stroke has
    ``1..max_segments`` segments; a segment's length is ``min_length + U(0, max_length)`` and its width
    ``min_width + U(0, max_width)``.

    Attributes:
        min_strokes: fewest strokes (LaMa ``min_times``).
        max_strokes: most strokes, inclusive (LaMa ``max_times``).
        max_segments: most segments per stroke, inclusive (LaMa: ``1 + randint(5)``, so 5).
        max_angle: segment angles are ``0.01 + randint(max_angle)`` radians, mirrored on even strokes.
        max_length: random part of a segment's length, reference pixels.
        max_width: random part of a segment's width, reference pixels.
        min_length: fixed part of a segment's length (LaMa adds 10).
        min_width: fixed part of a segment's width (LaMa adds 5).
        reference_size: short side, in pixels, at which the sizes above hold.
    """

    min_strokes: int
    max_strokes: int
    max_length: float
    max_width: float
    max_segments: int = 5
    max_angle: int = 4
    min_length: float = 10.0
    min_width: float = 5.0
    reference_size: int = 512

    def __post_init__(self) -> None:
        if not 0 <= self.min_strokes <= self.max_strokes or self.max_strokes < 1:
            raise InpaintError(f"stroke counts need 0 <= min <= max >= 1, got {self.min_strokes}..{self.max_strokes}")
        if self.max_segments < 1 or self.max_angle < 1:
            raise InpaintError("max_segments and max_angle must be at least 1")
        if min(self.max_length, self.max_width, self.min_length, self.min_width) < 0:
            raise InpaintError("stroke lengths and widths must be non-negative")
        if self.reference_size < 1:
            raise InpaintError(f"reference_size must be positive, got {self.reference_size}")

    def scaled(self, factor: float) -> LamaStrokes:
        """The same strokes with every length and width multiplied by ``factor`` (counts unchanged)."""
        return replace(
            self,
            max_length=self.max_length * factor,
            max_width=self.max_width * factor,
            min_length=self.min_length * factor,
            min_width=self.min_width * factor,
        )


def lama_strokes(shape: tuple[int, int], rng: np.random.Generator, config: LamaStrokes) -> np.ndarray:
    """Draws LaMa irregular strokes.

    Args:
        shape: ``(H, W)`` of the mask.
        rng: the only source of randomness.
        config: stroke parameters at the reference resolution.

    Returns:
        bool ``H x W``, True = hole.
    """
    height, width = shape
    scale = min(height, width) / config.reference_size
    canvas = np.zeros((height, width), np.uint8)
    strokes = int(rng.integers(config.min_strokes, config.max_strokes, endpoint=True))
    for stroke in range(strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        for _ in range(int(rng.integers(1, config.max_segments, endpoint=True))):
            angle = 0.01 + int(rng.integers(config.max_angle))
            # LaMa mirrors the angle on every other stroke so strokes do not all lean the same way.
            if stroke % 2 == 0:
                angle = 2 * math.pi - angle
            length = scale * (config.min_length + rng.uniform(0, config.max_length))
            brush = scale * (config.min_width + rng.uniform(0, config.max_width))
            end_x = min(max(x + length * math.sin(angle), 0.0), width)
            end_y = min(max(y + length * math.cos(angle), 0.0), height)
            cv2.line(canvas, _fixed(x, y), _fixed(end_x, end_y), 1, _thickness(brush), cv2.LINE_8, _SHIFT)
            x, y = end_x, end_y
    return canvas.astype(bool)


@dataclass(frozen=True)
class BrushStrokes:
    """DeepFill v2's free-form brush strokes (``brush_stroke_mask``), widths in pixels at ``reference_size``.

    Each stroke is a polyline of ``min_vertices..max_vertices`` segments whose directions zig-zag around
    ``mean_angle``; segment lengths are normal around ``radius_fraction`` of the image diagonal; round joints.

    Attributes:
        min_strokes: fewest strokes.
        max_strokes: most strokes, inclusive (DeepFill v2: 1..3).
        min_vertices: fewest segments per stroke.
        max_vertices: most segments per stroke, inclusive (DeepFill v2: 4..11).
        mean_angle: mean turning angle, radians.
        angle_range: per-stroke jitter of the angle limits, radians.
        min_width: thinnest brush, reference pixels.
        max_width: thickest brush, reference pixels.
        radius_fraction: mean segment length as a fraction of the image diagonal (already resolution-free).
        reference_size: short side, in pixels, at which the widths hold (DeepFill v2 trained at 256).
    """

    min_strokes: int = 1
    max_strokes: int = 3
    min_vertices: int = 4
    max_vertices: int = 11
    mean_angle: float = 2 * math.pi / 5
    angle_range: float = 2 * math.pi / 15
    min_width: float = 12.0
    max_width: float = 40.0
    radius_fraction: float = 1 / 8
    reference_size: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.min_strokes <= self.max_strokes or not 1 <= self.min_vertices <= self.max_vertices:
            raise InpaintError("brush stroke and vertex counts need 1 <= min <= max")
        if not 0 <= self.min_width <= self.max_width or self.radius_fraction < 0 or self.reference_size < 1:
            raise InpaintError("brush widths need 0 <= min <= max, radius_fraction >= 0, reference_size > 0")

    def scaled(self, factor: float) -> BrushStrokes:
        """The same strokes with widths and segment lengths multiplied by ``factor`` (counts unchanged)."""
        return replace(
            self,
            min_width=self.min_width * factor,
            max_width=self.max_width * factor,
            radius_fraction=self.radius_fraction * factor,
        )


def brush_strokes(shape: tuple[int, int], rng: np.random.Generator, config: BrushStrokes) -> np.ndarray:
    """Draws DeepFill v2 brush strokes.

    Args:
        shape: ``(H, W)`` of the mask.
        rng: the only source of randomness.
        config: brush parameters at the reference resolution.

    Returns:
        bool ``H x W``, True = hole.
    """
    height, width = shape
    scale = min(height, width) / config.reference_size
    radius = config.radius_fraction * math.hypot(height, width)
    canvas = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(config.min_strokes, config.max_strokes, endpoint=True))):
        vertices = int(rng.integers(config.min_vertices, config.max_vertices, endpoint=True))
        angle_min = config.mean_angle - rng.uniform(0, config.angle_range)
        angle_max = config.mean_angle + rng.uniform(0, config.angle_range)
        points = [(rng.uniform(0, width), rng.uniform(0, height))]
        for vertex in range(vertices):
            angle = rng.uniform(angle_min, angle_max)
            # Alternate turning direction so a stroke zig-zags instead of curling into a circle.
            if vertex % 2 == 0:
                angle = 2 * math.pi - angle
            length = min(max(rng.normal(radius, radius / 2), 0.0), 2 * radius)
            x, y = points[-1]
            points.append(
                (
                    min(max(x + length * math.cos(angle), 0.0), width),
                    min(max(y + length * math.sin(angle), 0.0), height),
                )
            )
        brush = scale * rng.uniform(config.min_width, config.max_width)
        thickness = _thickness(brush)
        polyline = np.array([_fixed(x, y) for x, y in points], np.int32)
        cv2.polylines(canvas, [polyline], False, 1, thickness, cv2.LINE_8, _SHIFT)
        joint_radius = round(brush / 2 * _ONE)
        for x, y in polyline:
            cv2.circle(canvas, (int(x), int(y)), joint_radius, 1, -1, cv2.LINE_8, _SHIFT)
    return canvas.astype(bool)
