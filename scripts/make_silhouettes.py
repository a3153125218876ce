"""Builds ``hrinpaint/masks/silhouettes.json`` from hand-drawn object-removal masks (the ``object`` mask kind).

For each mask (non-zero = hole) the largest connected component is kept and its outline traced, simplified to
within ``--tolerance`` pixels and stored in coordinates normalised to the component's bounding box (0..1), with
the box's aspect ratio and the fraction of the box the silhouette covers, so that a silhouette can be rasterised at
any size. Usage::

    python scripts/make_silhouettes.py ../shared/data/real-masks/masks_hole255
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def silhouette(path: Path, tolerance: float) -> dict[str, object]:
    hole = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    if count < 2:
        raise SystemExit(f"{path}: no hole")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    left, top, width, height, area = (int(v) for v in stats[largest])
    component = (labels[top : top + height, left : left + width] == largest).astype(np.uint8)
    contours, _ = cv2.findContours(np.pad(component, 1), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = cv2.approxPolyDP(max(contours, key=cv2.contourArea), tolerance, closed=True)[:, 0, :] - 1
    points = np.clip(outline / [max(width - 1, 1), max(height - 1, 1)], 0, 1)
    return {
        "name": path.stem,
        "aspect": width / height,
        "fill": area / (width * height),
        "points": [[round(float(x), 4), round(float(y), 4)] for x, y in points],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("masks", help="folder of masks, non-zero = hole")
    parser.add_argument("--tolerance", type=float, default=2.0, help="outline simplification, in mask pixels")
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "hrinpaint" / "masks" / "silhouettes.json"))
    args = parser.parse_args()
    paths = sorted(Path(args.masks).glob("*.png"), key=lambda p: (len(p.stem), p.stem))
    shapes = [silhouette(path, args.tolerance) for path in paths]
    source = "largest connected component of each mask in real-masks/masks_hole255 (HiFill sample masks)"
    Path(args.out).write_text(json.dumps({"source": source, "silhouettes": shapes}, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(shapes)} silhouettes, {sum(len(s['points']) for s in shapes)} points")


if __name__ == "__main__":
    main()
