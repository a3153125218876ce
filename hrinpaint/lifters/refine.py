"""Multiscale feature refinement (Kulshreshtha et al. 2022): optimise a network's features at inference, coarse to fine.

A network fills best near its training resolution; run at a higher one, it loses global structure. The lifter
builds an image pyramid with factor 2 from about the network's working size up to the region's full size
(shrunk to a pixel budget), fills the coarsest level with one plain pass, and at every finer level optimises the
latent feature map of the network's *front* (Adam) so that the *rear*'s prediction, downscaled (5x5 Gaussian,
sigma 1, then bilinear), matches the previous level's result inside the hole eroded by a disk, while also
matching the known pixels at its own level. Nothing is trained; only the features of one image change.

The paper refines up to the full size because Big-LaMa's fills stay sharp there. A small network trained at low
resolution does not: its refined fill is smooth (sharpness ratio 0.03 at 2048 px). So by default refinement
stops at 512 px and ``cra`` lifts the rest of the way, moving the context's own detail into the hole
(``max_side=0, lift="upsample"`` is the paper's scheme, with a bicubic last step above the pixel budget).

It needs the network: the filler must be *refinable*, that is, hold its generator in ``filler.model`` and the
generator must declare a front/rear split (:class:`~hrinpaint.nn.split.Splittable`: ``lama``, ``hifill``). A filler
that also has ``network_size`` (the long side it runs its network at, ``hifill``: its training resolution) sets
the coarsest level; otherwise the pipeline's working size does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from hrinpaint.errors import InpaintError
from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.io import to_float
from hrinpaint.lifters.base import Lifter, checked_box
from hrinpaint.lifters.cra import CraLifter
from hrinpaint.nn.split import Splittable
from hrinpaint.ops.morphology import erode
from hrinpaint.ops.regions import Box
from hrinpaint.ops.resize import area_downsample_pixels, downsample_mask, fit_long_side, resize_bicubic


@dataclass(frozen=True)
class RefineConfig:
    """Options of the ``refine`` lifter; the defaults are the paper's.

    Attributes:
        max_scales: most levels in the pyramid, the coarsest (plain pass) included.
        pixel_budget: most pixels of the finest level; a larger region is refined at the largest size under the
            budget and its fill upsampled (bicubic). Memory for the optimisation grows with this.
        lr: Adam's learning rate on the features.
        iterations: Adam steps per refined level.
        erosion: diameter in pixels of the disk the hole is eroded by, at the coarser level, before the
            consistency loss (the paper's 15 px): thin parts of the hole, where the network is already right at
            every scale, are left alone.
        checkpointing: recompute the rear's activations in the backward pass instead of keeping them (less
            memory, about one more forward of the rear per step).
        max_side: the finest refined level's long side is at most this (and its pixels at most ``pixel_budget``);
            a larger region is brought the rest of the way by ``lift``. 0 refines up to the full size, as the
            paper does; a network trained at low resolution then gives a smooth fill there.
        anchor: after each refined level, replace the prediction's low frequencies by the coarser level's result
            (:func:`anchor_low_frequencies`). A network run above its training resolution can drift in colour
            (the shipped ``hifill`` darkens a large hole by 2-5 levels at 1024 px), more than 15 small steps on
            its features correct; the anchor keeps the coarse level's colours and takes only the new detail.
        lift: how the finest refined level reaches the full size when it is smaller: ``"cra"`` moves the
            context's detail into the hole (:class:`~hrinpaint.lifters.cra.CraLifter`), ``"upsample"`` is bicubic.
    """

    max_scales: int = 3
    pixel_budget: int = 1_800_000
    lr: float = 0.002
    iterations: int = 15
    erosion: int = 15
    checkpointing: bool = False
    max_side: int = 512
    anchor: bool = True
    lift: str = "cra"

    def __post_init__(self) -> None:
        if self.max_scales < 1:
            raise ValueError(f"max_scales must be >= 1, got {self.max_scales}")
        if self.pixel_budget < 1:
            raise ValueError(f"pixel_budget must be positive, got {self.pixel_budget}")
        if self.lr <= 0 or self.iterations < 0 or self.erosion < 0:
            raise ValueError("lr must be positive, iterations and erosion non-negative")
        if self.max_side < 0:
            raise ValueError(f"max_side must be >= 0, got {self.max_side}")
        if self.lift not in ("cra", "upsample"):
            raise ValueError(f"lift must be 'cra' or 'upsample', got {self.lift!r}")
        object.__setattr__(self, "pixel_budget", int(self.pixel_budget))  # 1.8e6 from a config file is a float


@dataclass(frozen=True)
class RefineStep:
    """A progress report: one after the plain pass and one per loss evaluated at every refined level.

    Attributes:
        scale: level index, 0 = coarsest; scales: levels in all; shape: ``(height, width)`` of this level.
        iteration: Adam steps taken before ``loss`` was measured (0 to ``iterations``; the last one measures
            the features the level's result comes from); 0 for the plain pass.
        loss: the refinement loss; NaN for the plain pass.
    """

    scale: int
    scales: int
    shape: tuple[int, int]
    iteration: int
    iterations: int
    loss: float


RefineProgress = Callable[[RefineStep], None]


class RefinableFiller(Protocol):
    """A network filler whose generator declares a front/rear split; ``network_size`` is optional."""

    model: Splittable

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult: ...


def split_model(filler: Filler) -> Splittable:
    """The filler's generator, checked for a front/rear split; a readable error for any other filler."""
    model = getattr(filler, "model", None)
    if not isinstance(model, Splittable) or not isinstance(model, torch.nn.Module):
        raise InpaintError(
            f"refine needs a network filler whose generator declares a front/rear split (lama, hifill); "
            f"{type(filler).__name__} has none"
        )
    return model


def pyramid_shapes(
    full: tuple[int, int], coarsest_side: int, max_scales: int, pixel_budget: int
) -> list[tuple[int, int]]:
    """The levels' ``(height, width)``, coarsest first.

    The finest is ``full``, shrunk (aspect kept) to at most ``pixel_budget`` pixels; each coarser one halves it
    (rounding up). There are as many as bring the long side nearest to ``coarsest_side`` (in powers of two), at
    least one and at most ``max_scales``.
    """
    height, width = full
    if height * width > pixel_budget:
        ratio = math.sqrt(pixel_budget / (height * width))
        height, width = max(1, math.floor(height * ratio)), max(1, math.floor(width * ratio))
    scales = 1 + max(0, round(math.log2(max(height, width) / max(1, coarsest_side))))
    shapes = [(height, width)]
    for _ in range(min(scales, max_scales) - 1):
        height, width = shapes[-1]
        shapes.append(((height + 1) // 2, (width + 1) // 2))
    return shapes[::-1]


def gaussian_blur(image: torch.Tensor, sigma: float = 1.0, size: int = 5) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders (replicated on sides too short to reflect).

    Shape:
        ``B x C x H x W`` in, same out.
    """
    offsets = torch.arange(size, dtype=image.dtype, device=image.device) - (size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    taps = taps / taps.sum()
    channels = image.shape[1]
    pad = size // 2
    mode = "reflect" if min(image.shape[-2:]) > pad else "replicate"
    padded = F.pad(image, (pad, pad, pad, pad), mode=mode)
    rows = F.conv2d(padded, taps.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    return F.conv2d(rows, taps.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)


def downscale(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The paper's downscaling: 5x5 Gaussian (sigma 1), then bilinear resampling to ``size`` (half-pixel centres).

    Shape:
        ``B x C x H x W`` in, ``B x C x size`` out.
    """
    return F.interpolate(gaussian_blur(image), size=size, mode="bilinear", align_corners=False)


def _masked_mean(difference: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (difference * weight).sum() / (weight.sum() * difference.shape[1])


def refinement_loss(
    prediction: torch.Tensor,
    image: torch.Tensor,
    known: torch.Tensor,
    previous: torch.Tensor,
    target: torch.Tensor,
) -> torch.Tensor:
    """L1 on the known pixels at this level, plus L1 of the downscaled prediction against the previous level's
    result over ``target`` (the eroded hole there); each term is a mean over its pixels, a term with no pixel is 0.

    Shape:
        prediction, image: ``1 x 3 x H x W``; known: ``1 x 1 x H x W`` (1 = known); previous: ``1 x 3 x h x w``;
        target: ``1 x 1 x h x w`` (1 = compared).
    """
    loss = prediction.new_zeros(())
    if bool(known.any()):
        loss = loss + _masked_mean((prediction - image).abs(), known)
    if bool(target.any()):
        loss = loss + _masked_mean((downscale(prediction, tuple(previous.shape[-2:])) - previous).abs(), target)
    return loss


@contextmanager
def _features_only(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients for the duration: only the features get optimised."""
    flags = [parameter.requires_grad for parameter in model.parameters()]
    training = model.training
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        model.train(training)


def refine_level(
    model: Splittable,
    image: torch.Tensor,
    mask: torch.Tensor,
    previous: torch.Tensor,
    target: torch.Tensor,
    config: RefineConfig,
    report: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Optimises the front's features at one level; returns the rear's prediction and the loss history.

    Args:
        image: ``1 x 3 x H x W`` in [0, 1] (hole pixels ignored); mask: ``1 x 1 x H x W``, 1 = hole.
        previous: ``1 x 3 x h x w``, the previous (coarser) level's result; target: ``1 x 1 x h x w``, 1 where
            the prediction must match it (the hole there, eroded).
        report: called as ``report(steps_taken, loss)`` after each loss is measured.

    Returns:
        The prediction ``1 x 3 x H x W`` (not clipped, not composited) from the final features, and the
        ``iterations + 1`` losses: before each step, then of the final features.
    """
    known = 1.0 - mask
    extra = {}
    if getattr(model, "residual", False):
        # a prefilled network starts from the coarser level's result, the best fill there is at this point
        extra["prefill"] = torch.nn.functional.interpolate(
            previous, size=image.shape[-2:], mode="bilinear", align_corners=False
        )
    with torch.no_grad():
        features = model.front(image, mask, **extra)
    latent = tuple(tensor.detach().clone().requires_grad_(True) for tensor in features.latent)
    optimizer = torch.optim.Adam(latent, lr=config.lr)
    losses: list[float] = []
    with torch.enable_grad():
        for step in range(config.iterations):
            optimizer.zero_grad(set_to_none=True)
            prediction = model.rear(features.with_latent(latent), checkpoint=config.checkpointing)
            loss = refinement_loss(prediction, image, known, previous, target)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            del prediction, loss  # the graph's buffers go before the next forward
            if report is not None:
                report(step, losses[-1])
    with torch.no_grad():
        prediction = model.rear(features.with_latent(tuple(tensor.detach() for tensor in latent)))
        losses.append(float(refinement_loss(prediction, image, known, previous, target)))
    if report is not None:
        report(config.iterations, losses[-1])
    return prediction, losses


def anchor_low_frequencies(prediction: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """``prediction`` with its low frequencies replaced by ``previous``'s: the part of the coarser result that
    :func:`downscale` of the prediction misses, brought up bilinearly, is added to it. Then the prediction,
    downscaled, equals ``previous`` up to the blur's edge effects, and only the finer level's detail is new.

    Shape:
        prediction ``1 x 3 x H x W``; previous ``1 x 3 x h x w``; returns ``1 x 3 x H x W``.
    """
    with torch.no_grad():
        missing = previous - downscale(prediction, tuple(previous.shape[-2:]))
        return prediction + F.interpolate(missing, size=prediction.shape[-2:], mode="bilinear", align_corners=False)


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``H x W x C`` or ``H x W`` numpy to ``1 x C x H x W`` float32."""
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float32)


class RefineLifter(Lifter):
    """Multiscale feature refinement of a refinable network filler (``lama+refine``, ``hifill+refine``).

    Args:
        config: the options.
        progress: called with a :class:`RefineStep` after the plain pass and after each loss evaluation.
    """

    Config = RefineConfig
    #: Its Adam steps on the filler's features need float32: ``half`` never applies to the filler it refines.
    float32_filler = True
    #: raises for a filler this lifter cannot work with; the server offers ``*+refine`` only where it passes
    check_filler = staticmethod(split_model)

    def __init__(self, config: RefineConfig | None = None, progress: RefineProgress | None = None) -> None:
        self.config = config or RefineConfig()
        self.progress = progress

    def run(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> np.ndarray:
        """Fills the region's hole through the pyramid; returns the region (or ``box`` of it, when given).

        Shape:
            image: ``H x W x 3`` uint8, uint16 or float in [0, 1] (hole pixels never used); mask: ``H x W``
            bool; working_mask: the pipeline's working-size mask (only its size is used).
        """
        model = split_model(filler)
        coarsest_side = getattr(filler, "network_size", None) or max(working_mask.shape)
        finest = mask.shape
        if self.config.max_side and max(finest) > self.config.max_side:
            finest = fit_long_side(finest, self.config.max_side)
        shapes = pyramid_shapes(finest, coarsest_side, self.config.max_scales, self.config.pixel_budget)
        levels = [self._level(image, mask, shape) for shape in shapes]
        while len(levels) > 1 and levels[0][1].all():  # a level with no known pixel gives no guidance
            levels.pop(0)
        if levels[0][1].all():  # even the finest: fill at full size, where the pipeline made sure of context
            levels = [self._level(image, mask, mask.shape)]
        result = self._refine(model, filler, levels)
        box = checked_box(box, mask)
        if result.shape[:2] == mask.shape:
            return np.where(mask[..., None], result, to_float(image))[box.slices]
        if self.config.lift == "cra":
            return CraLifter().lift(image, mask, FillResult(result), levels[-1][1], box, levels[-1][0])
        return resize_bicubic(result, mask.shape)[box.slices]

    def lift(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise InpaintError("refine lifts through run(): it needs the filler's network, not only its fill")

    @staticmethod
    def _level(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The region (as stored) and mask at ``shape`` in float; a pixel that any hole pixel touches is a hole
        (and zeroed)."""
        if shape == mask.shape:
            level_image, level_mask = to_float(image), mask.copy()
        else:
            level_image, level_mask = area_downsample_pixels(image, shape), downsample_mask(mask, shape)
        level_image[level_mask] = 0.0
        return level_image, level_mask

    def _refine(self, model: Splittable, filler: Filler, levels: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The plain pass at the coarsest level, then one refinement per finer level; the finest result."""
        config, scales = self.config, len(levels)
        image, mask = levels[0]
        result = filler.fill(image, mask).image
        self._report(RefineStep(0, scales, mask.shape, 0, 0, math.nan))
        if scales == 1:
            return result
        device = next(model.parameters()).device  # type: ignore[attr-defined]
        radius = config.erosion // 2
        with _features_only(model):  # type: ignore[arg-type]
            for scale in range(1, scales):
                previous = _to_tensor(result, device)
                target = erode(mask, radius) if radius else mask
                image, mask = levels[scale]

                def report(step: int, loss: float, scale: int = scale, shape: tuple[int, int] = mask.shape) -> None:
                    self._report(RefineStep(scale, scales, shape, step, config.iterations, loss))

                prediction, _ = refine_level(
                    model,
                    _to_tensor(image, device),
                    _to_tensor(mask, device),
                    previous,
                    _to_tensor(target, device),
                    config,
                    report,
                )
                if config.anchor:
                    prediction = anchor_low_frequencies(prediction, previous)
                fill = np.clip(_to_numpy(prediction), 0.0, 1.0)
                result = np.where(mask[..., None], fill, image).astype(np.float32)
        return result

    def _report(self, step: RefineStep) -> None:
        if self.progress is not None:
            self.progress(step)
