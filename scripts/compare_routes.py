"""Compares network-filler routes on the bench's cases: hole PSNR and band energies against the default, per case.

Usage: ``python scripts/compare_routes.py [--data DIR] [--size 2048] [--masks object] [--limit 6] [--out FILE]
NAME=METHOD[:key=value...] ...`` (the same variant syntax as ``scripts/compare_variants.py``; ``lifter.`` keys go
to the lifter). Every variant runs through ``Inpainter`` on the masks ``hrinpaint bench`` draws (same seeds), and
the default method's working fill is computed once per image and mask and shared by all variants (it is
deterministic), so a dozen variants cost little more than their networks. Prints, per variant, the mean hole PSNR,
its mean difference to the default in the same cases, the cases better / worse by more than 0.005 dB, the worst
case and the median band energies E0-E3; ``--out`` writes one JSON line per case and variant.
"""

import argparse
import hashlib
import json
import time

import numpy as np
from compare_variants import parse_variant  # scripts/ is on the path when a script runs

from hrinpaint.eval.bench import find_photos, mask_seed
from hrinpaint.eval.metrics import evaluate
from hrinpaint.fillers import network
from hrinpaint.io import read_image
from hrinpaint.masks import generate_mask
from hrinpaint.ops.resize import area_downsample, fit_long_side
from hrinpaint.pipeline import Inpainter

_default_fill = network.default_fill
_cache: dict[str, object] = {}


def cached_default_fill(image: np.ndarray, mask: np.ndarray):
    key = hashlib.sha1(image.tobytes() + mask.tobytes() + str(image.shape).encode()).hexdigest()
    if key not in _cache:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = _default_fill(image, mask)
    return _cache[key]


network.default_fill = cached_default_fill


parser = argparse.ArgumentParser()
parser.add_argument("variants", nargs="+")
parser.add_argument("--data", default="../shared/data/eval/hires")
parser.add_argument("--size", type=int, default=2048)
parser.add_argument("--masks", default="object")
parser.add_argument("--limit", type=int, default=6)
parser.add_argument("--skip", type=int, default=0, help="skip this many photos first")
parser.add_argument("--out", default=None)
parser.add_argument("--plain-gain", action="store_true", help="gate with the ring's least-squares scale alone")
args = parser.parse_args()
if args.plain_gain:  # the gate's scale without its cos^2 shrink (measured against it, docs/methods/networks.md)
    from hrinpaint.fillers import gate

    def plain_gain(correction: np.ndarray, missing: np.ndarray) -> float:
        correction, missing = correction.astype(np.float64), missing.astype(np.float64)
        energy = float(np.sum(correction**2))
        return 0.0 if energy <= 1e-12 else float(np.clip(np.sum(correction * missing) / energy, 0.0, 1.0))

    gate.ring_gain = plain_gain  # every gate's one gain and the field's cap go through it
variants = {"default": Inpainter.from_method(None)}
for text in args.variants:
    name, method, filler, lifter = parse_variant(text)
    variants[name] = Inpainter.from_method(method, filler, lifter)
rows: dict[str, list[dict]] = {name: [] for name in variants}
log = open(args.out, "a") if args.out else None
for photo in find_photos(args.data)[args.skip : args.skip + args.limit]:
    full = read_image(photo).to_float()
    truth = np.clip(area_downsample(full, fit_long_side(full.shape[:2], args.size)), 0.0, 1.0)
    for kind in args.masks.split(","):
        mask = generate_mask(kind, truth.shape[:2], mask_seed(photo, kind, args.size, 0))
        holed = np.where(mask[..., None], 0.0, truth).astype(np.float32)
        for name, inpainter in variants.items():
            start = time.perf_counter()
            out = inpainter(holed, mask)
            seconds = time.perf_counter() - start
            assert np.array_equal(out[~mask], holed[~mask]), name
            metrics = evaluate(np.where(mask[..., None], out, truth), truth, mask)
            row = {"photo": photo.stem, "mask": kind, "variant": name, "seconds": seconds}
            row.update({k: metrics[k] for k in ("psnr_hole", "ssim_box")})
            row.update({f"E{b}": metrics[f"band_energy_{b}"] for b in range(4)})
            rows[name].append(row)
            if log:
                log.write(json.dumps(row) + "\n")
                log.flush()
        print(f"done {photo.stem} {kind}", flush=True)
base = np.array([r["psnr_hole"] for r in rows["default"]])
for name, values in rows.items():
    psnr = np.array([r["psnr_hole"] for r in values])
    diff = psnr - base
    energies = " / ".join(f"{np.median([r[f'E{b}'] for r in values]):.2f}" for b in range(4))
    print(
        f"{name:24s} PSNR {psnr.mean():.3f} vs default {diff.mean():+.4f} better/worse {(diff > 0.005).sum()}/"
        f"{(diff < -0.005).sum()} worst {diff.min():+.3f}  E {energies}  median s "
        f"{np.median([r['seconds'] for r in values]):.1f}",
        flush=True,
    )
