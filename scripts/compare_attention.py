"""Compares the two attention sources of ``patchmatch+cra``: the PatchMatch offset field and cell similarity.

Usage: ``python scripts/compare_attention.py [N_PHOTOS] [SIZE]`` over ``../shared/data/eval/hires`` with the
benchmark's seeded thick and box masks; prints mean hole PSNR, sharpness, finest-band SSIM and median time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from hrinpaint.eval.bench import mask_seed
from hrinpaint.eval.metrics import evaluate
from hrinpaint.io import read_image
from hrinpaint.masks import generate_mask
from hrinpaint.ops import area_downsample, fit_long_side
from hrinpaint.pipeline import Inpainter


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    photos = sorted(Path("../shared/data/eval/hires").glob("*.jpg"))[:count]
    variants = {
        "offset field": Inpainter.from_method("patchmatch+cra"),
        "cell similarity": Inpainter.from_method("patchmatch+cra", lifter={"use_filler_attention": False}),
    }
    rows: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
    for photo in photos:
        full = read_image(photo).to_float()
        truth = np.clip(area_downsample(full, fit_long_side(full.shape[:2], size)), 0, 1)
        for kind in ("thick", "box"):
            mask = generate_mask(kind, truth.shape[:2], mask_seed(photo, kind, size, 0))
            holed = np.where(mask[:, :, None], 0.0, truth).astype(np.float32)
            for name, inpainter in variants.items():
                start = time.perf_counter()
                result = inpainter(holed, mask)
                elapsed = time.perf_counter() - start
                scores = evaluate(np.where(mask[:, :, None], result, truth), truth, mask)
                rows[name].append((scores["psnr_hole"], scores["sharpness"], scores["band_ssim_0"], elapsed))
    for name, values in rows.items():
        table = np.array(values)
        print(
            f"{name:16s} n={len(table)} hole PSNR {table[:, 0].mean():.2f}  sharpness {np.nanmean(table[:, 1]):.3f}  "
            f"finest-band SSIM {table[:, 2].mean():.4f}  median {np.median(table[:, 3]):.2f} s"
        )


if __name__ == "__main__":
    main()
