"""Shift refinement (Moskalenko et al.): a U-Net over the full-resolution stage-1 fill and four shifted copies.

Stage 1 is any filler at the working size, brought to full resolution by the ``upsample`` or ``cra`` lifter and
pasted into the hole. Stage 2 runs :class:`~hrinpaint.nn.shift.ShiftUNet` at full resolution on the 20-channel
stack of the stage-1 image and its copies shifted by a fraction of the region's size (see
:mod:`hrinpaint.nn.shift`).

Memory stays bounded at any size: the stack is never built for the whole region. The stage-1 image differs from
the region only in the hole, so it is kept as the region (in its stored dtype) plus the lifted hole box, and each
window's 20 channels are gathered from it at the five offsets. A region of at most ``max_pixels`` is refined in
one pass over all of it (the paper's "whole image"); a larger one in tiles that cover the hole's bounding box,
each run on its core grown by ``overlap`` pixels of context and kept only over its core. Window origins sit on
the network's pad multiple (relative to the region), so its strided layers see the same pixel grid in every tile
and in the one-pass run: with an overlap wider than the network's reach, tiled and untiled agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from hrinpaint.device import check_device_name, model_placement, torch_threads
from hrinpaint.errors import ConfigError
from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.fillers.gate import agreed, gate_masks, ring_fit
from hrinpaint.fillers.network import LOW_BANDS, band_merge, load_cached, weights_path
from hrinpaint.fillers.opencv import telea_prefill
from hrinpaint.lifters.base import (
    TwoStepLifter,
    checked_box,
    fill_at_native_size,
    fill_at_working_size,
    registered_two_step,
)
from hrinpaint.lifters.octave import OctaveConfig
from hrinpaint.lifters.octave_bands import keep_in_context
from hrinpaint.lifters.upsample import UpsampleLifter
from hrinpaint.nn.shift import shift_offsets
from hrinpaint.ops.regions import Box, bounding_box
from hrinpaint.pixels import to_float

#: The weights that ship inside the package (trained with ``configs/shift-cpu.toml``).
SHIPPED_WEIGHTS = "shift.safetensors"
STAGE1_LIFTERS = ("default", "upsample", "cra", "octave")
#: What the network refines (:attr:`ShiftConfig.network_stage1`): the stage-1 image, or Telea's fill brought up
#: bicubically (the stage 1 the shipped weights were trained on).
NETWORK_STAGE1 = ("stage1", "telea")
_TRAIN_HINT = "train them with `hrinpaint train configs/shift-cpu.toml --run RUN --export shift.safetensors`"


@dataclass(frozen=True)
class ShiftConfig:
    """Options of the ``shift`` lifter.

    Attributes:
        weights: a ``.safetensors`` file of a ``shift`` model with its manifest; None for the shipped one.
        stage1: how the working fill reaches full resolution before refinement: ``"default"``, the default
            method's lifter (so that after the default's filler stage 1 is the default's output), or by name:
            ``"octave"``, ``"upsample"`` (bicubic) or
            ``"cra"`` (with the context's residual detail).
        shift: fraction of the region's height and width by which the copies move; None for the value the
            network was trained with.
        tile: side, in pixels, of the tiles' cores when the region is tiled.
        overlap: context, in pixels, that each tile's window adds around its core.
        max_pixels: a region of at most this many pixels is refined in one pass; a larger one in tiles.
        threads: torch CPU threads during a refinement (put back afterwards); 0 keeps torch's setting.
        device: where the network runs: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.
        half: run the network in float16 on a GPU (ignored on the CPU).
        band: sigma, in working pixels (scaled to the region's size), of the Gaussian below which the network's
            change to the stage-1 image is kept (:func:`~hrinpaint.fillers.network.band_merge`): the stage-1
            texture passes through and the network corrects structure, colour and illumination; without any
            change the result is the stage-1 image itself (after ``patchmatch``: the default's output). 0 takes
            the network's whole output.
        gate: scale the network's change by how much it helps on a ring of known pixels around the hole (the
            hole grown, filled and refined the same way; :meth:`ShiftLifter.gate_gain`). Costs a second stage 1
            and network pass, and a pass of stage 1 alone for each.
        gate_sigma: 0 for one gate gain for the whole region; above 0 (16, the default, as the network fillers'
            option) a gain field: the ring's fit made around each hole pixel with the ring weighted by a Gaussian
            of this many working pixels (scaled to the region; :func:`~hrinpaint.fillers.gate.gain_field`), so a
            change that helps on one side of the hole and hurts on the other is dropped on the second.
        gate_cap: the gain field never exceeds the one gain (it only drops the change where it hurts).
        gate_agree: keep, of the network's change, only what the run on the grown hole (the one the ring checks)
            agrees with (:func:`~hrinpaint.fillers.gate.agreed`): a change that comes from what lies just outside
            the hole, which the grown hole covers (a dark remnant of the removed object that the mask left), is not
            kept. On (the default) since session 33: on real removal ``11`` the sky above the horizon 2.0 levels
            darker than the default's without it, 0.5 with it; over the default on 24 photos at 2048 px, object
            holes +0.015 dB with it (on 17 of them +0.018, where it gained +0.034 without), thick strokes +0.032
            (on 16: +0.043 and +0.040).
        keep_bands: the luma detail of this many of the finest octaves is kept at least at stage 1's (the
            default's output; :func:`~hrinpaint.lifters.octave_bands.keep_band_energy`, gain at most the octave
            lifter's ``coarse_gain``, as there): the network changes structure, not the amount of detail; 0 = off.
        network_stage1: what the network refines: None for what its weights were trained on (their manifest's
            ``training.prefill``; ``telea`` for weights without one), ``stage1`` (the stage-1 image) or ``telea``
            (Telea's fill of the working image brought up bicubically, pasted into the hole). The stage-1 image
            stays the base: only the network's output below ``band`` replaces its low band.
        low_band: what the network's output is compared with before the low-pass (as the network fillers'
            option): ``network`` (the stage-1 image: the network's low band replaces it) or ``change`` (what the
            network refined: only its change is added, so a network that changes nothing gives stage 1).
    """

    weights: str | None = None
    stage1: str = "default"
    shift: float | None = None
    tile: int = 512
    overlap: int = 64
    max_pixels: int = 1 << 20
    threads: int = 0
    band: float = 7.0
    gate: bool = True
    gate_sigma: float = 16.0
    gate_cap: bool = True
    gate_agree: bool = True
    keep_bands: int = 5
    device: str = "auto"
    half: bool = False
    network_stage1: str | None = None
    low_band: str = "network"

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.network_stage1 is not None and self.network_stage1 not in NETWORK_STAGE1:
            raise ConfigError(f"network_stage1 must be one of {NETWORK_STAGE1}, got {self.network_stage1!r}")
        if self.low_band not in LOW_BANDS:
            raise ConfigError(f"low_band must be 'network' or 'change', got {self.low_band!r}")
        if self.stage1 not in STAGE1_LIFTERS:
            raise ConfigError(f"stage1 must be one of {STAGE1_LIFTERS}, got {self.stage1!r}")
        if self.shift is not None and not 0.0 <= self.shift < 1.0:
            raise ConfigError(f"shift must be in [0, 1) or None, got {self.shift}")
        if self.tile < 1 or self.overlap < 0 or self.max_pixels < 1 or self.threads < 0 or not self.band >= 0:
            raise ConfigError("tile and max_pixels must be positive, overlap, threads and band non-negative")
        if self.keep_bands < 0:
            raise ConfigError(f"keep_bands must be non-negative, got {self.keep_bands}")
        if not self.gate_sigma >= 0:
            raise ConfigError(f"gate_sigma must be >= 0, got {self.gate_sigma}")
        object.__setattr__(self, "max_pixels", int(self.max_pixels))  # 1e6 from a config file is a float


@dataclass(frozen=True)
class ShiftStep:
    """A progress report after each window the network ran on: ``window`` of ``windows`` (1-based)."""

    window: int
    windows: int


ShiftProgress = Callable[[ShiftStep], None]


class Stage1:
    """The stage-1 image of a region, read window by window: the region's pixels, with the lifted fill in the hole.

    Args:
        region: ``H x W x 3`` uint8, uint16 or float in [0, 1] (hole pixels never read); mask: ``H x W`` bool.
        hole: a box holding every hole pixel; lifted: ``hole.height x hole.width x 3`` float32, the fill there.
    """

    def __init__(self, region: np.ndarray, mask: np.ndarray, hole: Box, lifted: np.ndarray) -> None:
        if lifted.shape != (*hole.shape, 3):
            raise ValueError(f"the lifted fill {lifted.shape} does not cover the hole box {hole.shape}")
        self.region, self.mask, self.hole, self.lifted = region, mask, hole, lifted
        self.shape: tuple[int, int] = mask.shape

    def read(self, top: int, bottom: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        """Colours (``h x w x 3`` float32, a new array) and hole (``h x w`` bool, a view) of a window inside it."""
        pixels = to_float(self.region[top:bottom, left:right])
        hole = self.mask[top:bottom, left:right]
        inner_top, inner_bottom = max(top, self.hole.top), min(bottom, self.hole.bottom)
        inner_left, inner_right = max(left, self.hole.left), min(right, self.hole.right)
        if inner_top < inner_bottom and inner_left < inner_right:
            window = (slice(inner_top - top, inner_bottom - top), slice(inner_left - left, inner_right - left))
            lifted = self.lifted[
                inner_top - self.hole.top : inner_bottom - self.hole.top,
                inner_left - self.hole.left : inner_right - self.hole.left,
            ]
            np.copyto(pixels[window], lifted, where=hole[window][..., None])
        return pixels, hole


def gather_stack(source: Stage1, window: Box, offsets: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The 20-channel network input over ``window``, read from ``source`` at each copy's offset.

    Equals :func:`hrinpaint.nn.shift.shifted_stack` of the whole stage-1 image, cut to ``window``: a copy's pixel
    whose source lies outside the region is hole, with colour zero.

    Shape:
        Returns ``20 x window.height x window.width`` float32.
    """
    height, width = source.shape
    copies = len(offsets)
    stack = np.zeros((4 * copies, window.height, window.width), dtype=np.float32)
    stack[3 * copies :] = 1.0
    for index, (dy, dx) in enumerate(offsets):
        top, bottom = max(window.top + dy, 0), min(window.bottom + dy, height)
        left, right = max(window.left + dx, 0), min(window.right + dx, width)
        if top >= bottom or left >= right:
            continue
        pixels, hole = source.read(top, bottom, left, right)
        rows = slice(top - dy - window.top, bottom - dy - window.top)
        cols = slice(left - dx - window.left, right - dx - window.left)
        stack[3 * index : 3 * index + 3, rows, cols] = pixels.transpose(2, 0, 1)
        stack[3 * copies + index, rows, cols] = hole
    return stack


def _moved(values: np.ndarray, source: Box, target: Box) -> np.ndarray:
    """``values`` (over ``source``) over ``target`` instead: zero where ``source`` does not reach."""
    moved = np.zeros((*target.shape, *values.shape[2:]), np.float32)
    both = target.intersection(source)
    if both is not None:
        moved[both.within(target)] = values[both.within(source)]
    return moved


def _split(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(start, stop, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def tile_windows(shape: tuple[int, int], hole: Box, tile: int, overlap: int, multiple: int) -> list[tuple[Box, Box]]:
    """``(window, core)`` pairs: cores of at most ``tile`` pixels a side partition ``hole``; each window is its
    core grown by ``overlap`` (clipped to the region), with its top-left corner moved back to a multiple of
    ``multiple`` so that every window sees the same downsampling grid."""
    height, width = shape
    rows = _split(hole.top, hole.bottom, -(-hole.height // tile))
    cols = _split(hole.left, hole.right, -(-hole.width // tile))
    pairs = []
    for top, bottom in rows:
        for left, right in cols:
            core = Box(top, left, bottom, right)
            window = Box(
                max(0, top - overlap) // multiple * multiple,
                max(0, left - overlap) // multiple * multiple,
                min(height, bottom + overlap),
                min(width, right + overlap),
            )
            pairs.append((window, core))
    return pairs


class ShiftLifter:
    """Stage-1 fill lifted to full resolution, then refined by the shift U-Net (see the module's notes).

    A :class:`~hrinpaint.lifters.base.Lifter`; stage 1 is a
    :class:`~hrinpaint.lifters.base.TwoStepLifter` (``config.stage1``), whose :meth:`lift` this one extends.

    Args:
        config: the options.
        progress: called with a :class:`ShiftStep` after each window the network runs on.
    """

    Config = ShiftConfig

    def __init__(self, config: ShiftConfig | None = None, progress: ShiftProgress | None = None) -> None:
        self.config = config or ShiftConfig()
        self.progress = progress
        path = weights_path(self.config.weights, SHIPPED_WEIGHTS, "shift", _TRAIN_HINT)
        self.model, self.manifest = load_cached(path, "shift", self.config.device, self.config.half)
        self.stage1: TwoStepLifter = registered_two_step(self.config.stage1)

    @property
    def network_stage1(self) -> str:
        """What the network refines: the config's choice, else what the weights were trained on."""
        trained = str(self.manifest.get("training", {}).get("prefill", "telea+upsample"))
        return self.config.network_stage1 or ("telea" if trained.startswith("telea") else "stage1")

    @property
    def fraction(self) -> float:
        return self.model.config.shift if self.config.shift is None else self.config.shift

    def run(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> np.ndarray:
        """:meth:`Lifter.run <hrinpaint.lifters.base.Lifter.run>`: stage 1 (the fill lifted by ``stage1``) refined
        by the network; a region filled at its own resolution is refined too (stage 1 is then the fill itself,
        with its correction). With ``gate`` (and a band split) the network's change is scaled by how much it
        helps on a ring of known pixels around the hole (:meth:`gate_gain`), and with ``gate_agree`` only what
        the run on the grown hole agrees with is kept."""
        gated = self.config.gate and self.config.band > 0
        keep = self.config.keep_bands > 0 and self.config.band > 0
        refined, stage1 = self._run(image, mask, filler, working_mask, box, with_stage1=gated or keep)
        if stage1 is None:
            return refined
        box = checked_box(box, mask)
        hole = mask[box.slices]
        if gated:
            gain, grown_change = self._gate(image, mask, filler, working_mask, box)
            gain = gain[..., None] if isinstance(gain, np.ndarray) else np.float32(gain)
            change = refined - stage1
            if self.config.gate_agree and grown_change is not None:
                change = agreed(change, grown_change)
            refined = np.where(hole[..., None], stage1 + gain * change, refined).astype(np.float32)
        if keep:  # the network changes structure, not the amount of detail stage 1 (the default's output) has
            refined = keep_in_context(
                image, mask, box, refined, stage1, self.config.keep_bands, OctaveConfig.coarse_gain
            )
        return refined

    def gate_gain(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box | None = None
    ) -> float | np.ndarray:
        """The share of the network's change kept, in [0, 1]: the hole grown by a ring
        (:func:`~hrinpaint.fillers.gate.gate_ring`) is filled and refined the same way, and the gain is the
        least-squares scale of the change that best moves stage 1 towards the ring's known pixels (see
        :meth:`hrinpaint.fillers.network.GeneratorFiller.gate_gain`). With ``gate_sigma`` above 0 a gain field
        over ``box`` (``H x W`` float32) instead, the fit made around every hole pixel
        (:func:`~hrinpaint.fillers.gate.gain_field`)."""
        return self._gate(image, mask, filler, working_mask, checked_box(box, mask))[0]

    def _gate(
        self, image: np.ndarray, mask: np.ndarray, filler: Filler, working_mask: np.ndarray, box: Box
    ) -> tuple[float | np.ndarray, np.ndarray | None]:
        """:meth:`gate_gain`, and the change of the run on the grown hole over ``box`` (None without a ring, or
        without ``gate_agree``, which alone reads it)."""
        masks = gate_masks(mask, working_mask)
        if masks is None:
            return 1.0, None
        ring, grown, grown_working = masks
        grown_box = bounding_box(grown)
        assert grown_box is not None
        refined, stage1 = self._run(image, grown, filler, grown_working, grown_box, with_stage1=True)
        assert stage1 is not None
        on_ring, change = ring[grown_box.slices], refined - stage1
        missing = to_float(image[grown_box.slices]) - stage1
        # the hole inside box lies inside the grown box
        grown_change = _moved(change, grown_box, box) if self.config.gate_agree else None
        sigma = self.config.gate_sigma * max(mask.shape) / max(working_mask.shape)
        gain = ring_fit(change, missing, on_ring, sigma, self.config.gate_cap)
        return (_moved(gain, grown_box, box) if isinstance(gain, np.ndarray) else gain), grown_change

    def _run(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filler: Filler,
        working_mask: np.ndarray,
        box: Box | None,
        with_stage1: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The refined fill over ``box``, ungated, and with ``with_stage1`` stage 1 over ``box`` from the same fill
        (what ``self.stage1.run`` gives, without filling a second time); else None.

        The fill's correction is in stage 1 once: at the native size folded into the fill, at the working size
        added to the lifted stage 1 by :meth:`lift`; the refined result is not corrected again (it was until
        session 23: twice at the working size, about 2/255 in the hole with ``hifill`` ungated)."""
        box = checked_box(box, mask)
        if working_mask.shape == mask.shape:
            filled = fill_at_native_size(image, mask, filler)
            corrected = filled.corrected()
            refined = self.lift(image, mask, FillResult(corrected, filled.attention), working_mask, box)
            return refined, corrected[box.slices] if with_stage1 else None
        filled, working_image = fill_at_working_size(image, working_mask, filler)
        refined = self.lift(image, mask, filled, working_mask, box=box, working_image=working_image)
        if not with_stage1:
            return refined, None
        return refined, self.stage1.lift_corrected(image, mask, filled, working_mask, box, working_image)

    def lift(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        filled: FillResult,
        working_mask: np.ndarray,
        box: Box | None = None,
        working_image: np.ndarray | None = None,
    ) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != mask.shape:
            raise ValueError(f"shift expects an H x W x 3 image and an H x W mask, got {image.shape}, {mask.shape}")
        box = checked_box(box, mask)
        hole = bounding_box(mask)
        if hole is None:
            return self.stage1.lift(image, mask, filled, working_mask, box, working_image)
        lifted = np.clip(self.stage1.lift_corrected(image, mask, filled, working_mask, hole, working_image), 0.0, 1.0)
        source = Stage1(image, mask, hole, lifted)
        result, _ = source.read(box.top, box.bottom, box.left, box.right)
        inner = hole.within(box)
        network_input = lifted
        if self.network_stage1 == "telea" and self.config.band > 0:
            telea = FillResult(telea_prefill(filled.image, working_mask))
            network_input = UpsampleLifter().lift(image, mask, telea, working_mask, hole, working_image)
            refined = self.refine(Stage1(image, mask, hole, network_input), hole)
        else:
            refined = self.refine(source, hole)
        if self.config.band > 0:
            sigma = self.config.band * max(mask.shape) / max(working_mask.shape)
            reference = network_input if self.config.low_band == "change" else lifted
            change = np.where(mask[hole.slices][..., None], refined - reference, 0.0)
            refined = band_merge(lifted, change, mask[hole.slices], sigma, cv2.BORDER_CONSTANT)
        result[inner] = refined
        return result

    def windows(self, shape: tuple[int, int], hole: Box) -> list[tuple[Box, Box]]:
        """The ``(window, core)`` pairs the network runs on: the whole region once, or tiles (module notes)."""
        height, width = shape
        if height * width <= self.config.max_pixels:
            return [(Box(0, 0, height, width), hole)]
        return tile_windows(shape, hole, self.config.tile, self.config.overlap, self.model.multiple)

    def refine(self, source: Stage1, hole: Box) -> np.ndarray:
        """The network's output over ``hole``, clipped to [0, 1]: ``hole.height x hole.width x 3`` float32."""
        offsets = shift_offsets(source.shape, self.fraction)
        pairs = self.windows(source.shape, hole)
        out = np.empty((*hole.shape, 3), dtype=np.float32)
        device, dtype = model_placement(self.model)
        for done, (window, core) in enumerate(pairs, start=1):
            stack = torch.from_numpy(gather_stack(source, window, offsets))[None].to(device, dtype)
            with torch.inference_mode(), torch_threads(self.config.threads):
                refined = self.model(stack)[0].float()
            keep = refined[(slice(None), *core.within(window))]
            out[core.within(hole)] = keep.clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()
            if self.progress is not None:
                self.progress(ShiftStep(done, len(pairs)))
        return out
