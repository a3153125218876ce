"""A training pack that travels to a GPU machine, and the timed run of the four families there.

The GPU machine gets only the repository's working tree (64 MiB at most), no ``../shared`` and no network. So
:func:`build_pack` makes, here, a folder holding everything the run needs: the training photos resized, the pools
of crops with the default's fill cached (JPEG-compressed, one for the fillers' families and one of regions with
their stage 1 for ``shift``) and the validation photos. :func:`train_families` runs there: the four families one
after the other in one process, each fine-tuned from its shipped weights at the papers' resolution and batch size
for its share of the time, validated against the default on the pack's validation photos, and exported (weights
and manifest) to the output folder. ``scripts/gpu_pack.sh`` and ``scripts/train_gpu.sh`` call these.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from hrinpaint.io import find_photos, to_float
from hrinpaint.masks.schedule import ProgressiveSchedule
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch, PhotoCrops, load_rgb8
from hrinpaint.train.pool import PrefillPool, Stage1Pool

if TYPE_CHECKING:
    from hrinpaint.train.base import Trainer

#: The families and what each trains at on the GPU: the papers' resolution (HiFill and the Pyramid Generator
#: 512 px; Zoom-to-Inpaint's labels 512 px, its input half that, batch 16; shift's crops 512 px) and batch size
#: (HiFill 8, Zoom-to-Inpaint 16; 8 where the paper gives none), every network prefilled with the default's fill
#: and, where the trainer has it, its loss on the band the filler keeps (band = 3 px at 512, the fillers' default).
FAMILIES: dict[str, dict[str, Any]] = {
    "hifill": {
        "model": {"width": 16, "prefill": "patchmatch"},
        "data": {"crop": 512},
        "batch_size": 8,
        "losses": {"band": 3.0},
    },
    "zoom": {
        "model": {"width": 16, "gate": "pw", "sr_width": 16, "sr_blocks": 4, "zoom": "sr", "prefill": "patchmatch"},
        "data": {"crop": 512},
        "batch_size": 16,
        "losses": {"gradient_weight": 1.0},
    },
    "pyramid": {
        "model": {"levels": 3, "width": 16, "gate": "pw", "prefill": "patchmatch"},
        "options": {"level_weights": [10.0, 1.0, 1.0]},
        "data": {"crop": 512},
        "batch_size": 8,
    },
    "shift": {
        "model": {"width": 16, "depth": 4, "shift": 0.2},
        "options": {"factor": [2, 4]},
        "data": {"crop": 512},
        "batch_size": 8,
        "losses": {"band": 3.0, "gradient_weight": 0.5, "tv_weight": 0.1},
    },
}
#: The pack's pool each family draws from: the default's fill of crops, or regions with their stage 1.
POOLS = {"hifill": "fill", "zoom": "fill", "pyramid": "fill", "shift": "stage1"}


@dataclass(frozen=True)
class PackSpec:
    """What :func:`build_pack` puts in a pack.

    Attributes:
        photos: training photos kept (spread over those that hold a native crop), resized to long side
            ``photo_side``.
        fill_cases, stage1_cases: cases in the fillers' pool and in ``shift``'s.
        fresh_photos: photos (of ``photos``, spread) kept in the pack as they are, from which the GPU machine's
            processors cut and fill new cases while it trains (:class:`FreshCases`); 0 for none. With ``quality``
            88 the defaults make a pack of 31.9 MB: with the 28.7 MB repository, under the 64 MiB a GPU machine
            is sent.
        crop: the pools' crop side.
        val_photos, val_side: validation photos (of the validation folder) and their long side.
        quality: JPEG quality of the photos and the pools' pixels.
    """

    photos: int = 200
    photo_side: int = 768
    fill_cases: int = 120
    stage1_cases: int = 48
    fresh_photos: int = 120
    crop: int = 512
    val_photos: int = 12
    val_side: int = 256
    quality: int = 88


def _encode(pixels: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def _decode(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def _joined(blobs: list[bytes]) -> dict[str, np.ndarray]:
    """Encoded blobs as one byte array and their offsets (what :func:`_split` decodes)."""
    offsets = np.cumsum([0] + [len(blob) for blob in blobs]).astype(np.int64)
    return {"data": np.frombuffer(b"".join(blobs), np.uint8), "offsets": offsets}


def _split(stored: Any) -> list[np.ndarray]:
    """The images of a :func:`_joined` store (an open ``.npz``), decoded."""
    data, offsets = stored["data"], stored["offsets"]
    return [_decode(data[start:stop]) for start, stop in zip(offsets[:-1], offsets[1:], strict=True)]


def _hole_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box ``(top, bottom, left, right)`` of a hole (the whole crop for an empty one)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return 0, mask.shape[0], 0, mask.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def save_pool(pool: PrefillPool, path: Path, quality: int) -> None:
    """Writes a pool's cases compactly: JPEG-coded photos, bit-packed holes and, of each fill, only its hole's
    bounding box (outside the hole a fill is the photo: the filler keeps every known pixel)."""
    boxes = np.array([_hole_box(mask) for mask in pool.masks], np.int32).reshape(-1, 4)
    blobs = []
    for image, prefill, (top, bottom, left, right) in zip(pool.images, pool.prefills, boxes, strict=True):
        blobs += [_encode(image, quality), _encode(prefill[top:bottom, left:right], quality)]
    np.savez(
        path,
        **_joined(blobs),
        masks=np.packbits(pool.masks, axis=-1),
        shape=np.array(pool.masks.shape),
        boxes=boxes,
    )


class PackedPool(PrefillPool):
    """A pool read from a pack (:func:`save_pool`); batches as any pool's, each case turned by one of the eight
    flips and quarter turns of the square (drawn by ``(seed, step)``) when ``augment`` is set: a pack holds a few
    hundred cases, which a GPU run would otherwise see dozens of times each in the same pose."""

    def __init__(self, path: str | Path, seed: int = 0, augment: bool = False) -> None:
        with np.load(path) as stored:
            self.masks = np.unpackbits(stored["masks"], axis=-1, count=stored["shape"][-1]).astype(bool)
            boxes, arrays = stored["boxes"], _split(stored)
        self.images = np.stack(arrays[0::2])
        self.prefills = self.images.copy()
        for prefill, inside, (top, bottom, left, right) in zip(self.prefills, arrays[1::2], boxes, strict=True):
            prefill[top:bottom, left:right] = inside
        self.size, self.seed, self.path, self.augment = len(self.masks), seed, Path(path), augment
        self._threads: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[int, int], Future] = {}
        self.fresh: FreshCases | None = None  # set it to mix new cases in (the batches are then no pure function)
        self._lock, self._next = threading.Lock(), 0

    def batch(self, step: int, size: int) -> Batch:
        """The cases :class:`PrefillPool` would draw for ``step``, posed; the next batches are made meanwhile on
        threads (a batch is a pure function of the step: making it took most of a GPU step in the first run)."""
        if self._threads is None:
            self._threads, self._ahead = ThreadPoolExecutor(2), {}
        made = self._ahead.pop((step, size), None)
        for ahead in (1, 2):
            if (step + ahead, size) not in self._ahead:
                self._ahead[step + ahead, size] = self._threads.submit(self._make, step + ahead, size)
        for key in [key for key in self._ahead if key[0] < step]:
            self._ahead.pop(key).cancel()
        return made.result() if made is not None else self._make(step, size)

    def _make(self, step: int, size: int) -> Batch:
        """The batch of ``step``: posed while still 8-bit (on the pixels as floats the turns cost more)."""
        with self._lock:
            if self.fresh is not None:  # new cases replace the oldest, the pool a window sliding over them
                for image, mask, prefill in self.fresh.take(size):
                    slot, self._next = self._next, (self._next + 1) % self.size
                    self.images[slot], self.masks[slot], self.prefills[slot] = image, mask, prefill
            if not self.augment:
                return super().batch(step, size)
            picks = np.random.default_rng([self.seed, step]).integers(self.size, size=size)
            images, prefills, masks = self.images[picks], self.prefills[picks], self.masks[picks]
        poses = np.random.default_rng([self.seed, step, 8]).integers(8, size=size)
        for index, pose in enumerate(poses):
            for arrays in (images, prefills, masks):
                turned = np.rot90(arrays[index], int(pose) % 4)
                arrays[index] = turned[:, ::-1] if pose >= 4 else turned
        return Batch(
            torch.from_numpy(to_float(images).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(masks[:, None].astype(np.float32)),
            torch.from_numpy(to_float(prefills).transpose(0, 3, 1, 2).copy()),
        )


class FreshCases:
    """Processes that cut new cases from a pack's photos (``photos.npz``) and fill them as the pool of ``kind``
    fills its own (``fill``: the default filler; ``stage1``: the default method at a fraction of the size), while a
    run trains on the GPU: a few hundred cached cases are otherwise seen dozens of times each in a few minutes.

    Args:
        pack: the pack's folder.
        kind: ``fill`` or ``stage1`` (:data:`POOLS`).
        workers: processes (each on one thread).
        crop: the cases' side.
        seed: seeds the processes' draws (each process its own stream).
    """

    def __init__(self, pack: str | Path, kind: str, workers: int, crop: int, seed: int = 0) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork after CUDA has started
        self.queue, self.stop = context.Queue(maxsize=16 * workers), context.Event()
        self.processes = [
            context.Process(
                target=_produce, args=(str(pack), kind, crop, seed, index, self.queue, self.stop), daemon=True
            )
            for index in range(workers)
        ]
        for process in self.processes:
            process.start()
        self.taken = 0

    def take(self, limit: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Up to ``limit`` cases made since the last call (``image``, ``mask``, ``prefill``; uint8, bool,
        uint8), without waiting."""
        import queue

        cases = []
        while len(cases) < limit:
            try:
                cases.append(self.queue.get_nowait())
            except queue.Empty:
                break
        self.taken += len(cases)
        return cases

    def close(self) -> None:
        """Stops the processes."""
        self.stop.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=5)


def _produce(pack: str, kind: str, crop: int, seed: int, worker: int, queue: Any, stop: Any) -> None:
    """A :class:`FreshCases` process: draws cases as the pool of ``kind`` draws its own (hole scales spread over the
    pack's schedule) and puts them, 8-bit, on ``queue`` until ``stop`` is set."""
    import queue as queues

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with np.load(Path(pack) / "photos.npz") as stored:
        crops = PhotoCrops.from_arrays(_split(stored), crop, pack_schedule(), seed)
    pool_kind = Stage1Pool if kind == "stage1" else PrefillPool
    drawer = pool_kind.drawer(crops, 10**6, seed=1000 * (seed + 1) + worker)
    rng = np.random.default_rng([seed, worker, 31])
    while not stop.is_set():
        case = drawer.filled_case(int(rng.integers(drawer.size)))
        while not stop.is_set():
            try:
                queue.put(case, timeout=0.5)
                break
            except queues.Full:
                continue


def pack_schedule() -> ProgressiveSchedule:
    """The holes of a pack's cases (its pools' and the fresh ones'): the kinds the papers train on, at half to full
    scale, spread over the cases."""
    return ProgressiveSchedule(0.5, 1.0, 300, ("thick", "medium", "deepfill", "box"))


def build_pack(out: str | Path, data: str | Path, val_data: str | Path, spec: PackSpec, log: Any = print) -> None:
    """Builds the pack in ``out`` (replacing one there): ``val/`` (validation photos), ``fill.npz`` and
    ``stage1.npz`` (the pools, cut from the training photos resized to ``photo_side``; the photos themselves stay
    here: the run reads only the pools)."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "val").mkdir(parents=True)
    for path in find_photos(val_data)[: spec.val_photos]:
        cv2.imwrite(str(out / "val" / f"{path.stem}.png"), load_rgb8(path, spec.val_side)[..., ::-1])
    schedule = pack_schedule()
    with tempfile.TemporaryDirectory() as cache:
        photos = Path(cache) / "photos"
        photos.mkdir()
        blobs = []
        for path in _photos_for(data, spec):
            blobs.append(_encode(load_rgb8(path, spec.photo_side, spec.crop), spec.quality))
            (photos / f"{path.stem}.jpg").write_bytes(blobs[-1])
        if spec.fresh_photos > 0:
            picks = np.linspace(0, len(blobs) - 1, min(spec.fresh_photos, len(blobs))).round().astype(int)
            np.savez(out / "photos.npz", **_joined([blobs[index] for index in picks]))
        crops = PhotoCrops(photos, spec.crop, schedule, preload_side=spec.photo_side)
        for name, kind, cases in (("fill", PrefillPool, spec.fill_cases), ("stage1", Stage1Pool, spec.stage1_cases)):
            began = time.perf_counter()
            pool = kind(crops, cases, cache)
            save_pool(pool, out / f"{name}.npz", spec.quality)
            log(f"{name}: {cases} cases in {time.perf_counter() - began:.0f} s")
    (out / "pack.json").write_text(json.dumps({"spec": spec.__dict__, "data": str(data)}, indent=2) + "\n")
    megabytes = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 2**20
    log(f"pack {out}: {megabytes:.1f} MB")


def _photos_for(data: str | Path, spec: PackSpec) -> list[Path]:
    """``spec.photos`` training photos spread evenly over those whose short side holds a native crop (a photo
    upscaled to the crop would teach blur; the first photos by name are often one small dataset)."""
    fit = []
    for path in find_photos(data):
        shape = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2).shape  # half size: quick, enough to sort
        if 2 * min(shape) >= spec.crop:
            fit.append(path)
    if not fit:
        raise ValueError(f"no photo in {data} has a short side of {spec.crop} px")
    picks = np.linspace(0, len(fit) - 1, min(spec.photos, len(fit))).round().astype(int)
    return [fit[index] for index in picks]


def family_config(family: str, pack: Path, seconds: float, steps: int, tiny: bool) -> TrainConfig:
    """The training config of ``family`` on ``pack``: its :data:`FAMILIES` entry, fine-tuned from the shipped
    weights (``tiny``: a tiny fresh network at 32 px, for the CPU test of the scripts)."""
    from hrinpaint.fillers.network import shipped_weights

    values = copy.deepcopy(FAMILIES[family])
    values.update(
        family=family,
        steps=steps,
        time_limit=seconds,
        lr=1e-4,
        lr_final=1e-5,
        device="auto",
        log_every=25,
        val_every=10**9,
        checkpoint_every=200,
        init=str(shipped_weights(f"{family}.safetensors")),
    )
    # batches come from the pack's pools, so the folder the manifest records as the data is the pack
    data = {"folder": str(pack), "val_folder": str(pack / "val"), "val_size": 256, "val_masks": ["thick"]}
    values["data"] = {**values["data"], **data}
    if tiny:
        small = {"hifill": {"width": 4, "coarse_dilations": [1], "refine_dilations": [2]}, "shift": {"depth": 2}}
        values.update(batch_size=2, init=None, log_every=1)
        values["data"].update(crop=32, val_size=32)
        values["model"] = {**values["model"], "width": 4, **small.get(family, {})}
    return TrainConfig.from_dict(values)


def train_families(
    pack: str | Path,
    out: str | Path,
    minutes: float = 7.0,
    steps: int = 10**6,
    tiny: bool = False,
    log: Any = print,
    families: tuple[str, ...] = tuple(FAMILIES),
    fresh_workers: int = 0,
) -> dict[str, Any]:
    """Trains every family on ``pack`` for an equal share of ``minutes`` and exports each to ``out``
    (``<family>.safetensors`` and its manifest, the validation against the default included). With
    ``fresh_workers`` (and photos in the pack) that many processes make new cases meanwhile (:class:`FreshCases`);
    the manifest records how many went in (``training.fresh_cases``)."""
    from hrinpaint.nn.weights import manifest_path
    from hrinpaint.train.export import export_run

    pack, out = Path(pack), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if torch.cuda.is_available():  # fixed shapes: let cuDNN pick its fastest convolutions; TF32 matrix products
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    deadline = time.perf_counter() + minutes * 60.0
    manifests, failed = {}, []
    with tempfile.TemporaryDirectory() as runs:
        for index, family in enumerate(families):
            # an equal share of what is left: time spent validating (or a family that failed early) is shared out
            share = max(1.0, (deadline - time.perf_counter()) / (len(families) - index))
            began, run, fresh = time.perf_counter(), Path(runs) / family, None
            try:
                config = family_config(family, pack, share, steps, tiny)
                dataset = PackedPool(pack / f"{POOLS[family]}.npz", config.seed, augment=True)
                if tiny:
                    dataset = _shrunk(dataset, config.data.crop)
                if fresh_workers > 0 and (pack / "photos.npz").exists():
                    fresh = FreshCases(pack, POOLS[family], fresh_workers, config.data.crop, config.seed)
                    dataset.fresh = fresh
                trained = _train_in_time(
                    config.replace(data={"pool": len(dataset), "val_folder": None}),
                    run,
                    dataset,
                    timed=steps >= 10**6,
                    log=log,
                )
                validation = _validate(trained, config)
                manifests[family] = manifest = export_run(run, out / f"{family}.safetensors", validation)
                if fresh is not None:
                    manifest["training"]["fresh_cases"] = fresh.taken
                    manifest_path(out / f"{family}.safetensors").write_text(json.dumps(manifest, indent=2) + "\n")
            except Exception:  # one family's failure must not cost the others their share of a lent GPU
                log(f"{family} failed:\n{traceback.format_exc()}")
                failed.append(family)
                continue
            finally:
                if fresh is not None:
                    fresh.close()
            log(
                f"{family}: {manifests[family]['training']['steps']} steps in {time.perf_counter() - began:.0f} s"
                f"{f', {fresh.taken} fresh cases' if fresh is not None else ''}, validation {json.dumps(validation)}"
            )
    if failed:
        raise RuntimeError(f"families failed: {', '.join(failed)} (the others were exported)")
    return manifests


def _train_in_time(config: TrainConfig, run: Path, dataset: PrefillPool, timed: bool, log: Any) -> Trainer:
    """Trains ``config`` into ``run``. A ``timed`` run (bounded by ``config.time_limit``, not by its steps)
    first trains a sixth of its time (20 s at most: half to warm up, half to measure its pace once warm), then
    resumes with the steps that fit in the rest, so that the learning rate's cosine ends with the time."""
    from hrinpaint.train.loop import load_checkpoint, train

    if not timed:
        return train(config, run, dataset=dataset)
    probe = min(20.0, config.time_limit / 6)
    train(config.replace(time_limit=probe / 2), run, dataset=dataset)  # warm-up: cuDNN's search, first kernels
    warm = load_checkpoint(run)
    train(config.replace(time_limit=float(warm["elapsed"]) + probe / 2), run, resume=True, dataset=dataset)
    state = load_checkpoint(run)
    done, elapsed = int(state["step"]), float(state["elapsed"])
    pace = (done - int(warm["step"])) / max(elapsed - float(warm["elapsed"]), 1e-6)
    total = done + int(pace * max(config.time_limit - elapsed, 0.0) * 0.95)
    log(f"{config.family}: {done} steps in {elapsed:.1f} s ({pace:.2f} steps/s warm), planning {total}")
    return train(config.replace(steps=max(total, done + 1)), run, resume=True, dataset=dataset)


def _validate(trainer: Trainer, config: TrainConfig) -> dict[str, Any]:
    """The trained generator (``train`` returns it in the state of its last checkpoint) validated on the pack's
    photos (``config``'s validation set) against the default (object-free: thick holes). The trainer keeps the
    config it was trained with, so shift is scored on the stage 1 it trained on (the default's output)."""
    from hrinpaint.train.data import validation_set

    data = config.data
    assert data.val_folder is not None
    items = validation_set(data.val_folder, data.val_size, data.val_masks)
    return {"data": data.val_folder, "masks": list(data.val_masks), **trainer.validate(items)}


def _shrunk(pool: PrefillPool, crop: int) -> PrefillPool:
    """The pool's cases resized to ``crop`` (the CPU test of the scripts trains tiny networks on tiny crops)."""

    def resized(arrays: np.ndarray, interpolation: int) -> np.ndarray:
        return np.stack([cv2.resize(a, (crop, crop), interpolation=interpolation) for a in arrays])

    pool.images = resized(pool.images, cv2.INTER_AREA)
    pool.prefills = resized(pool.prefills, cv2.INTER_AREA)
    pool.masks = resized(pool.masks.astype(np.uint8), cv2.INTER_NEAREST).astype(bool)
    return pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrinpaint.train.gpu", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack", help="build a training pack")
    pack.add_argument("out")
    pack.add_argument("--data", default="../shared/data/train")
    pack.add_argument("--val-data", default="../shared/data/eval/kodak")
    for name, value in PackSpec().__dict__.items():
        pack.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    run = commands.add_parser("train", help="train the four families on a pack and export them")
    run.add_argument("pack")
    run.add_argument("out")
    run.add_argument("--minutes", type=float, default=7.0)
    run.add_argument("--steps", type=int, default=10**6)
    run.add_argument("--tiny", action="store_true", help="tiny networks on tiny crops (the scripts' CPU test)")
    run.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families to train, in order")
    run.add_argument(
        "--fresh-workers",
        type=int,
        default=-1,
        help="processes making new cases from the pack's photos while training (-1: all processors but 4 where CUDA "
        "is, else 0)",
    )
    args = parser.parse_args(argv)
    if args.command == "pack":
        spec = PackSpec(**{name: getattr(args, name) for name in PackSpec().__dict__})
        build_pack(args.out, args.data, args.val_data, spec)
    else:
        families = tuple(name.strip() for name in args.families.split(",") if name.strip())
        unknown = [name for name in families if name not in FAMILIES]
        if unknown:
            parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
        workers = args.fresh_workers
        if workers < 0:
            workers = max(0, (os.cpu_count() or 1) - 4) if torch.cuda.is_available() else 0
        train_families(
            args.pack, args.out, args.minutes, args.steps, args.tiny, families=families, fresh_workers=workers
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
