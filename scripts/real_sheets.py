"""Sheets of the real removals (``../shared/data/real-masks``): each method beside the default, whole and at 1:1.

Usage: ``python scripts/real_sheets.py [--size 2048] [--out bench-out/real] METHOD ...`` (the default is always
the first column). Each photo gets ``<name>.png``: the photo with its hole in magenta, then every method; top row
the whole image at ``--tile`` px high, bottom row a 1:1 crop of ``--tile`` x ``--tile`` px centred on the largest
hole. No ground truth exists for these: they are for looking at (Telea's wedges, smears, continued structure).
"""

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from hrinpaint.io import read_image, write_image
from hrinpaint.ops.regions import connected_boxes
from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side
from hrinpaint.pipeline import Inpainter

parser = argparse.ArgumentParser()
parser.add_argument("methods", nargs="*", default=["hifill", "zoom", "pyramid", "shift", "refine"])
parser.add_argument("--data", default="../shared/data/real-masks")
parser.add_argument("--size", type=int, default=2048, help="long side the photos are brought to (0: as they are)")
parser.add_argument("--tile", type=int, default=360)
parser.add_argument("--out", default="bench-out/real")
parser.add_argument("--only", default="", help="comma-separated photo stems")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
methods = {"default": Inpainter.from_method(None)} | {name: Inpainter.from_method(name) for name in args.methods}
only = set(filter(None, args.only.split(",")))
for photo in sorted((Path(args.data) / "images").glob("*.jpg"), key=lambda p: int(p.stem)):
    if only and photo.stem not in only:
        continue
    image = read_image(photo).to_float()
    mask = read_image(Path(args.data) / "masks_hole255" / f"{photo.stem}.png").to_float()
    mask = (mask.mean(axis=2) if mask.ndim == 3 else mask) > 0.5
    if args.size and max(image.shape[:2]) > args.size:
        shape = fit_long_side(image.shape[:2], args.size)
        image, mask = area_downsample(image, shape), downsample_mask(mask, shape)
    panels = {"photo + hole": np.where(mask[..., None], np.float32([1, 0, 1]), image)}
    for name, inpainter in methods.items():
        began = time.perf_counter()
        panels[name] = inpainter(image, mask)
        print(f"{photo.stem} {name}: {time.perf_counter() - began:.1f} s", flush=True)
    height, width = mask.shape
    tile = args.tile
    small = fit_long_side((height, width), max(1, round(max(height, width) * tile / height)))
    largest = max(connected_boxes(mask), key=lambda box: box.height * box.width)
    crop_h, crop_w = min(tile, height), min(small[1], width)
    top = int(np.clip((largest.top + largest.bottom) // 2 - crop_h // 2, 0, height - crop_h))
    left = int(np.clip((largest.left + largest.right) // 2 - crop_w // 2, 0, width - crop_w))
    columns = []
    for name, panel in panels.items():
        column = np.concatenate(
            [
                area_downsample(panel, small),
                np.ones((4, small[1], 3), np.float32),
                np.pad(panel[top : top + crop_h, left : left + crop_w], ((0, 0), (0, small[1] - crop_w), (0, 0))),
            ]
        )
        column = (np.clip(column, 0, 1) * 255 + 0.5).astype(np.uint8)
        cv2.putText(column, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(column, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
        columns += [column, np.full((column.shape[0], 4, 3), 255, np.uint8)]
    write_image(out / f"{photo.stem}.png", np.concatenate(columns[:-1], axis=1), overwrite=True)
