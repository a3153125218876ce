"""Renders the example photo and mask shipped in ``examples/`` (our own synthetic scene, free to use).

A landscape with fractal texture (sky, clouds, ridges, a field, a fence) and a red signpost to remove; the mask
covers the signpost. Run: ``python scripts/make_example.py``; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def fractal_noise(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 6, persistence: float = 0.55):
    height, width = shape
    total = np.zeros(shape, np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.standard_normal((cells + 1, int(cells * width / height) + 2)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        norm += amplitude
        amplitude *= persistence
    return total / norm


def render(width: int = 1200, height: int = 800, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    image = np.zeros((height, width, 3), np.float32)
    rows = rows[:, :, None]
    sky = (1 - rows) * np.float32([0.33, 0.55, 0.85]) + rows * np.float32([0.78, 0.86, 0.95])
    image[:] = sky
    clouds = np.clip(fractal_noise((height, width), rng) * 1.6 + 0.1, 0, 1)[:, :, None]
    image = image * (1 - 0.7 * clouds) + 0.97 * 0.7 * clouds
    for depth, (base, colour) in enumerate([(0.42, (0.45, 0.5, 0.62)), (0.52, (0.28, 0.36, 0.3))]):
        ridge = base * height + 90 * fractal_noise((width, width), rng, octaves=5)[width // 2] * (1.8 - depth)
        below = np.arange(height)[:, None] >= ridge[None, :]
        texture = 0.08 * fractal_noise((height, width), rng, octaves=7)[:, :, None]
        image = np.where(below[:, :, None], np.float32(colour) + texture, image)
    field_top = int(0.66 * height)
    grass = np.float32([0.36, 0.52, 0.18]) + 0.12 * fractal_noise((height, width), rng, octaves=8)[:, :, None]
    blades = rng.standard_normal((height, width)).astype(np.float32)
    blades = cv2.GaussianBlur(blades, (1, 7), 0)[:, :, None] * 0.05
    image[field_top:] = (grass + blades)[field_top:]
    for post_x in range(40, width, 140):  # a fence across the field
        cv2.rectangle(image, (post_x, field_top + 30), (post_x + 10, field_top + 110), (0.42, 0.3, 0.2), -1)
    for rail_y in (field_top + 50, field_top + 85):
        cv2.rectangle(image, (0, rail_y), (width, rail_y + 6), (0.47, 0.34, 0.22), -1)
    # the object to remove: a red signpost standing in the field
    mask = np.zeros((height, width), np.uint8)
    pole = ((700, 380), (716, 700))
    sign = ((640, 360), (780, 440))
    cv2.rectangle(image, *pole, (0.55, 0.55, 0.58), -1)
    cv2.rectangle(image, *sign, (0.8, 0.1, 0.08), -1)
    cv2.rectangle(image, (652, 388), (768, 412), (0.95, 0.95, 0.95), -1)
    cv2.rectangle(mask, (pole[0][0] - 12, pole[0][1] - 12), (pole[1][0] + 12, pole[1][1] + 12), 255, -1)
    cv2.rectangle(mask, (sign[0][0] - 12, sign[0][1] - 12), (sign[1][0] + 12, sign[1][1] + 12), 255, -1)
    image = image + rng.normal(0, 0.012, image.shape).astype(np.float32)  # sensor noise
    return np.clip(image, 0, 1), mask


def main() -> None:
    image, mask = render()
    folder = Path(__file__).resolve().parent.parent / "examples"
    folder.mkdir(exist_ok=True)
    pixels = (image * 255 + 0.5).astype(np.uint8)
    cv2.imwrite(str(folder / "signpost.jpg"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(folder / "signpost_mask.png"), mask)


if __name__ == "__main__":
    main()
