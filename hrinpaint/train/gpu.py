"""A training pack that travels to a GPU machine, and the timed run of the four families there.

The GPU machine gets only the repository's working tree (64 MiB at most), no ``../shared`` and no network. So
:func:`build_pack` makes, here, a folder holding everything the run needs: the training photos resized, the pools
of crops with the default's fill cached (JPEG-compressed, one for the fillers' families and one of regions with
their stage 1 for ``shift``), photos for fresh cases, the validation photos and the method check's
(:mod:`hrinpaint.train.check`). :func:`train_families` runs there: the four families one after the other in one
process, each shipped network fine-tuned as it was trained (its prefill, its resolution) with the papers' batch size
for its share of the time, checked twice on the way through its method as a user runs it against the default and
the shipped weights, and its best checkpoint exported (weights and manifest) to the output folder.
``scripts/gpu_pack.sh`` and ``scripts/train_gpu.sh`` call these.
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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from hrinpaint.io import find_photos, from_float, to_float
from hrinpaint.masks.schedule import ProgressiveSchedule
from hrinpaint.train import blobs
from hrinpaint.train.base import INIT_BATCH_STEP
from hrinpaint.train.check import CHECK_MASKS, MethodCheck, save_check
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch, PhotoCrops, load_rgb8
from hrinpaint.train.pool import PrefillPool, Stage1Pool

if TYPE_CHECKING:
    from hrinpaint.train.base import Trainer

#: The families and what each trains with on the GPU: the papers' batch size (HiFill 8, Zoom-to-Inpaint 16; 8
#: where the paper gives none) and losses. The network is the shipped one (its manifest's config, prefill
#: included), fine-tuned; ``model`` here is the tiny test's (and a from-scratch run's) network. ``band`` applies on the
#: default's prefill only (the loss on the change the filler keeps): see :func:`family_config`.
FAMILIES: dict[str, dict[str, Any]] = {
    "hifill": {"model": {"width": 16, "prefill": "telea"}, "batch_size": 8, "losses": {}},
    "zoom": {
        "model": {"width": 16, "gate": "pw", "sr_width": 16, "sr_blocks": 4, "zoom": "sr", "prefill": "telea"},
        "batch_size": 16,
        "losses": {"gradient_weight": 1.0},
    },
    "pyramid": {
        "model": {"levels": 3, "width": 16, "gate": "pw", "prefill": "telea"},
        "options": {"level_weights": [10.0, 1.0, 1.0]},
        "batch_size": 8,
        "losses": {},
    },
    "shift": {
        "model": {"width": 16, "depth": 4, "shift": 0.2},
        "options": {"factor": [2, 4]},
        "batch_size": 8,
        "losses": {"gradient_weight": 0.5, "tv_weight": 0.1},
    },
}
#: The band (px at the crop) of the loss on the change a filler keeps, with the default's prefill.
BAND = {"hifill": 3.0, "shift": 3.0}
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
            88 the defaults make a pack of 33.5 MiB: with the 27.4 MiB repository, under the 64 MiB a GPU machine
            is sent.
        crop: the pools' crop side.
        val_photos, val_side: validation photos (the validation folder's first) and their long side.
        check_photos, check_side: the method check's photos (the validation folder's last; apart from the
            validation photos where it holds enough) and their long side (:mod:`hrinpaint.train.check`).
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
    check_photos: int = 12
    check_side: int = 768
    quality: int = 88


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
    encoded = []
    for image, prefill, (top, bottom, left, right) in zip(pool.images, pool.prefills, boxes, strict=True):
        encoded += [blobs.encode(image, quality), blobs.encode(prefill[top:bottom, left:right], quality)]
    np.savez(
        path,
        **blobs.joined(encoded),
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
            boxes, arrays = stored["boxes"], blobs.split(stored)
        self.images = np.stack(arrays[0::2])
        self.prefills = self.images.copy()
        for prefill, mask, inside, (top, bottom, left, right) in zip(
            self.prefills, self.masks, arrays[1::2], boxes, strict=True
        ):  # the hole's pixels only: the known ones in its box stay the photo's (no second JPEG error on them)
            box = prefill[top:bottom, left:right]
            box[mask[top:bottom, left:right]] = inside[mask[top:bottom, left:right]]
        self.size, self.seed, self.path, self.augment = len(self.masks), seed, Path(path), augment
        #: threads that make batches, each one batch ahead (set before the first batch): more where a batch's
        #: prefill is made on them (``transform``), which costs more than a GPU step
        self.threads = 2
        self._threads: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[int, int], Future] = {}
        self.fresh: FreshCases | None = None  # set it to mix new cases in (the batches are then no pure function)
        # what a batch's prefill is: the cached default fill; None (the trainer makes its own), or the batch made
        # by ``transform(batch, step)`` on the threads that make batches ahead (a Telea fill: CPU work)
        self.keep_prefill = True
        self.transform: Callable[[Batch, int], Batch] | None = None
        self._lock, self._next = threading.Lock(), 0

    def batch(self, step: int, size: int) -> Batch:
        """The cases :class:`PrefillPool` would draw for ``step``, posed; the next batches are made meanwhile on
        threads (a batch is a pure function of the step: making it took most of a GPU step in the first run)."""
        if self._threads is None:
            self._threads, self._ahead = ThreadPoolExecutor(self.threads), {}
        made = self._ahead.pop((step, size), None)
        for ahead in range(1, self.threads + 1 if step < INIT_BATCH_STEP else 1):  # none after the init's batch
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
                plain = super().batch(step, size)
        if not self.augment:
            return self._finished(plain, step)
        with self._lock:
            picks = np.random.default_rng([self.seed, step]).integers(self.size, size=size)
            images, masks = self.images[picks], self.masks[picks]
            prefills = self.prefills[picks] if self.keep_prefill else None  # else dropped: neither posed nor made
        poses = np.random.default_rng([self.seed, step, 8]).integers(8, size=size)
        for index, pose in enumerate(poses):
            for arrays in (images, prefills, masks):
                if arrays is not None:
                    turned = np.rot90(arrays[index], int(pose) % 4)
                    arrays[index] = turned[:, ::-1] if pose >= 4 else turned
        batch = Batch(
            torch.from_numpy(to_float(images).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(masks[:, None].astype(np.float32)),
            None if prefills is None else torch.from_numpy(to_float(prefills).transpose(0, 3, 1, 2).copy()),
        )
        return self._finished(batch, step)

    def _finished(self, batch: Batch, step: int) -> Batch:
        if not self.keep_prefill:
            batch = Batch(batch.image, batch.mask)
        return batch if self.transform is None else self.transform(batch, step)


class FreshCases:
    """Processes that cut new cases from a pack's photos (``photos.npz``) and fill them as the pool of ``kind``
    fills its own (``fill``: the default filler; ``stage1``: the default method at a fraction of the size), while a
    run trains on the GPU: a few hundred cached cases are otherwise seen dozens of times each in a few minutes.

    Args:
        pack: the pack's folder.
        kind: ``fill`` or ``stage1`` (:data:`POOLS`).
        workers: processes (each on one thread).
        crop: the side the cases are cut at (the pack's crop).
        seed: seeds the processes' draws (each process its own stream).
        filled: each case with its pool's fill (else the photo stands in: a run that makes its own prefill).
        side: the side the cases are brought to, as the pool's are (0: ``crop``).
    """

    def __init__(
        self,
        pack: str | Path,
        kind: str,
        workers: int,
        crop: int,
        seed: int = 0,
        filled: bool = True,
        side: int = 0,
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork after CUDA has started
        self.queue, self.stop = context.Queue(maxsize=16 * workers), context.Event()
        self.processes = [
            context.Process(
                target=_produce,
                args=(str(pack), kind, crop, seed, index, self.queue, self.stop, filled, side or crop),
                daemon=True,
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


def _produce(
    pack: str, kind: str, crop: int, seed: int, worker: int, queue: Any, stop: Any, filled: bool, side: int
) -> None:
    """A :class:`FreshCases` process: draws cases as the pool of ``kind`` draws its own (hole scales spread over the
    pack's schedule) and puts them, 8-bit, on ``queue`` until ``stop`` is set; unless ``filled``, without the
    pool's fill (the photo stands in for it: a run that makes its own prefill, cases by the hundred a second);
    brought to ``side`` as the pool's cases are (:func:`_shrunk`)."""
    import queue as queues

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with np.load(Path(pack) / "photos.npz") as stored:
        crops = PhotoCrops.from_arrays(blobs.split(stored), crop, pack_schedule(), seed)
    pool_kind = Stage1Pool if kind == "stage1" else PrefillPool
    drawer = pool_kind.drawer(crops, 10**6, seed=1000 * (seed + 1) + worker)
    rng = np.random.default_rng([seed, worker, 31])
    while not stop.is_set():
        index = int(rng.integers(drawer.size))
        if filled:
            case = drawer.filled_case(index)
        else:
            image, mask = drawer.case(index)
            pixels = from_float(image, np.uint8)
            case = (pixels, mask, pixels)
        case = _resized_case(*case, side)
        while not stop.is_set():
            try:
                queue.put(case, timeout=0.5)
                break
            except queues.Full:
                continue


def pack_schedule() -> ProgressiveSchedule:
    """The holes of a pack's cases (its pools' and the fresh ones'), at half to full scale, spread over the cases:
    a third real objects' silhouettes (the holes of users' removals and of the bench's ``object`` cases), the rest
    the kinds the papers train on."""
    return ProgressiveSchedule(0.5, 1.0, 300, ("object", "object", "thick", "medium", "deepfill", "box"))


def build_pack(out: str | Path, data: str | Path, val_data: str | Path, spec: PackSpec, log: Any = print) -> None:
    """Builds the pack in ``out`` (replacing one there): ``val/`` (validation photos), ``fill.npz`` and
    ``stage1.npz`` (the pools, cut from the training photos resized to ``photo_side``; the photos themselves stay
    here: the run reads only the pools)."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "val").mkdir(parents=True)
    val_photos = find_photos(val_data)
    for path in val_photos[: spec.val_photos]:
        cv2.imwrite(str(out / "val" / f"{path.stem}.png"), load_rgb8(path, spec.val_side)[..., ::-1])
    if spec.check_photos > 0:
        save_check(val_photos[-spec.check_photos :], out / "check.npz", spec.check_side)
    schedule = pack_schedule()
    with tempfile.TemporaryDirectory() as cache:
        photos = Path(cache) / "photos"
        photos.mkdir()
        encoded = []
        for path in _photos_for(data, spec):
            encoded.append(blobs.encode(load_rgb8(path, spec.photo_side, spec.crop), spec.quality))
            (photos / f"{path.stem}.jpg").write_bytes(encoded[-1])
        if spec.fresh_photos > 0:
            picks = np.linspace(0, len(encoded) - 1, min(spec.fresh_photos, len(encoded))).round().astype(int)
            np.savez(out / "photos.npz", **blobs.joined([encoded[index] for index in picks]))
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


def family_config(
    family: str,
    pack: Path,
    seconds: float,
    steps: int,
    tiny: bool,
    prefill: str = "",
    crop: int = 0,
    band: float = -1.0,
) -> TrainConfig:
    """The training config of ``family`` on ``pack``: the shipped network fine-tuned (its manifest's model config)
    with :data:`FAMILIES`' batch size and losses (``tiny``: a tiny fresh network at 32 px, for the CPU test).

    ``prefill`` (empty: the shipped network's own, Telea's for all four) is what the network starts from:
    ``telea`` (``shift``: its simulated Telea stage 1), or ``patchmatch`` (``shift``: ``default``), the pack's
    cached default fills, with the loss on the band the filler keeps. ``crop`` (0: the shipped network's
    resolution, 256 px, ``shift`` 192) is the cases' side; the pack's are 512 px, brought down by area. ``band``
    (>= 0) sets the loss's band split (px at the crop) of ``hifill`` and ``shift``, whatever the prefill.
    """
    from hrinpaint.fillers.network import shipped_weights
    from hrinpaint.nn.weights import read_manifest

    shipped = shipped_weights(f"{family}.safetensors")
    manifest = read_manifest(shipped)
    values = copy.deepcopy(FAMILIES[family])
    model = dict(values["model"]) if tiny else dict(manifest["config"])
    cached = uses_pack_fills(prefill)
    if family != "shift":
        model["prefill"] = "patchmatch" if cached else (prefill or model.get("prefill", "telea"))
    losses = dict(values["losses"])
    if cached and family in BAND:
        losses["band"] = BAND[family]
    if band >= 0 and family in BAND:  # zoom's and pyramid's trainers have no band split
        losses["band"] = band
    values.update(
        family=family,
        model=model,
        losses=losses,
        steps=steps,
        time_limit=seconds,
        lr=1e-4,
        lr_final=1e-5,
        device="auto",
        log_every=25,
        val_every=10**9,
        checkpoint_every=200,
        init=None if tiny else str(shipped),
    )
    side = crop or (32 if tiny else int(manifest["training"]["resolution"]))
    # batches come from the pack's pools, so the folder the manifest records as the data is the pack; ``pool`` > 0
    # tells the trainer a batch's prefill is the pool's cached one (the default's), 0 that it makes its own
    data = {"folder": str(pack), "val_folder": str(pack / "val"), "val_size": min(side, 256), "val_masks": ["thick"]}
    values["data"] = {**values.get("data", {}), **data, "crop": side}
    if tiny:
        small = {"hifill": {"width": 4, "coarse_dilations": [1], "refine_dilations": [2]}, "shift": {"depth": 2}}
        values.update(batch_size=2, log_every=1)
        values["model"] = {**values["model"], "width": 4, **small.get(family, {})}
    return TrainConfig.from_dict(values)


def _telea_batches(config: TrainConfig) -> Callable[[Batch, int], Batch] | None:
    """What the batch threads do to a batch of a run that makes its own prefill, as its trainer would on the main
    thread: ``hifill`` gets its Telea fill, ``shift`` its simulated Telea stage 1, ``pyramid`` its levels' Telea
    fills (``Batch.level_prefills``: three levels of 8 at 256 px took ~0.2 s on this CPU, on the GPU machine's
    main thread that would have bounded the run to ~5 steps/s); ``zoom`` fills its smaller input itself (its
    trainer draws the step's masks) (None)."""
    from hrinpaint.fillers.network import batch_prefill

    if config.family == "hifill":
        kind = str(config.model.get("prefill", "telea"))
        return lambda batch, step: Batch(batch.image, batch.mask, batch_prefill(batch.image, batch.mask, kind))
    if config.family == "shift":
        from hrinpaint.train.shift import ShiftOptions, simulated_stage1
        from hrinpaint.train.typed import checked

        options = checked(ShiftOptions, config.options, "shift trainer options")
        return lambda batch, step: simulated_stage1(batch, config.seed, step, options)
    if config.family == "pyramid":
        from hrinpaint.nn.pyramid import PyramidConfig
        from hrinpaint.train.pyramid import level_prefills
        from hrinpaint.train.typed import checked

        model = checked(PyramidConfig, config.model, "pyramid model")
        if model.prefill == "none":
            return None
        return lambda batch, step: replace(
            batch, level_prefills=level_prefills(batch.image, batch.mask, model.levels, model.prefill)
        )
    return None


def uses_pack_fills(prefill: str) -> bool:
    """Whether a run with ``prefill`` (:func:`family_config`'s) starts from the pack's cached default fills (else
    the trainer makes its own Telea fill of each batch)."""
    return prefill in ("patchmatch", "default")


def train_families(
    pack: str | Path,
    out: str | Path,
    minutes: float = 7.0,
    steps: int = 10**6,
    tiny: bool = False,
    log: Any = print,
    families: tuple[str, ...] = tuple(FAMILIES),
    fresh_workers: int = 0,
    check_workers: int = 1,
    checks: int = 2,
    prefill: str = "",
    crop: int = 0,
    band: float = -1.0,
) -> dict[str, Any]:
    """Trains every family on ``pack`` for an equal share of ``minutes`` and exports each to ``out``
    (``<family>.safetensors`` and its manifest). With ``fresh_workers`` (and photos in the pack) that many processes
    make new cases meanwhile (:class:`FreshCases`); the manifest records how many went in (``training.fresh_cases``).

    With the pack's method check (``check.npz``) each family's run is exported ``checks`` times, at even fractions
    of its time (of its steps when ``steps`` bounds it), and each of those checkpoints scored through its method as
    a user runs it by ``check_workers`` processes (:class:`~hrinpaint.train.check.MethodCheck`) while the training
    goes on; the best is exported, with its scores, the shipped weights' and the other checkpoints' as its
    manifest's validation. Without one, the last checkpoint, validated by the trainer on the pack's validation
    photos."""
    pack, out = Path(pack), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if torch.cuda.is_available():  # fixed shapes: let cuDNN pick its fastest convolutions; TF32 matrix products
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    deadline = time.perf_counter() + minutes * 60.0
    check = MethodCheck(pack / "check.npz", check_workers) if (pack / "check.npz").exists() else None
    if check is not None and not tiny:  # the default's and the shipped weights' cases first, while the GPU trains
        from hrinpaint.fillers.network import shipped_weights

        for family in families:
            check.start(family, None, shipped_weights(f"{family}.safetensors"))
    trained, manifests, failed = {}, {}, []
    try:
        with tempfile.TemporaryDirectory() as runs:
            for index, family in enumerate(families):
                # an equal share of what is left (a family that failed early leaves its time to the others)
                share = max(1.0, (deadline - time.perf_counter()) / (len(families) - index))
                began = time.perf_counter()
                try:
                    trained[family] = _train_family(
                        family,
                        pack,
                        out,
                        Path(runs),
                        share,
                        steps,
                        tiny,
                        fresh_workers,
                        check,
                        checks,
                        log,
                        prefill,
                        crop,
                        band,
                    )
                except Exception:  # one family's failure must not cost the others their share of a lent GPU
                    log(f"{family} failed:\n{traceback.format_exc()}")
                    failed.append(family)
                    continue
                log(f"{family}: trained in {time.perf_counter() - began:.0f} s")
            for family, candidates in trained.items():  # the checks' scores, mostly in by now
                try:
                    manifests[family] = _export_best(family, pack, out, candidates, check, log)
                except Exception:
                    log(f"{family} failed:\n{traceback.format_exc()}")
                    failed.append(family)
    finally:
        if check is not None:
            check.close()
    for family, manifest in manifests.items():
        log(check_line(family, manifest["validation"], manifest["training"]["steps"]))
    if failed:
        raise RuntimeError(f"families failed: {', '.join(failed)} (the others were exported)")
    return manifests


def _train_family(
    family: str,
    pack: Path,
    out: Path,
    runs: Path,
    share: float,
    steps: int,
    tiny: bool,
    fresh_workers: int,
    check: MethodCheck | None,
    checks: int,
    log: Any,
    prefill: str = "",
    crop: int = 0,
    band: float = -1.0,
) -> list[tuple[Path, dict[str, Any], str | None]]:
    """One family's run in ``runs``: its checkpoints exported there, each submitted to ``check``; without a check
    the last, validated by the trainer, exported to ``out``. Returns each ``(weights, manifest, shipped)``."""
    from hrinpaint.fillers.network import shipped_weights
    from hrinpaint.train.export import export_run

    config = family_config(family, pack, share, steps, tiny, prefill, crop, band)
    cached = uses_pack_fills(prefill)
    dataset = PackedPool(pack / f"{POOLS[family]}.npz", config.seed, augment=True)
    cut = dataset.images.shape[1]  # the pack's crop: fresh cases are cut so and brought down alike
    dataset = _shrunk(dataset, config.data.crop)
    dataset.keep_prefill, dataset.transform = cached, None if cached else _telea_batches(config)
    if dataset.transform is not None and torch.cuda.is_available():  # a Telea batch: 0.16-0.22 s a thread here
        # the fresh-case processes of a Telea run only cut crops, and wait on a full queue most of the time
        dataset.threads = max(2, min(8, (os.cpu_count() or 1) // 2))
    fresh = None
    if fresh_workers > 0 and (pack / "photos.npz").exists():
        fresh = FreshCases(pack, POOLS[family], fresh_workers, cut, config.seed, cached, config.data.crop)
        dataset.fresh = fresh
    run, candidates = runs / family, []
    shipped = None if tiny else str(shipped_weights(f"{family}.safetensors"))

    def exported() -> None:  # a checkpoint exported and sent to the check, which scores it meanwhile
        weights = runs / f"{family}-{len(candidates)}.safetensors"
        candidates.append((weights, export_run(run, weights, {}), shipped))
        if fresh is not None:
            candidates[-1][1]["training"]["fresh_cases"] = fresh.taken
        assert check is not None
        try:
            check.start(family, weights, shipped)
        except Exception as error:  # a broken check must not cost the training: the export says so
            log(f"{family}: the check failed ({error}); exporting without it")

    try:
        trainer = _train_in_time(
            config.replace(data={"pool": len(dataset) if cached else 0, "val_folder": None}),
            run,
            dataset,
            timed=steps >= 10**6,
            log=log,
            checks=checks if check is not None else 1,
            on_check=exported if check is not None else None,
        )
    finally:
        if fresh is not None:
            fresh.close()
    if check is None:
        target = out / f"{family}.safetensors"
        candidates.append((target, export_run(run, target, _validate(trainer, config)), None))
        if fresh is not None:
            candidates[-1][1]["training"]["fresh_cases"] = fresh.taken
    return candidates


def _export_best(
    family: str,
    pack: Path,
    out: Path,
    candidates: list[tuple[Path, dict[str, Any], str | None]],
    check: MethodCheck | None,
    log: Any,
) -> dict[str, Any]:
    """The best of a family's checkpoints by the check (of equals the later) copied to ``out`` with its manifest,
    the check's report its validation; without a check, the one candidate as exported."""
    from hrinpaint.nn.weights import manifest_path

    target = out / f"{family}.safetensors"
    reports = []
    if check is not None:
        try:
            for weights, manifest, shipped in candidates:
                reports.append(check.judge(family, weights, shipped))
                log(check_line(family, reports[-1], manifest["training"]["steps"]))
        except Exception as error:  # the last checkpoint, unjudged, rather than nothing
            log(f"{family}: the check failed ({error}); exporting the last checkpoint without it")
            weights, manifest, _ = candidates[-1]
            manifest["validation"] = {"check": f"failed: {error}"}
            shutil.copyfile(weights, target)
            reports = []
    if check is None:
        weights, manifest, _ = candidates[-1]
    elif reports:
        best = max(reversed(range(len(candidates))), key=lambda index: reports[index]["gain"])
        weights, manifest, _ = candidates[best]
        steps = [manifest["training"]["steps"] for _, manifest, _ in candidates]
        others = [{"step": step, "gain": report["gain"]} for step, report in zip(steps, reports, strict=True)]
        manifest["validation"] = {
            "check": {
                "data": f"{pack.name}/check.npz",
                "masks": list(CHECK_MASKS),
                "route": "the method as a user runs it (default gate and lifter), CPU",
                **reports[best],
                "candidates": others,
            }
        }
        shutil.copyfile(weights, target)
    manifest_path(target).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def check_line(family: str, validation: dict[str, Any], step: int | None = None) -> str:
    """A method check's report in one line (the ungated validation's, without a check)."""
    report = validation.get("check", validation)
    if "trained" not in report:
        return f"{family}: validation {json.dumps(report)}"
    parts = [f"{family}{f' at step {step}' if step is not None else ''}: over the default"]
    for name in ("trained", "shipped"):
        if name in report:
            kinds = ", ".join(
                f"{kind} {report[name][kind]['over_default']:+.4f} ({report[name][kind]['better']} / "
                f"{report[name][kind]['worse']}, worst {report[name][kind]['worst']:+.3f})"
                for kind in CHECK_MASKS
            )
            parts.append(f"{name} {kinds}")
    if "beats_shipped" in report:
        parts.append(f"beats shipped: {report['beats_shipped']}")
    return "; ".join(parts)


def _train_in_time(
    config: TrainConfig,
    run: Path,
    dataset: PrefillPool,
    timed: bool,
    log: Any,
    checks: int = 1,
    on_check: Any = None,
) -> Trainer:
    """Trains ``config`` into ``run``, calling ``on_check`` (if given) at ``checks`` even fractions of the run
    (the last at its end). A ``timed`` run (bounded by ``config.time_limit``, not by its steps) first trains a
    sixth of its time (20 s at most: half to warm up, half to measure its pace once warm), then resumes with the
    steps that fit in the rest, so that the learning rate's cosine ends with the time; its checks split the rest
    of the time (each part stopped by a time limit, the cosine over the whole), a step-bounded run's its steps."""
    from hrinpaint.train.loop import load_checkpoint, train

    checks, checked = max(1, checks), -1

    def check() -> None:  # a checkpoint not checked yet
        nonlocal checked
        step = int(load_checkpoint(run)["step"])
        if on_check is not None and step != checked:
            checked = step
            on_check()

    if not timed:
        for part in range(1, checks + 1):
            trained = train(config, run, resume=part > 1, dataset=dataset, until=max(1, config.steps * part // checks))
            check()
        return trained
    probe = min(20.0, config.time_limit / 6)
    train(config.replace(time_limit=probe / 2), run, dataset=dataset)  # warm-up: cuDNN's search, first kernels
    warm = load_checkpoint(run)
    train(config.replace(time_limit=float(warm["elapsed"]) + probe / 2), run, resume=True, dataset=dataset)
    state = load_checkpoint(run)
    done, elapsed = int(state["step"]), float(state["elapsed"])
    pace = (done - int(warm["step"])) / max(elapsed - float(warm["elapsed"]), 1e-6)
    rest = max(config.time_limit - elapsed, 0.0)
    total = done + int(pace * rest * 0.95)
    log(f"{config.family}: {done} steps in {elapsed:.1f} s ({pace:.2f} steps/s warm), planning {total}")
    planned = config.replace(steps=max(total, done + 1))
    for part in range(1, checks + 1):
        limit = config.time_limit if part == checks else elapsed + rest * part / checks
        trained = train(planned.replace(time_limit=limit), run, resume=True, dataset=dataset)
        check()
    return trained


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
    """The pool's cases resized to ``crop`` (the pack's are 512 px; a run trains at its network's resolution, the
    CPU test of the scripts tiny networks on tiny crops)."""
    if pool.images.shape[1] == crop:
        return pool
    cases = [_resized_case(*case, crop) for case in zip(pool.images, pool.masks, pool.prefills, strict=True)]
    pool.images, pool.masks, pool.prefills = (np.stack(arrays) for arrays in zip(*cases, strict=True))
    return pool


def _resized_case(
    image: np.ndarray, mask: np.ndarray, prefill: np.ndarray, side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A square case brought to ``side`` (pixels by area, the hole by nearest)."""
    if image.shape[0] == side:
        return image, mask, prefill
    size = (side, side)
    hole = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    area = cv2.INTER_AREA
    return cv2.resize(image, size, interpolation=area), hole, cv2.resize(prefill, size, interpolation=area)


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
    run.add_argument(
        "--prefill",
        default="",
        choices=["", "telea", "patchmatch"],
        help="what the networks start from (default: the shipped weights' own, Telea's fill; patchmatch: the pack's "
        "default fills, shift's default stage 1)",
    )
    run.add_argument("--crop", type=int, default=0, help="cases' side (0: the shipped weights' resolution)")
    run.add_argument(
        "--band",
        type=float,
        default=-1.0,
        help="hifill's and shift's loss on the band the filler keeps, px at the crop (-1: 3 on --prefill patchmatch, "
        "else none)",
    )
    run.add_argument("--checks", type=int, default=2, help="method checks per family (the best is exported)")
    run.add_argument(
        "--check-workers", type=int, default=-1, help="processes of the method check (<= 0: all processors but 2)"
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
        checkers = args.check_workers if args.check_workers > 0 else max(1, (os.cpu_count() or 1) - 2)
        train_families(
            args.pack,
            args.out,
            args.minutes,
            args.steps,
            args.tiny,
            families=families,
            fresh_workers=workers,
            check_workers=checkers,
            checks=args.checks,
            prefill=args.prefill,
            crop=args.crop,
            band=args.band,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
