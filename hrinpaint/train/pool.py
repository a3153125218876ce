"""A fixed pool of training crops with holes and the default method's fill of each, cached on disk.

A network that starts from the default's fill (``prefill = "patchmatch"``) needs that fill for every training
crop, and PatchMatch on every crop of every step is too slow on a CPU. So a run draws its crops from a pool of
``size`` cases made once: case ``i`` is a pure function of ``(seed, i)`` (photo, window, flip and hole drawn as
:class:`~hrinpaint.train.data.PhotoCrops` draws them, the hole at a scale spread over the mask schedule), its fill
is the default filler's (through the registry), and the pool is saved as one ``.npz`` named by a hash of
everything that decides it. A batch is ``batch_size`` cases drawn by ``(seed, step)``, so a resumed run reads
exactly the data the uninterrupted one would have, and a second run on the same pool builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrinpaint.fillers.network import default_fill
from hrinpaint.io import from_float, to_float
from hrinpaint.methods import DEFAULT_METHOD, resolve_method
from hrinpaint.train.data import Batch, PhotoCrops

#: The ratios of a region to its working size that :class:`Stage1Pool` draws its stage 1 at, by default.
STAGE1_FACTORS: tuple[float, ...] = (2.0, 4.0)


class PrefillPool:
    """``size`` cases of ``crops`` with their default fills; :meth:`batch` has :class:`PhotoCrops`'s signature.

    Args:
        crops: where cases are drawn from (its photos, crop size and mask schedule).
        size: cases in the pool.
        cache: folder of pool files; the pool is built (and saved there) only if its file is missing.
        seed: seeds the cases and the batches.
        progress: called as ``progress(done, size)`` while building.
    """

    def __init__(
        self,
        crops: PhotoCrops,
        size: int,
        cache: str | Path,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a prefill pool needs at least one case, got {size}")
        self.crops, self.size, self.seed = crops, size, seed
        self.path = Path(cache) / f"pool-{self.key()}.npz"
        if self.path.exists():
            with np.load(self.path) as stored:
                self.images, self.masks, self.prefills = stored["images"], stored["masks"], stored["prefills"]
        else:
            self.images, self.masks, self.prefills = self._build(progress)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp.npz")
            np.savez(temporary, images=self.images, masks=self.masks, prefills=self.prefills)
            os.replace(temporary, self.path)

    @classmethod
    def drawer(cls, crops: PhotoCrops, size: int, seed: int = 0, **options: Any) -> PrefillPool:
        """The pool's cases without the pool: an object whose :meth:`case` and :meth:`prefill` draw and fill
        cases as the built pool's would (``options``: a subclass's own, as ``factors``), and which holds none (for
        processes that make new cases while a run trains)."""
        pool = cls.__new__(cls)
        pool.crops, pool.size, pool.seed = crops, size, seed
        for name, value in options.items():
            setattr(pool, name, value)
        return pool

    def key(self) -> str:
        """A hash of everything that decides the pool: photos, crop, schedule, size, seed and default method."""
        schedule = self.crops.schedule
        described = {
            "photos": [photo.shape for photo in self.crops.photos],
            "pixels": hashlib.sha1(b"".join(photo[::97, ::89].tobytes() for photo in self.crops.photos)).hexdigest(),
            "crop": self.crops.crop,
            "schedule": [schedule.start_scale, schedule.end_scale, schedule.ramp_steps, list(schedule.kinds)],
            "size": self.size,
            "seed": self.seed,
            "default": self.default_part(),
            "kind": type(self).__name__,
        }
        return hashlib.sha1(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def default_part() -> str:
        """What of the default the pool caches (part of its key): its filler."""
        return resolve_method(DEFAULT_METHOD).filler

    def case(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Case ``index`` before filling: ``crop x crop x 3`` float32 and its bool hole, holes growing with the
        index along the mask schedule (so the pool holds every scale the schedule would)."""
        rng = np.random.default_rng([self.seed, 7919, index])
        step = round(index * self.crops.schedule.ramp_steps / max(1, self.size - 1))
        return self.crops.sample(rng, step)

    def prefill(self, image: np.ndarray, mask: np.ndarray, index: int) -> np.ndarray:
        """What the pool caches for a case (its hole cleared in ``image``): the default filler's fill."""
        return default_fill(image, mask).image

    def filled_case(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Case ``index`` as the pool holds it: the photo (uint8), its hole (bool) and its prefill (uint8)."""
        image, mask = self.case(index)
        holed = np.where(mask[..., None], 0.0, image).astype(np.float32)
        return from_float(image, np.uint8), mask, from_float(self.prefill(holed, mask, index), np.uint8)

    def _build(self, progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        crop = self.crops.crop
        images = np.empty((self.size, crop, crop, 3), np.uint8)
        masks = np.empty((self.size, crop, crop), bool)
        prefills = np.empty((self.size, crop, crop, 3), np.uint8)
        for index in range(self.size):
            images[index], masks[index], prefills[index] = self.filled_case(index)
            if progress is not None:
                progress(index + 1, self.size)
        return images, masks, prefills

    def __len__(self) -> int:
        return self.size

    def batch(self, step: int, size: int) -> Batch:
        """The batch for ``step``: ``size`` cases drawn by ``(seed, step)``, with their prefills."""
        picks = np.random.default_rng([self.seed, step]).integers(self.size, size=size)
        images = to_float(self.images[picks]).transpose(0, 3, 1, 2)
        prefills = to_float(self.prefills[picks]).transpose(0, 3, 1, 2)
        masks = self.masks[picks][:, None].astype(np.float32)
        return Batch(
            torch.from_numpy(np.ascontiguousarray(images)),
            torch.from_numpy(masks),
            torch.from_numpy(np.ascontiguousarray(prefills)),
        )


class Stage1Pool(PrefillPool):
    """A pool for the ``shift`` refinement: each case is a region as the pipeline cuts it, and what is cached is
    the stage 1 the lifter meets there, the default method's output.

    The hole is drawn at a third of the crop and placed in it so that the crop is about the hole's box grown by
    its long side on every side (the pipeline's ``context = 1``): the copies shifted by a fraction of the crop are
    then shifted by that fraction of the region, as at inference. Stage 1 is the default method run on the crop
    with a working size of ``crop / factor``, ``factor`` drawn per case from ``factors`` (the ratio of the region
    to its working size at inference).
    """

    factors: tuple[float, ...] = STAGE1_FACTORS  # what a :meth:`drawer` uses unless told

    def __init__(self, *args: Any, factors: tuple[float, ...] = STAGE1_FACTORS, **options: Any) -> None:
        """:class:`PrefillPool`'s arguments, and ``factors``."""
        self.factors = tuple(factors)
        super().__init__(*args, **options)

    def key(self) -> str:
        return hashlib.sha1((super().key() + repr(self.factors)).encode()).hexdigest()[:16]

    @staticmethod
    def default_part() -> str:
        """What of the default the pool caches (part of its key): the whole method."""
        return DEFAULT_METHOD

    def case(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, _ = super().case(index)
        rng = np.random.default_rng([self.seed, 104729, index])
        crop = self.crops.crop
        side = max(4, crop // 3)
        step = round(index * self.crops.schedule.ramp_steps / max(1, self.size - 1))
        small = self.crops.schedule.mask((side, side), step, rng)
        mask = np.zeros((crop, crop), bool)
        top, left = (int(rng.integers(side // 2, crop - side - side // 2 + 1)) for _ in range(2))
        mask[top : top + side, left : left + side] = small
        return image, mask

    def prefill(self, image: np.ndarray, mask: np.ndarray, index: int) -> np.ndarray:
        """The default method's output on the crop at a working size of ``crop / factor``."""
        return default_stage1(image, mask, self.factors[index % len(self.factors)])


def default_stage1(image: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray:
    """The default method's output on ``image`` taken as one region, filled at ``1 / factor`` of its size and
    lifted: the stage 1 that ``shift`` meets after the default's filler.

    Shape:
        image ``H x W x 3`` float32 (hole pixels ignored), mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    from hrinpaint.pipeline import Inpainter

    side = max(image.shape[:2])
    working = max(16, round(side / factor))
    return Inpainter.from_method(None, working_size=working, context=0.0, min_margin=side)(image, mask)
