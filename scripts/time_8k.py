"""Times one method on an 8K photo (7680x4320, uint8) with a generated hole; checks known pixels stay exact.

Usage: ``python scripts/time_8k.py METHOD[:key=value...] [MASK_KIND] [--photo PATH]`` (options as ``hrinpaint bench
--methods`` takes them: ``patchmatch+cra:texture_weight=0``); run under ``/usr/bin/time -f %M`` for the
peak memory. The 8K frame is a 2x enlargement of a crop of a hires photo (no 8K photo ships with the data).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hrinpaint.io import read_image
from hrinpaint.masks import generate_mask
from hrinpaint.methods import split_options
from hrinpaint.pipeline import Inpainter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("mask_kind", nargs="?", default="thick")
    parser.add_argument("--photo", default="../shared/data/eval/hires/elementary_Tomasz_Smal.jpg")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    pixels = read_image(args.photo).pixels
    frame = np.ascontiguousarray(np.kron(pixels[:2160, :3840], np.ones((2, 2, 1), np.uint8)))
    mask = generate_mask(args.mask_kind, frame.shape[:2], args.seed)
    print(f"{frame.shape[1]}x{frame.shape[0]}, {args.mask_kind} hole {mask.mean():.1%}")
    name, filler, lifter = split_options(args.method)
    inpainter = Inpainter.from_method(name, filler or None, lifter or None)
    start = time.perf_counter()
    result = inpainter(frame, mask)
    elapsed = time.perf_counter() - start
    print(f"{args.method}: {elapsed:.2f} s, known pixels exact: {np.array_equal(result[~mask], frame[~mask])}")


if __name__ == "__main__":
    main()
