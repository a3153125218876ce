"""The shift-refinement trainer: the U-Net learns to add texture to a simulated stage-1 fill.

Stage 1 is simulated per crop, as the lifter will meet it: the crop is area-downsampled by ``factor`` (the ratio
of full to working resolution), its mask shrunk so that a working pixel any hole pixel touches is a hole, the
hole filled there with Telea's diffusion, and the fill brought back bicubically and pasted into the hole. A cheap,
texture-free stage 1 of the same kind as any filler's upsampled fill; the network trains on nothing else, so it
can follow any filler at inference.

Options (``config.options``):

- ``factor``: a number >= 1, or a list to draw from per crop (default ``[2, 4]``).
- ``hole_range``: ``[low, high]``, the fraction of a crop the hole must cover (default ``[0.1, 0.9]``, the
  paper's condition on its patches). A mask outside is adjusted, not redrawn (redrawing could loop on a mask kind
  that never fits): random boxes are added to a small hole, or cleared from a large one, until it fits; as a last
  resort a band of whole rows. Every choice comes from a generator seeded by ``(seed, step, index)``, so batches
  stay a function of the step.
- ``vgg``: path of a local torchvision VGG16 state dict. With it the loss is the paper's
  ``6 L1 + 0.1 TV + 0.1 perceptual + 240 style``; without it ``L1 + tv_weight TV + gradient_weight gradient``
  (the manifest's training config says which, through this option).

The L1 is :func:`~hrinpaint.train.losses.masked_l1` with the config's hole and known weights; the network changes
only the hole, so the known term is zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.opencv import telea_prefill
from hrinpaint.nn.shift import ShiftUNet, ShiftUNetConfig, shifted_stack
from hrinpaint.ops.resize import area_downsample, downsample_mask, resize_bicubic
from hrinpaint.train import losses
from hrinpaint.train.base import Trainer
from hrinpaint.train.config import TrainConfig
from hrinpaint.train.data import Batch, PhotoCrops, ValidationItem, validate_fills
from hrinpaint.train.pool import Stage1Pool, default_stage1
from hrinpaint.train.vgg import load_vgg16, vgg_losses

#: The paper's loss weights (after DFNet): L1, total variation, perceptual, style.
PAPER_WEIGHTS = {"l1": 6.0, "tv": 0.1, "perceptual": 0.1, "style": 240.0}
_BOX_TRIES = 8


@dataclass(frozen=True)
class ShiftOptions:
    """The trainer's own options; see the module's notes. ``factor`` may be given as one number."""

    factor: float | tuple[float, ...] = (2.0, 4.0)
    hole_range: tuple[float, float] = (0.1, 0.9)
    vgg: str | None = None

    def __post_init__(self) -> None:
        factors = self.factor if isinstance(self.factor, tuple) else (self.factor,)
        object.__setattr__(self, "factor", tuple(float(f) for f in factors))
        if not factors or not all(math.isfinite(f) and f >= 1 for f in factors):
            raise ConfigError(f"factor must be a number >= 1 or a list of them, got {list(factors)}")
        low, high = self.hole_range
        if not 0.0 <= low < high <= 1.0:
            raise ConfigError(f"hole_range must be [low, high] with 0 <= low < high <= 1, got {[low, high]}")


def _random_box(rng: np.random.Generator, shape: tuple[int, int], pixels: float) -> tuple[slice, slice]:
    """A box of about ``pixels`` pixels (aspect within e^-0.7..e^0.7) at a random place inside ``shape``."""
    height, width = shape
    aspect = math.exp(rng.uniform(-0.7, 0.7))
    box_height = min(height, max(1, math.ceil(math.sqrt(pixels * aspect))))
    box_width = min(width, max(1, math.ceil(pixels / box_height)))
    top = int(rng.integers(height - box_height + 1))
    left = int(rng.integers(width - box_width + 1))
    return slice(top, top + box_height), slice(left, left + box_width)


def fit_hole_range(mask: np.ndarray, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """``mask`` (``H x W`` bool, True = hole) adjusted so that the hole covers ``[low, high]`` of it.

    A copy is returned. Boxes are added to a small hole (or cleared from a large one), each sized for 1.2 times
    what is missing; after a few tries, a band of whole rows settles it (for ``low <= high / 2``, always
    within the range).
    """
    mask = mask.copy()
    height, width = mask.shape
    area = height * width
    for _ in range(_BOX_TRIES):
        coverage = mask.mean()
        if low <= coverage <= high:
            return mask
        missing = (low - coverage) if coverage < low else (coverage - high)
        mask[_random_box(rng, (height, width), 1.2 * missing * area)] = coverage < low
    coverage = mask.mean()
    if coverage < low:
        rows = min(height, math.ceil(low * height))
        top = int(rng.integers(height - rows + 1))
        mask[top : top + rows] = True
    elif coverage > high:
        rows = min(height, math.ceil((1.0 - high) * height))
        top = int(rng.integers(height - rows + 1))
        mask[top : top + rows] = False
    return mask


def stage1_fill(image: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray:
    """The simulated stage 1: Telea fill at ``1 / factor`` of the size, bicubic back, pasted into the hole.

    Shape:
        image ``H x W x 3`` float32 in [0, 1], mask ``H x W`` bool; returns ``H x W x 3`` float32, equal to
        ``image`` outside the hole.
    """
    height, width = mask.shape
    small = (max(1, round(height / factor)), max(1, round(width / factor)))
    if small == (height, width):
        working_image, working_mask = image, mask
    else:
        working_image, working_mask = area_downsample(image, small), downsample_mask(mask, small)
    fill = telea_prefill(working_image, working_mask)
    if small != (height, width):
        fill = resize_bicubic(fill, (height, width))
    return np.where(mask[..., None], fill, image).astype(np.float32)


def batch_stage1(
    image: torch.Tensor, mask: torch.Tensor, factors: tuple[float, ...], rng: np.random.Generator
) -> torch.Tensor:
    """:func:`stage1_fill` of each image of a ``B x 3 x H x W`` batch, with a factor drawn per image."""
    images = image.detach().cpu().permute(0, 2, 3, 1).numpy()
    holes = mask.detach().cpu()[:, 0].numpy() > 0.5
    filled = [
        stage1_fill(np.ascontiguousarray(x), h, factors[int(rng.integers(len(factors)))])
        for x, h in zip(images, holes, strict=True)
    ]
    return torch.from_numpy(np.stack(filled)).permute(0, 3, 1, 2).contiguous().to(image.device)


def simulated_stage1(batch: Batch, seed: int, step: int, options: ShiftOptions) -> Batch:
    """The batch of ``step`` as the trainer sees it without a pool: each hole fitted to ``options.hole_range`` and
    its Telea stage 1 simulated (:func:`batch_stage1`), on the CPU; deterministic for ``(seed, step)``."""
    rng = np.random.default_rng([seed, step, 7])
    low, high = options.hole_range
    holes = batch.mask.detach().cpu()[:, 0].numpy() > 0.5
    fitted = np.stack([fit_hole_range(hole, low, high, rng) for hole in holes])
    mask = torch.from_numpy(fitted[:, None].astype(np.float32))
    image = batch.image.detach().cpu()
    return Batch(image, mask, batch_stage1(image, mask, options.factor, rng))


class ShiftTrainer(Trainer):
    """Trains :class:`ShiftUNet` on simulated stage-1 fills (see the module's notes for the options). It has no
    critic and no coarse branch: a ``[critic]`` setting or ``coarse_weight`` is an error."""

    model_name = "shift"
    ModelConfig = ShiftUNetConfig
    Options = ShiftOptions
    unused = ("losses.coarse_weight", "critic")
    model_config: ShiftUNetConfig
    options: ShiftOptions

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.setup(ShiftUNet(self.model_config))
        self.vgg = None if self.options.vgg is None else load_vgg16(self.options.vgg).to(self.device)

    def make_pool(self, crops: PhotoCrops) -> Stage1Pool:
        """With ``config.pool``: cases cut as the pipeline cuts regions, with the default's output as stage 1."""
        data = self.config.data
        return Stage1Pool(crops, data.pool, data.pool_cache, self.config.seed, factors=self.options.factor)

    def prepare(self, batch: Batch, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step's ground truth, mask (fitted to ``hole_range``) and stage-1 image, on the device; from a pool,
        its cached stage 1 and its mask as they are (the inference geometry)."""
        if batch.prefill is None:
            batch = simulated_stage1(batch, self.config.seed, step, self.options)
        batch = batch.to(self.device)
        assert batch.prefill is not None
        return batch.image, batch.mask, batch.prefill

    def losses(self, output: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named loss terms and their weighted ``total``."""
        config = self.config
        named = {"l1": losses.masked_l1(output, image, mask, config.losses.hole_weight, config.losses.known_weight)}
        named["tv"] = losses.total_variation(output, mask)
        if self.vgg is not None:
            named["perceptual"], named["style"] = vgg_losses(self.vgg, output, image)
            named["total"] = torch.stack([PAPER_WEIGHTS[name] * named[name] for name in PAPER_WEIGHTS]).sum()
            return named
        total = named["l1"] + config.losses.tv_weight * named["tv"]
        if config.losses.gradient_weight > 0:
            named["gradient"] = losses.gradient_loss(output, image, mask)
            total = total + config.losses.gradient_weight * named["gradient"]
        named["total"] = total
        return named

    def step(self, batch: Batch, step: int) -> dict[str, float]:
        """One training step at ``step``; returns the named losses (floats) and the learning rate."""
        image, mask, stage1 = self.prepare(batch, step)
        self.generator.train()
        lr = self.set_lr(step)
        output = self.generator(shifted_stack(stage1, mask, self.model_config.shift))
        output = losses.band_merged(output, stage1, mask, self.config.losses.band)  # what the lifter keeps of it
        named = self.losses(output, image, mask)
        self.optimizer.zero_grad(set_to_none=True)
        named["total"].backward()
        self.optimizer.step()
        return {"lr": lr, **{name: value.item() for name, value in named.items()}}

    @torch.no_grad()
    def validate(self, items: list[ValidationItem]) -> dict[str, float]:
        """Hole PSNR and L1 of the refined output per mask kind and overall, and of its stage-1 input under
        ``stage1_*`` keys (after a pool's training: the default's output, so ``stage1_*`` is the default's
        score). Item ``i`` uses ``factor[i % len(factor)]``."""
        self.generator.eval()
        factors = self.options.factor

        def refine(image: torch.Tensor, mask: torch.Tensor, index: int) -> dict[str, torch.Tensor]:
            truth = np.ascontiguousarray(image[0].permute(1, 2, 0).cpu().numpy())
            hole = mask[0, 0].cpu().numpy() > 0.5
            factor = factors[index % len(factors)]
            # the stage 1 it trained on: the default's output (from a pool), or the simulated Telea one
            stage1 = default_stage1(truth, hole, factor) if self.config.data.pool else stage1_fill(truth, hole, factor)
            start = torch.from_numpy(stage1.transpose(2, 0, 1).copy())[None].to(self.device)
            output = self.generator(shifted_stack(start, mask, self.model_config.shift))
            output = losses.band_merged(output, start, mask, self.config.losses.band).clamp(0.0, 1.0)
            return {"": output, "stage1_": start}

        return validate_fills(items, refine, self.device)
