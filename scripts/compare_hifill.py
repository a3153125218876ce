"""Compares ways of running a HiFill generator on Kodak at 512 px (medium and thick holes), against Telea.

Usage: ``python scripts/compare_hifill.py WEIGHTS [--limit N]``. Prints hole PSNR and hole L1 per variant:
the network at its training resolution inside a 512 working image, the network at 512, and a 256 working image
lifted by ``cra``. Used to pick the shipped way of running it; ``hrinpaint bench`` gives the reported numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hrinpaint.eval.metrics import l1, psnr
from hrinpaint.io import find_photos, read_image, to_float
from hrinpaint.masks import generate_mask
from hrinpaint.pipeline import Inpainter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--data", default="../shared/data/eval/kodak")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    variants = {
        "telea (512)": Inpainter.from_method("telea+upsample"),
        "hifill net@train-res": Inpainter.from_method("hifill+cra", filler={"weights": args.weights}),
        "hifill net@512": Inpainter.from_method("hifill+cra", filler={"weights": args.weights, "size": 0}),
        "hifill working 256 + cra": Inpainter.from_method(
            "hifill+cra", filler={"weights": args.weights}, working_size=256
        ),
    }
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for index, path in enumerate(find_photos(args.data)[: args.limit]):
        truth = read_image(path).pixels
        for kind_index, kind in enumerate(("medium", "thick")):
            mask = generate_mask(kind, truth.shape[:2], seed=1000 * kind_index + index)
            for name, inpainter in variants.items():
                start = time.perf_counter()
                result = inpainter(truth, mask)
                seconds = time.perf_counter() - start
                scores[name].append(
                    (
                        psnr(to_float(result), to_float(truth), mask),
                        l1(to_float(result), to_float(truth), mask),
                        seconds,
                    )
                )
    for name, values in scores.items():
        psnrs, l1s, times = zip(*values, strict=True)
        print(f"{name:<28} hole PSNR {np.mean(psnrs):6.3f}  hole L1 {np.mean(l1s):.4f}  {np.median(times):.2f} s")


if __name__ == "__main__":
    main()
