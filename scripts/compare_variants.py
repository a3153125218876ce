"""Compares variants of methods (their filler and lifter options) on the bench's photos, sizes and masks, with Telea.

Usage: ``python scripts/compare_variants.py [--data DIR] [--size 512] [--masks medium,thick] [--limit N]
NAME=METHOD[:key=value...] ...``, for example ``zoom-crop=zoom+cra zoom-512=zoom+cra:size=0
plain=patchmatch+octave:texture_weight=0 mixed=patchmatch+octave:lifter.low_weight=0.5`` (the syntax of
``hrinpaint bench --methods``: :func:`hrinpaint.methods.split_options`; ``lifter.`` keys go to the lifter). Prints,
per variant on the same photos and holes as ``hrinpaint bench``: the mean hole PSNR, hole L1 and box SSIM, the
median band energies E0-E3 (:func:`hrinpaint.eval.metrics.band_energy`) and the median seconds per photo. Used to
pick option defaults (``texture_weight``, ``zoom``'s size, the network fillers' ``band``); ``hrinpaint bench``
gives the reported numbers.
"""

import argparse
import time

import numpy as np

from hrinpaint.eval.bench import mask_seed
from hrinpaint.eval.metrics import evaluate
from hrinpaint.io import find_photos, read_image
from hrinpaint.masks import generate_mask
from hrinpaint.methods import split_options
from hrinpaint.ops.resize import area_downsample, fit_long_side
from hrinpaint.pipeline import Inpainter


def parse_variant(text: str) -> tuple[str, str, dict, dict]:
    """``NAME=METHOD[:key=value...]`` -> name, method, filler options, lifter options."""
    name, _, spec = text.partition("=")
    method, filler, lifter = split_options(spec)
    return name, method, filler, lifter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--data", default="../shared/data/eval/kodak")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--masks", default="medium,thick")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="mask seed offset, as hrinpaint bench --seed")
    args = parser.parse_args()
    variants = {"telea": Inpainter.from_method("telea+upsample")}
    for text in args.variants:
        name, method, filler, lifter = parse_variant(text)
        variants[name] = Inpainter.from_method(method, filler, lifter)
    scores = {name: [] for name in variants}
    for photo in find_photos(args.data)[: args.limit]:
        full = read_image(photo).to_float()
        truth = np.clip(area_downsample(full, fit_long_side(full.shape[:2], args.size)), 0.0, 1.0)
        for kind in args.masks.split(","):
            mask = generate_mask(kind, truth.shape[:2], mask_seed(photo, kind, args.size, args.seed))
            holed = np.where(mask[..., None], 0.0, truth).astype(np.float32)
            for name, inpainter in variants.items():
                start = time.perf_counter()
                out = np.clip(inpainter(holed, mask), 0.0, 1.0)
                seconds = time.perf_counter() - start
                scores[name].append({**evaluate(out, truth, mask), "seconds": seconds})
    for name, rows in scores.items():
        column = {key: np.array([row[key] for row in rows]) for key in rows[0]} if rows else {}
        if not column:
            continue
        energies = " / ".join(f"{np.nanmedian(column[f'band_energy_{band}']):.2f}" for band in range(4))
        print(
            f"{name:28s} hole PSNR {column['psnr_hole'].mean():.3f}  hole L1 {column['l1_hole'].mean():.5f}  "
            f"box SSIM {column['ssim_box'].mean():.4f}  E {energies}  median s {np.median(column['seconds']):.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
