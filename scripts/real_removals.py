"""Sheets of real object removals, page scale and 1:1, for methods side by side (no ground truth exists).

For every photo in ``DATA/images`` with a mask of the same name in ``DATA/masks_hole255`` (non-zero = hole),
each method fills the hole at the photo's own size and one sheet is written per photo: the input with its hole
in magenta, then each result, each at page scale above a 1:1 crop of the largest hole's box
(:func:`hrinpaint.eval.bench.contact_sheet`). Times go to stdout. Usage::

    python scripts/real_removals.py --methods patchmatch+cra,telea+cra --out real-sheets
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hrinpaint.eval.bench import contact_sheet
from hrinpaint.io import read_image, write_image
from hrinpaint.methods import split_options
from hrinpaint.pipeline import Inpainter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/real-masks")
    parser.add_argument(
        "--methods", default="patchmatch+cra", help="comma-separated project methods, each METHOD[:key=value...]"
    )
    parser.add_argument("--only", default="", help="comma-separated photo names (default all)")
    parser.add_argument("--crop", type=int, default=1024, help="largest side of the 1:1 crop, px")
    parser.add_argument("--tile", type=int, default=360, help="height of the page-scale view, px")
    parser.add_argument("--out", default="real-sheets")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = {}
    for text in args.methods.split(","):  # each METHOD[:key=value...], as hrinpaint bench --methods takes them
        name, filler, lifter = split_options(text)
        methods[text] = Inpainter.from_method(name, filler or None, lifter or None)
    only = set(filter(None, args.only.split(",")))
    for photo in sorted(Path(args.data, "images").glob("*.jpg"), key=lambda p: (len(p.stem), p.stem)):
        if only and photo.stem not in only:
            continue
        image = read_image(photo).to_float()
        mask = read_image(Path(args.data, "masks_hole255", f"{photo.stem}.png")).pixels[..., 0] > 0
        panels = {"input": np.where(mask[:, :, None], np.float32([1.0, 0.0, 1.0]), image)}
        for name, method in methods.items():
            start = time.perf_counter()
            panels[name] = method(image, mask)
            print(
                f"{photo.stem} {image.shape[1]}x{image.shape[0]} {mask.mean():.1%} {name}: "
                f"{time.perf_counter() - start:.2f} s",
                flush=True,
            )
        write_image(out / f"{photo.stem}.png", contact_sheet(panels, mask, args.tile, args.crop), overwrite=True)


if __name__ == "__main__":
    main()
