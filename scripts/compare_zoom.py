"""Compares the sizes a Zoom-to-Inpaint generator can run at on Kodak at 512 px (medium and thick holes), with Telea.

Usage: ``python scripts/compare_zoom.py WEIGHTS``. Prints hole PSNR, hole L1 and the median seconds per photo for
the network at its training input (half the crop), at the crop, and at the working size. Used to pick the
``zoom`` filler's default size; ``hrinpaint bench`` gives the reported numbers.
"""

import sys
import time

import numpy as np

from hrinpaint.eval.metrics import l1, psnr
from hrinpaint.io import read_image
from hrinpaint.masks import generate_mask
from hrinpaint.pipeline import Inpainter
from hrinpaint.train.data import list_photos

weights = sys.argv[1]
variants = {
    "telea": Inpainter.from_method("telea+upsample"),
    "zoom size=128": Inpainter.from_method("zoom+cra", {"weights": weights, "size": 128}),
    "zoom size=None(crop)": Inpainter.from_method("zoom+cra", {"weights": weights}),
    "zoom size=0(512)": Inpainter.from_method("zoom+cra", {"weights": weights, "size": 0}),
}
scores = {k: [] for k in variants}
for i, path in enumerate(list_photos("../shared/data/eval/kodak")):
    truth = read_image(path).pixels
    for ki, kind in enumerate(("medium", "thick")):
        mask = generate_mask(kind, truth.shape[:2], seed=1000 * ki + i)
        t = truth.astype(np.float32) / 255
        for name, inp in variants.items():
            start = time.perf_counter()
            out = inp(truth, mask).astype(np.float32) / 255
            scores[name].append((psnr(out, t, mask), l1(out, t, mask), time.perf_counter() - start))
for name, v in scores.items():
    v = np.array(v)
    print(f"{name:24s} psnr {v[:, 0].mean():.3f} l1 {v[:, 1].mean():.5f} s {np.median(v[:, 2]):.2f}")
