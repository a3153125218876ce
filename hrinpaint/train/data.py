"""Training and validation data: random crops of a photo folder with generated holes.

This is one of the edges where files become canonical arrays. Photos are decoded once and kept in memory as
uint8 (downscaled so their long side is at most ``preload_side``); every batch is then a pure function of
``(seed, step)``, so a resumed run draws exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from hrinpaint.errors import InputError
from hrinpaint.io import find_photos, read_image, to_float
from hrinpaint.masks import generate_mask
from hrinpaint.masks.schedule import ProgressiveSchedule
from hrinpaint.ops.resize import fit_long_side
from hrinpaint.pixels import to_8bit


@dataclass
class Batch:
    """One training batch.

    Attributes:
        image: ``B x 3 x H x W`` float32 in [0, 1], the ground truth.
        mask: ``B x 1 x H x W`` float32, 1 = hole.
        prefill: ``B x 3 x H x W`` float32, the default's fill of each hole when the data cached it
            (:class:`~hrinpaint.train.pool.PrefillPool`); None otherwise.
        level_prefills: a pyramid generator's prefill at each of its levels (``pyramid``'s Telea fills, made
            ahead on the threads that make batches, :func:`hrinpaint.train.gpu._telea_batches`), coarsest first;
            None: the trainer makes them. Made for this batch's image and mask: a batch with another mask needs
            ``level_prefills=None`` (``dataclasses.replace``).
    """

    image: torch.Tensor
    mask: torch.Tensor
    prefill: torch.Tensor | None = None
    level_prefills: tuple[torch.Tensor, ...] | None = None

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device``."""
        prefill = None if self.prefill is None else self.prefill.to(device)
        levels = None if self.level_prefills is None else tuple(level.to(device) for level in self.level_prefills)
        return Batch(self.image.to(device), self.mask.to(device), prefill, levels)

    def halved(self) -> Batch:
        """The batch at half size: images by 2 x 2 means, a hole wherever one of the 2 x 2 pixels is one."""
        prefill = None if self.prefill is None else torch.nn.functional.avg_pool2d(self.prefill, 2)
        mask = (torch.nn.functional.max_pool2d(self.mask, 2) > 0.5).float()
        return Batch(torch.nn.functional.avg_pool2d(self.image, 2), mask, prefill)


def load_rgb8(path: Path, max_side: int, min_short_side: int = 0) -> np.ndarray:
    """Decodes a photo to ``H x W x 3`` uint8 RGB, downscaled (area) so that its long side is at most ``max_side``
    but its short side stays at least ``min_short_side`` (a panorama keeps enough height for a crop)."""
    pixels = to_8bit(read_image(path).pixels)  # always H x W x 3; uint16 photos: the one 16-to-8 rule
    height, width = pixels.shape[:2]
    long_side = max(max_side, round(max(height, width) * min_short_side / min(height, width)))
    new_size = fit_long_side((height, width), long_side)
    if new_size != (height, width):
        pixels = cv2.resize(pixels, (new_size[1], new_size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels)


class PhotoCrops:
    """Random square crops with zoom jitter and flips, and holes from a progressive schedule.

    A crop takes a window whose side is drawn uniformly between ``crop`` (native pixels) and the photo's short
    side (the whole photo's extent, downscaled), then resizes it to ``crop``; so the network sees both fine
    texture and whole-scene context, as it will at the working resolution.
    """

    def __init__(
        self,
        folder: str | Path,
        crop: int,
        schedule: ProgressiveSchedule,
        seed: int = 0,
        preload_side: int = 768,
        limit: int | None = None,
    ) -> None:
        paths = find_photos(folder)[:limit]
        self.photos = [load_rgb8(path, preload_side, crop) for path in paths]
        small = [p for p, photo in zip(paths, self.photos, strict=True) if min(photo.shape[:2]) < crop]
        if small:
            raise InputError(f"{len(small)} photos are smaller than the crop {crop}, for example {small[0]}")
        self.crop = crop
        self.schedule = schedule
        self.seed = seed

    @classmethod
    def from_arrays(
        cls, photos: list[np.ndarray], crop: int, schedule: ProgressiveSchedule, seed: int = 0
    ) -> PhotoCrops:
        """Crops of photos already decoded (``H x W x 3`` uint8, short side at least ``crop``)."""
        if not photos or min(min(photo.shape[:2]) for photo in photos) < crop:
            raise InputError(f"crops of {crop} px need photos with a short side of at least {crop} px")
        crops = cls.__new__(cls)
        crops.photos, crops.crop, crops.schedule, crops.seed = list(photos), crop, schedule, seed
        return crops

    def __len__(self) -> int:
        return len(self.photos)

    def sample(self, rng: np.random.Generator, step: int) -> tuple[np.ndarray, np.ndarray]:
        """One ``crop x crop x 3`` float32 image and its bool hole mask."""
        photo = self.photos[int(rng.integers(len(self.photos)))]
        height, width = photo.shape[:2]
        side = int(rng.integers(self.crop, min(height, width) + 1))
        top = int(rng.integers(height - side + 1))
        left = int(rng.integers(width - side + 1))
        window = photo[top : top + side, left : left + side]
        if side != self.crop:
            window = cv2.resize(window, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            window = window[:, ::-1]
        image = to_float(np.ascontiguousarray(window))
        mask = self.schedule.mask((self.crop, self.crop), step, rng)
        return image, mask

    def batch(self, step: int, size: int) -> Batch:
        """The batch for ``step``: a pure function of ``(seed, step)``."""
        rng = np.random.default_rng([self.seed, step])
        samples = [self.sample(rng, step) for _ in range(size)]
        images = np.stack([s[0] for s in samples]).transpose(0, 3, 1, 2)
        masks = np.stack([s[1] for s in samples])[:, None].astype(np.float32)
        return Batch(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(masks))


@dataclass
class ValidationItem:
    """A fixed validation case: ``1 x 3 x H x W`` image, ``1 x 1 x H x W`` mask, and its name."""

    name: str
    image: torch.Tensor
    mask: torch.Tensor


def validation_set(
    folder: str | Path, size: int, mask_kinds: tuple[str, ...], limit: int | None = None, seed: int = 0
) -> list[ValidationItem]:
    """Every photo of ``folder`` resized to long side ``size`` (aspect kept), once per mask kind, fixed masks."""
    items = []
    for index, path in enumerate(find_photos(folder)[:limit]):
        image = to_float(load_rgb8(path, size))
        for kind_index, kind in enumerate(mask_kinds):
            mask = generate_mask(kind, image.shape[:2], seed=seed + 1000 * kind_index + index)
            items.append(
                ValidationItem(
                    f"{path.stem}-{kind}",
                    torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None],
                    torch.from_numpy(mask.astype(np.float32))[None, None],
                )
            )
    return items


def mean_scores(per_kind: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """Validation scores averaged per mask kind (``{kind}_{name}``) and over every case (``{name}``).

    Args:
        per_kind: for each mask kind, one ``{name: value}`` per validation case (the same names in each).
    """
    summary: dict[str, float] = {}
    for kind, cases in sorted(per_kind.items()):
        for name in cases[0]:
            summary[f"{kind}_{name}"] = float(np.mean([case[name] for case in cases]))
    everything = [case for cases in per_kind.values() for case in cases]
    for name in everything[0] if everything else ():
        summary[name] = float(np.mean([case[name] for case in everything]))
    return summary


#: A validation fill: ``fill(image, mask, index)`` for the case at ``index`` of the items (``1 x 3 x H x W`` and
#: ``1 x 1 x H x W`` on the device) returns its output, or several outputs by the prefix of their scores' names.
ValidationFill = Callable[[torch.Tensor, torch.Tensor, int], "torch.Tensor | dict[str, torch.Tensor]"]


def validate_fills(items: list[ValidationItem], fill: ValidationFill, device: torch.device) -> dict[str, float]:
    """Hole PSNR and hole L1 (``hole_psnr``, ``hole_l1``; ``{prefix}hole_psnr``... for each output of a fill
    that returns several) over the validation cases that have a hole, as :func:`mean_scores` gives them."""
    from hrinpaint.eval.metrics import l1, psnr

    per_kind: dict[str, list[dict[str, float]]] = {}
    for index, item in enumerate(items):
        hole = item.mask[0, 0].numpy() > 0.5
        if not hole.any():
            continue
        outputs = fill(item.image.to(device), item.mask.to(device), index)
        truth = item.image[0].permute(1, 2, 0).numpy()
        scores = {}
        for prefix, output in (outputs if isinstance(outputs, dict) else {"": outputs}).items():
            result = output[0].permute(1, 2, 0).cpu().numpy()
            scores.update(
                {f"{prefix}hole_psnr": psnr(result, truth, hole), f"{prefix}hole_l1": l1(result, truth, hole)}
            )
        per_kind.setdefault(item.name.rsplit("-", 1)[-1], []).append(scores)
    return mean_scores(per_kind)


def validate_against_default(
    items: list[ValidationItem],
    prefill: str,
    band: float,
    generate: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
    device: torch.device,
) -> dict[str, float]:
    """:func:`validate_fills` of a generator ``generate(image, mask, prefill) -> output`` started from its
    ``prefill`` kind, its output band-merged at ``band`` as the fillers merge it; with a ``patchmatch`` prefill
    the default's own scores too (``default_hole_psnr``, ``default_hole_l1``) and ``gain_hole_psnr``, the
    network's over the default's. The default's fills are computed once per case."""
    from hrinpaint.fillers.network import batch_prefill
    from hrinpaint.train.losses import band_merged

    fills: dict[int, torch.Tensor | None] = {}  # by the case's index in ``items`` (both passes walk them alike)

    def start(image: torch.Tensor, mask: torch.Tensor, index: int) -> torch.Tensor | None:
        if index not in fills:
            fills[index] = batch_prefill(image, mask, prefill)
        return fills[index]

    def network(image: torch.Tensor, mask: torch.Tensor, index: int) -> torch.Tensor:
        filled = start(image, mask, index)
        output = generate(image, mask, filled)
        if filled is None or band <= 0:
            return output.clamp(0.0, 1.0)
        return band_merged(output, image * (1.0 - mask) + filled * mask, mask, band).clamp(0.0, 1.0)

    scores = validate_fills(items, network, device)
    if prefill == "patchmatch":
        default = validate_fills(
            items, lambda image, mask, index: image * (1.0 - mask) + start(image, mask, index) * mask, device
        )
        scores.update({f"default_{name}": value for name, value in default.items()})
        scores["gain_hole_psnr"] = scores["hole_psnr"] - default["hole_psnr"]
    return scores
