"""Compares variants of methods (their filler options) on the bench's photos, sizes and masks, with Telea.

Usage: ``python scripts/compare_variants.py [--data DIR] [--size 512] [--limit N] NAME=METHOD[:key=value,...] ...``,
for example ``zoom-crop=zoom+cra zoom-512=zoom+cra:size=0 hifill-upsampled=hifill+cra:residual_lift=false``.
Keys starting with ``lifter.`` go to the lifter (``lifter.use_filler_attention=false``). Values are read as JSON
where they parse (``0``, ``false``, ``"x"``) and as strings otherwise. Prints hole PSNR, hole L1, the mean and
the median sharpness ratio (the bench reports the mean; a few over-sharpened fills show as a gap between the two),
the largest one, and the median seconds per photo of each variant, on the same photos and masks
as ``hrinpaint bench`` (``--masks``, medium and thick by default). Used to pick filler defaults (``zoom``'s size,
the network fillers' ``residual_lift``, ``pyramid``'s ``extra_levels``); ``hrinpaint bench`` gives the reported
numbers.
"""

import argparse
import json
import time

import numpy as np

from hrinpaint.eval.bench import mask_seed
from hrinpaint.eval.metrics import l1, psnr, sharpness_ratio
from hrinpaint.io import find_photos, read_image
from hrinpaint.masks import generate_mask
from hrinpaint.ops.resize import area_downsample, fit_long_side
from hrinpaint.pipeline import Inpainter


def parse_variant(text: str) -> tuple[str, str, dict, dict]:
    name, _, spec = text.partition("=")
    method, _, options = spec.partition(":")
    filler, lifter = {}, {}
    for item in filter(None, options.split(",")):
        key, _, value = item.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if key.startswith("lifter."):
            lifter[key.removeprefix("lifter.")] = parsed
        else:
            filler[key] = parsed
    return name, method, filler, lifter


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
            out = inpainter(holed, mask)
            seconds = time.perf_counter() - start
            sharp = sharpness_ratio(out, truth, mask)
            scores[name].append((psnr(out, truth, mask), l1(out, truth, mask), seconds, sharp))
for name, values in scores.items():
    v = np.array(values)
    print(
        f"{name:28s} hole PSNR {v[:, 0].mean():.3f}  hole L1 {v[:, 1].mean():.5f}  "
        f"sharpness mean {v[:, 3].mean():.3f} median {np.median(v[:, 3]):.3f} max {v[:, 3].max():.2f}  "
        f"median s {np.median(v[:, 2]):.2f}",
        flush=True,
    )
