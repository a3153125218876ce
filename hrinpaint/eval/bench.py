"""The benchmark: every method and peer on the same photos, sizes and seeded holes, measured the same way.

For each photo (searched recursively under ``data``), each size (the photo is area-downsampled so its long side is
the size; photos smaller than a size are skipped there, since upsampling would invent the detail being measured)
and each mask kind, a seeded hole is drawn, the hole pixels of the input are zeroed so that nothing leaks, and
each method runs in a worker process under a time limit. Output in ``out``:

- ``results.jsonl``: one line per run (metrics, time, peak memory, status, whether known pixels stayed exact);
- ``report.md``: a table per resolution and one per mask-area bin;
- ``sheets/*.png``: side-by-side pictures (input, truth, each method) at page scale, each above a 1:1 crop of the
  largest hole's box;
- ``plot.png`` and ``index.html``: quality against time, and everything on one page (:mod:`hrinpaint.eval.report`).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrinpaint.errors import InputError
from hrinpaint.eval.aggregate import MetricAccumulator
from hrinpaint.eval.metrics import ENERGY_BANDS, evaluate, mask_area_bin
from hrinpaint.eval.peers import DEFAULT_PEERS, PEERS
from hrinpaint.eval.worker import Worker
from hrinpaint.io import find_photos, read_image, write_image
from hrinpaint.masks import generate_mask
from hrinpaint.methods import split_options
from hrinpaint.ops.resize import area_downsample, fit_long_side

#: Columns of the report tables: (row key, header).
REPORT_COLUMNS = (
    ("psnr_hole", "hole PSNR"),
    ("ssim", "SSIM"),
    ("ssim_hole", "hole SSIM"),
    ("ssim_box", "box SSIM"),
    ("l1_hole", "hole L1"),
    ("sharpness", "sharpness"),
    ("band_ssim_0", "finest-band SSIM"),
    ("band_energy_0", "E0"),
    ("band_energy_1", "E1"),
    ("band_energy_2", "E2"),
    ("band_energy_3", "E3"),
    ("time_s", "median s"),
    ("peak_mb", "peak MB"),
)

#: Band energies are ratios that one flat-truth case can blow up, so the tables show their medians.
REDUCTIONS = {f"band_energy_{band}": "median" for band in range(ENERGY_BANDS)}

#: Mask kinds drawn from a size-free spec: one seed per photo and kind, so every size shows the same hole.
SIZE_FREE_KINDS = frozenset({"object"})

#: Methods run when none are named: the naive baseline (Telea at the working size, then bicubic) and the lifters.
DEFAULT_METHODS = ("telea+upsample", "telea+cra", "patchmatch+cra", "patchmatch+octave")

#: A peer that times out this many times at one size is not run again at that size.
PEER_STRIKES = 2


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``methods`` are project methods (``filler+lifter``); ``peers`` are names in PEERS;
    ``weights``, when given, are loaded by every method whose filler takes weights (one trained variant against
    another: run the bench once per file)."""

    data: str
    masks: tuple[str, ...] = ("thick", "box")
    sizes: tuple[int, ...] = (512,)
    methods: tuple[str, ...] = DEFAULT_METHODS
    peers: tuple[str, ...] = DEFAULT_PEERS
    out: str = "bench-out"
    limit: int | None = None
    seed: int = 0
    peer_timeout: float = 60.0
    method_timeout: float = 600.0
    working_size: int = 512
    weights: str | None = None
    save_images: bool = True
    sheet_tile: int = 320
    sheet_crop: int = 768
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method in self.methods:
            split_options(method)  # unknown methods and options fail before any work
        unknown = sorted(set(self.peers) - set(PEERS))
        if unknown:
            raise InputError(f"unknown peer {', '.join(unknown)}; known: {', '.join(PEERS)}")
        if not Path(self.data).is_dir():
            raise InputError(f"benchmark data '{self.data}' is not a directory")
        from hrinpaint.masks import mask_kinds

        unknown = sorted(set(self.masks) - set(mask_kinds()))
        if unknown:
            raise InputError(f"unknown mask kind {', '.join(unknown)}; known: {', '.join(mask_kinds())}")


def mask_seed(photo: Path, kind: str, size: int, offset: int) -> int:
    """A seed that depends only on the photo's name, the kind, the size (except for :data:`SIZE_FREE_KINDS`) and
    the offset (stable across runs)."""
    key = f"{photo.stem}/{kind}" if kind in SIZE_FREE_KINDS else f"{photo.stem}/{kind}/{size}"
    return zlib.crc32(key.encode()) + offset


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def run_bench(config: BenchConfig, quiet: bool = False) -> MetricAccumulator:
    """Runs the benchmark and writes its outputs; returns the accumulated rows."""
    out = Path(config.out)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    photos = find_photos(config.data, recursive=True, limit=config.limit)
    accumulator = MetricAccumulator(reductions=REDUCTIONS)
    runs = [(name, "method") for name in config.methods] + [(name, "peer") for name in config.peers]
    strikes: dict[tuple[str, int], int] = {}
    log = (lambda text: None) if quiet else (lambda text: print(text, flush=True))
    log(f"bench: {len(photos)} photos x sizes {list(config.sizes)} x masks {list(config.masks)} x {len(runs)} methods")
    with open(out / "results.jsonl", "w") as results, Worker() as worker:
        for photo in photos:
            try:
                full = read_image(photo).to_float()
            except InputError as error:
                log(f"skip {photo}: {error}")
                continue
            for size in config.sizes:
                if max(full.shape[:2]) < size:
                    continue
                truth = np.clip(area_downsample(full, fit_long_side(full.shape[:2], size)), 0.0, 1.0)
                for kind in config.masks:
                    seed = mask_seed(photo, kind, size, config.seed)
                    mask = generate_mask(kind, truth.shape[:2], seed)
                    holed = truth.copy()
                    holed[mask] = 0.0
                    outputs: dict[str, np.ndarray] = {}
                    for name, role in runs:
                        if strikes.get((name, size), 0) >= PEER_STRIKES:
                            continue
                        timeout = config.peer_timeout if role == "peer" else config.method_timeout
                        job = worker.run(name, holed, mask, config.working_size, timeout, config.weights)
                        row: dict[str, object] = {
                            "photo": str(photo),
                            "size": size,
                            "height": truth.shape[0],
                            "width": truth.shape[1],
                            "mask_kind": kind,
                            "seed": seed,
                            "hole_fraction": float(mask.mean()),
                            "area_bin": mask_area_bin(mask),
                            "method": name,
                            "weights": config.weights if role == "method" else None,
                            "role": role,
                            "status": job.status,
                            "message": job.message,
                            "time_s": job.time_s,
                            "peak_mb": job.peak_mb,
                        }
                        if job.status == "ok" and job.image is not None:
                            result = job.image.astype(np.float32)
                            row["known_exact"] = bool(np.array_equal(result[~mask], holed[~mask]))
                            # score the composite: a peer that touches known pixels is not credited for it
                            composite = np.where(mask[:, :, None], np.clip(result, 0, 1), truth)
                            row.update(evaluate(composite, truth, mask))
                            outputs[name] = composite
                            accumulator.add(row)
                        elif job.status == "timeout" and role == "peer":
                            strikes[(name, size)] = strikes.get((name, size), 0) + 1
                        results.write(json.dumps({key: _clean(value) for key, value in row.items()}) + "\n")
                        results.flush()
                        log(_progress_line(row))
                    if config.save_images and outputs:
                        sheet = side_by_side(holed, truth, mask, outputs, config.sheet_tile, config.sheet_crop)
                        write_image(out / "sheets" / f"{photo.stem}_{size}_{kind}.png", sheet, overwrite=True)
    report = render_report(accumulator, config)
    (out / "report.md").write_text(report)
    log(report)
    from hrinpaint.eval.report import write_visual_report

    for line in write_visual_report(out):  # plot.png and index.html
        log(line)
    return accumulator


def _progress_line(row: dict[str, object]) -> str:
    name = f"{Path(str(row['photo'])).stem} {row['size']} {row['mask_kind']} {row['method']}"
    if row["status"] != "ok":
        return f"  {name}: {row['status']} {row['message']}"
    return (
        f"  {name}: hole PSNR {row['psnr_hole']:.2f}  sharpness {row['sharpness']:.2f}  "
        f"{row['time_s']:.2f} s  {row['peak_mb']:.1f} MB"
    )


def render_report(accumulator: MetricAccumulator, config: BenchConfig) -> str:
    """Markdown: one table per resolution, then one per mask-area bin (all sizes together)."""
    columns = [key for key, _ in REPORT_COLUMNS if key in accumulator.metric_names]  # a metric no row has is left out
    headers = dict(REPORT_COLUMNS)
    lines = [
        "# hrinpaint bench",
        "",
        f"data `{config.data}`, masks {', '.join(config.masks)}, working size {config.working_size}, "
        + (f"network weights `{config.weights}`, " if config.weights else "")
        + f"generated {time.strftime('%Y-%m-%d %H:%M')}. Hole metrics are over hole pixels; sharpness is the hole's "
        "Laplacian energy over the truth's (1 is ideal, below 1 is blur); E0-E3 are the medians of the energy of the "
        "first four Laplacian bands of luma (E0 finest) inside the hole over the truth's (1 is ideal, low is haze); "
        "box SSIM is over the hole's bounding boxes; time is the median per image.",
        "",
    ]
    for size in config.sizes:
        table = accumulator.markdown(group_by=("method",), columns=columns, headers=headers, where={"size": size})
        if table:
            lines += [f"## {size} px (long side)", "", table, ""]
    table = accumulator.markdown(group_by=("area_bin", "method"), columns=columns, headers=headers)
    if table:
        lines += ["## By mask-area bin (all sizes)", "", table, ""]
    return "\n".join(lines)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    labelled = np.ascontiguousarray(tile)
    cv2.rectangle(labelled, (0, 0), (min(labelled.shape[1], 8 + 9 * len(text)), 22), (0, 0, 0), -1)
    cv2.putText(labelled, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return labelled


def crop_box(mask: np.ndarray, limit: int) -> tuple[slice, slice]:
    """The 1:1 crop a reviewer looks at: the largest hole's bounding box with a quarter of its size (at least 16
    px) of context on every side, at most ``limit`` px a side (centred on the hole), inside the image."""
    from hrinpaint.ops.regions import connected_boxes

    height, width = mask.shape
    largest = max(connected_boxes(mask), key=lambda box: box.height * box.width)
    sides = []
    for start, stop, extent in ((largest.top, largest.bottom, height), (largest.left, largest.right, width)):
        margin = max(16, (stop - start) // 4)
        size = min(stop - start + 2 * margin, limit, extent)
        first = int(np.clip((start + stop) // 2 - size // 2, 0, extent - size))
        sides.append(slice(first, first + size))
    return sides[0], sides[1]


def contact_sheet(panels: dict[str, np.ndarray], mask: np.ndarray, tile: int, crop: int = 768) -> np.ndarray:
    """A uint8 sheet with one labelled column per panel: the whole image scaled to ``tile`` px high (page
    scale), and under it the largest hole's box at full resolution (1:1, see :func:`crop_box`), which is what a
    user zoomed to 100 % sees. The crop's place is outlined on the first panel's page-scale view."""
    import cv2

    height, width = mask.shape
    small = (tile, max(1, round(width * tile / height))) if height > tile else (height, width)
    rows, cols = crop_box(mask, crop)
    columns = []
    for index, image in enumerate(panels.values()):
        whole = area_downsample(image, small) if small != (height, width) else image
        whole = (np.clip(whole, 0, 1) * 255 + 0.5).astype(np.uint8)
        if index == 0:
            scale = small[0] / height
            corner = (int(cols.start * scale), int(rows.start * scale))
            far = (int(cols.stop * scale) - 1, int(rows.stop * scale) - 1)
            cv2.rectangle(whole, corner, far, (255, 255, 0), 1)
        part = (np.clip(image[rows, cols], 0, 1) * 255 + 0.5).astype(np.uint8)
        column = np.zeros((whole.shape[0] + part.shape[0] + 4, max(whole.shape[1], part.shape[1]), 3), np.uint8)
        column[: whole.shape[0], : whole.shape[1]] = whole
        column[whole.shape[0] + 4 :, : part.shape[1]] = part
        columns.append(_label(column, list(panels)[index]))
        columns.append(np.full((column.shape[0], 4, 3), 255, np.uint8))
    return np.concatenate(columns[:-1], axis=1)


def side_by_side(
    holed: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray,
    outputs: dict[str, np.ndarray],
    tile: int,
    crop: int = 768,
) -> np.ndarray:
    """The bench's sheet (see :func:`contact_sheet`): the input with its hole in magenta, the truth, then each
    method's result."""
    shown = np.where(mask[:, :, None], np.float32([1.0, 0.0, 1.0]), holed)  # magenta hole in the input
    return contact_sheet({"input": shown, "truth": truth, **outputs}, mask, tile, crop)


__all__ = ["BenchConfig", "contact_sheet", "crop_box", "render_report", "run_bench", "side_by_side"]
