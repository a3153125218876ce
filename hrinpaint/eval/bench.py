"""The benchmark: every method and peer on the same photos, sizes and seeded holes, measured the same way.

For each photo (searched recursively under ``data``), each size (the photo is area-downsampled so its long side is
the size; photos smaller than a size are skipped there, since upsampling would invent the detail being measured)
and each mask kind, a seeded hole is drawn, the hole pixels of the input are zeroed so that nothing leaks, and
each method runs in a worker process under a time limit. Output in ``out``:

- ``results.jsonl``: one line per run (metrics, time, peak memory, status, whether known pixels stayed exact);
- ``report.md``: a table per resolution and one per mask-area bin;
- ``sheets/*.png``: side-by-side pictures (input, truth, each method) with a full-resolution crop of the hole;
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
from hrinpaint.eval.metrics import evaluate, mask_area_bin
from hrinpaint.eval.peers import DEFAULT_PEERS, PEERS
from hrinpaint.eval.worker import Worker
from hrinpaint.io import IMAGE_SUFFIXES, read_image, write_image
from hrinpaint.masks import generate_mask
from hrinpaint.methods import resolve_method
from hrinpaint.ops.resize import area_downsample, fit_long_side

#: Columns of the report tables: (row key, header).
REPORT_COLUMNS = (
    ("psnr_hole", "hole PSNR"),
    ("ssim", "SSIM"),
    ("ssim_hole", "hole SSIM"),
    ("l1_hole", "hole L1"),
    ("sharpness", "sharpness"),
    ("band_ssim_0", "finest-band SSIM"),
    ("time_s", "median s"),
    ("peak_mb", "peak MB"),
)

#: Methods run when none are named: the naive baseline (Telea at the working size, then bicubic) and the lifters.
DEFAULT_METHODS = ("telea+upsample", "telea+cra", "patchmatch+cra")

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
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method in self.methods:
            resolve_method(method)  # unknown methods fail before any work
        unknown = sorted(set(self.peers) - set(PEERS))
        if unknown:
            raise InputError(f"unknown peer {', '.join(unknown)}; known: {', '.join(PEERS)}")
        if not Path(self.data).is_dir():
            raise InputError(f"benchmark data '{self.data}' is not a directory")
        from hrinpaint.masks import mask_kinds

        unknown = sorted(set(self.masks) - set(mask_kinds()))
        if unknown:
            raise InputError(f"unknown mask kind {', '.join(unknown)}; known: {', '.join(mask_kinds())}")


def find_photos(data: str, limit: int | None = None) -> list[Path]:
    """Photos under ``data`` (recursive), sorted by path; at most ``limit``."""
    photos = sorted(p for p in Path(data).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise InputError(f"no photos under '{data}'")
    return photos[:limit] if limit else photos


def mask_seed(photo: Path, kind: str, size: int, offset: int) -> int:
    """A seed that depends only on the photo's name, the kind, the size and the offset (stable across runs)."""
    return zlib.crc32(f"{photo.stem}/{kind}/{size}".encode()) + offset


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def run_bench(config: BenchConfig, quiet: bool = False) -> MetricAccumulator:
    """Runs the benchmark and writes its outputs; returns the accumulated rows."""
    out = Path(config.out)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    photos = find_photos(config.data, config.limit)
    accumulator = MetricAccumulator()
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
                        sheet = side_by_side(holed, truth, mask, outputs, config.sheet_tile)
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
    columns = [key for key, _ in REPORT_COLUMNS]
    headers = dict(REPORT_COLUMNS)
    lines = [
        "# hrinpaint bench",
        "",
        f"data `{config.data}`, masks {', '.join(config.masks)}, working size {config.working_size}, "
        + (f"network weights `{config.weights}`, " if config.weights else "")
        + f"generated {time.strftime('%Y-%m-%d %H:%M')}. Hole metrics are over hole pixels; sharpness is the hole's "
        "Laplacian energy over the truth's (1 is ideal, below 1 is blur); time is the median per image.",
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


def side_by_side(
    holed: np.ndarray, truth: np.ndarray, mask: np.ndarray, outputs: dict[str, np.ndarray], tile: int
) -> np.ndarray:
    """A uint8 contact sheet: row 1 whole images scaled to ``tile`` px high, row 2 a full-resolution crop of
    ``tile`` x ``tile`` centred on the largest hole, so blur and seams are visible at every size."""
    from hrinpaint.ops.regions import connected_boxes

    shown = np.where(mask[:, :, None], np.float32([1.0, 0.0, 1.0]), holed)  # magenta hole in the input
    panels = {"input": shown, "truth": truth, **outputs}
    height, width = truth.shape[:2]
    small = (tile, max(1, round(width * tile / height))) if height > tile else (height, width)
    boxes = connected_boxes(mask)
    largest = max(boxes, key=lambda box: box.height * box.width)
    centre_y, centre_x = (largest.top + largest.bottom) // 2, (largest.left + largest.right) // 2
    crop_h, crop_w = min(tile, height), min(small[1], width)  # the crop is as wide as the scaled whole image
    top = int(np.clip(centre_y - crop_h // 2, 0, height - crop_h))
    left = int(np.clip(centre_x - crop_w // 2, 0, width - crop_w))
    columns = []
    for name, image in panels.items():
        whole = area_downsample(image, small) if small != (height, width) else image
        crop = image[top : top + crop_h, left : left + crop_w]
        pad_w = max(whole.shape[1], crop.shape[1])
        column = np.zeros((whole.shape[0] + crop.shape[0] + 4, pad_w, 3), np.float32)
        column[: whole.shape[0], : whole.shape[1]] = whole
        column[whole.shape[0] + 4 :, : crop.shape[1]] = crop
        column = _label((np.clip(column, 0, 1) * 255 + 0.5).astype(np.uint8), name)
        columns.append(column)
        columns.append(np.full((column.shape[0], 4, 3), 255, np.uint8))
    return np.concatenate(columns[:-1], axis=1)


__all__ = ["BenchConfig", "find_photos", "render_report", "run_bench", "side_by_side"]
