"""Renders the README's before/after picture from the example: the photo with its hole outlined, then the default
method's fill. Run: ``python scripts/make_readme_picture.py``; writes ``docs/images/signpost_before_after.jpg``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import hrinpaint
from hrinpaint import io

ROOT = Path(__file__).resolve().parent.parent
PANEL_WIDTH = 480


def main() -> None:
    photo = io.read_image(ROOT / "examples" / "signpost.jpg")
    mask = io.read_mask(ROOT / "examples" / "signpost_mask.png", shape=photo.pixels.shape[:2])
    filled = hrinpaint.inpaint(photo.pixels, mask)
    before = photo.pixels.copy()
    outline = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
    before[outline] = (255, 0, 255)  # the hole's edge in magenta, the pixels inside as they were
    height = round(before.shape[0] * PANEL_WIDTH / before.shape[1])
    panels = [cv2.resize(p, (PANEL_WIDTH, height), interpolation=cv2.INTER_AREA) for p in (before, filled)]
    gap = np.full((height, 6, 3), 255, np.uint8)
    picture = np.concatenate([panels[0], gap, panels[1]], axis=1)
    output = ROOT / "docs" / "images" / "signpost_before_after.jpg"
    output.parent.mkdir(parents=True, exist_ok=True)
    io.write_image(output, picture, io.ImageInfo(), quality=85, overwrite=True)
    print(f"wrote {output.relative_to(ROOT)} ({output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
