"""What every network filler does around its network: run it at its own size, bring the fill back, paste the hole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from hrinpaint.device import MODELS, check_device_name, model_placement, torch_threads
from hrinpaint.errors import ConfigError, InputError
from hrinpaint.fillers.attention import CellAttention
from hrinpaint.fillers.base import Filler, FillResult, check_fill_input
from hrinpaint.fillers.gate import gate_ring, ring_fit
from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side, resize_bilinear

if TYPE_CHECKING:
    import torch


#: What a prefilled network starts from: ``patchmatch`` is the default method's filler (built through the registry,
#: so it follows whatever the default becomes), ``telea`` a diffusion fill, ``none`` the paper's zeroed hole.
PREFILLS = ("patchmatch", "telea", "none")

#: What the network's low band is measured against (:attr:`NetworkFillerConfig.low_band`).
LOW_BANDS = ("network", "change")


@dataclass(frozen=True)
class NetworkFillerConfig:
    """Options every network filler has.

    Attributes:
        weights: a ``.safetensors`` file with its manifest; None for the shipped network.
        size: long side the network runs at; None for the filler's default (from the manifest), 0 for the
            working size as given.
        threads: torch CPU threads during a fill (put back afterwards); 0 keeps torch's setting.
        device: where the network runs: ``auto`` (CUDA, then MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.
        half: run the network in float16 on a GPU (ignored on the CPU).
        prefill: what a prefilled network gets in its hole: None (the default) for the prefill its weights were
            trained with (their manifest's ``config.prefill``), ``patchmatch`` (the default method's fill of the
            working image, area-downsampled to the network's size), ``telea`` (Telea's fill at the network's size)
            or ``none`` (nothing: only for weights trained without a prefill). A network without a prefill in its
            config gets none whatever this says.
        band: sigma, in working pixels, of the Gaussian that splits the fill into bands (see
            :func:`band_merge`): the output is the default method's fill with the network's change below it only,
            so the default's texture passes through and the network corrects structure, colour and illumination.
            An untrained network (no change) then gives exactly the default. 0 takes the network's whole fill.
        low_band: what the network's fill is compared with before the low-pass: ``network`` (the default's fill:
            the network's low band replaces the default's, its structure estimate in place of PatchMatch's) or
            ``change`` (the network's own prefill: only what it changed is added to the default's fill, so a
            network that changes nothing gives the default whatever its prefill).
        weight: the scale of the band-split correction when ``gate`` is off (1: the network's low band whole).
        gate_sigma: 0 for one gate gain for the whole region; above 0 (16, the default) a gain field instead: the
            ring's fit made around each hole pixel with the ring weighted by a Gaussian of this many working pixels
            (:func:`~hrinpaint.fillers.gate.gain_field`), so a correction that helps on one side of the hole and
            hurts on the other is dropped on the second and kept on the first at no more than the one gain.
        gate_cap: the gain field never exceeds the one gain (it only drops the correction where it hurts); False
            lets the local fit keep up to all of it where it helps.
        residual_lift: with ``band = 0``, for a prefilled network that runs below the working size, bring back
            only what it changed: the working image's own prefill plus the upsampled difference between the
            network's fill and its prefill at the network's size (False: the network's fill upsampled).
        attention: hand the network's attention scores to the lifter (``cra`` moves context residuals along
            them); False hands the default's (PatchMatch's offset field) when its fill is the base, so ``cra``
            lifts as the default does, and otherwise lets ``cra`` find its own by cell similarity.
        gate: scale the band-split correction by how much it helps on a ring of known pixels around the hole
            (:meth:`GeneratorFiller.gate_gain`: the hole grown, filled by the default and corrected by the
            network, the scale fitted against the known ring): a network is trusted in the hole only as far as
            it improves the default where the truth is known. Costs a second default fill and network run.
    """

    weights: str | None = None
    size: int | None = None
    threads: int = 0
    prefill: str | None = None
    band: float = 7.0
    low_band: str = "network"
    weight: float = 1.0
    gate_sigma: float = 16.0
    gate_cap: bool = True
    device: str = "auto"
    half: bool = False
    residual_lift: bool = True
    attention: bool = False
    gate: bool = True

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ConfigError(f"size must be >= 0, got {self.size}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {self.threads}")
        if self.prefill is not None and self.prefill not in PREFILLS:
            raise ConfigError(f"prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")
        if not self.band >= 0:
            raise ConfigError(f"band must be >= 0, got {self.band}")
        if self.low_band not in LOW_BANDS:
            raise ConfigError(f"low_band must be one of {', '.join(LOW_BANDS)}, got {self.low_band!r}")
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"weight must be in [0, 1], got {self.weight}")
        if not self.gate_sigma >= 0:
            raise ConfigError(f"gate_sigma must be >= 0, got {self.gate_sigma}")
        check_device_name(self.device)


def shipped_weights(name: str) -> Path:
    """Path of a weights file shipped in ``hrinpaint/weights``."""
    return Path(str(resources.files("hrinpaint") / "weights" / name))


def weights_path(weights: str | None, shipped: str, model_name: str, hint: str) -> Path:
    """The weights to load: ``weights`` when given, else the shipped file (``shipped`` empty: none ship, so
    ``weights`` is required); a readable error naming ``hint`` when they are missing. The one lookup of every
    network part (fillers and lifters)."""
    if weights:
        path = Path(weights)
        if not path.exists():
            raise InputError(f"{model_name} weights {path} do not exist; {hint}")
        return path
    if not shipped:
        raise InputError(f"{model_name} needs weights (none ship with hrinpaint): {hint}")
    path = shipped_weights(shipped)
    if not path.exists():
        raise InputError(f"no {model_name} weights ship with hrinpaint yet: {hint}")
    return path


def load_cached(path: Path, model_name: str, device: str = "cpu", half: bool = False) -> tuple[Any, dict[str, Any]]:
    """The model and manifest at ``path`` on ``device`` (float16 with ``half``, never on the CPU), loaded once per
    process, device and precision (:data:`hrinpaint.device.MODELS`); weights of another model are an error."""
    return MODELS.load(path, model_name, device, half)


def network_scale(
    image: np.ndarray, mask: np.ndarray, size: int | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """The image and mask a network running at long side ``size`` (None: as given) sees: area-downsampled, the
    mask shrunk so that any pixel touching the hole is hole; the third item is the shape the network's fill goes
    back to, None when it runs at the size given."""
    shape = image.shape[:2]
    net_shape = fit_long_side(shape, size) if size else shape
    if net_shape == shape:
        return image, mask, None
    return area_downsample(image, net_shape), downsample_mask(mask, net_shape), shape


def fill_at_size(
    image: np.ndarray,
    mask: np.ndarray,
    size: int | None,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
    threads: int = 0,
    prefill: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Runs ``run(net_image, net_mask) -> net_fill`` with the long side shrunk to ``size`` (None: as given).

    The input is checked; an image without hole comes back as a copy and ``run`` is not called. Otherwise the
    image is area-downsampled and the mask shrunk so that any pixel touching the hole is hole; the fill is
    brought back bilinearly and only hole pixels are taken from it. ``threads`` (0 = torch's setting) sets
    torch's CPU threads while ``run`` runs. With ``prefill(image, mask) -> filled image`` (the fill the network
    starts from), a scaled run brings back only the network's change: ``prefill`` at the full size plus the upsampled
    ``net_fill - prefill(net_image, net_mask)``.

    Shape:
        image ``H x W x 3`` float32 in [0, 1], mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    check_fill_input(image, mask)
    if not mask.any():
        return image.copy()
    net_image, net_mask, back = network_scale(image, mask, size)
    with torch_threads(threads):
        net_fill = run(net_image, net_mask)
    return bring_back(image, mask, net_image, net_mask, net_fill, back, prefill)


def bring_back(
    image: np.ndarray,
    mask: np.ndarray,
    net_image: np.ndarray,
    net_mask: np.ndarray,
    net_fill: np.ndarray,
    back: tuple[int, int] | None,
    prefill: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`fill_at_size`'s last step: ``net_fill`` (of :func:`network_scale`'s ``net_image``, ``net_mask``)
    brought back to ``image``'s size ``back`` (None: it is that size) and taken in the hole only; with
    ``prefill``, only the network's change is brought back, onto ``prefill`` at the full size."""
    if back is None:
        fill = net_fill
    elif prefill is None:
        fill = resize_bilinear(net_fill, back)
    else:
        change = net_fill - prefill(net_image, net_mask)
        fill = np.clip(prefill(image, mask) + resize_bilinear(change.astype(np.float32), back), 0.0, 1.0)
    return np.where(mask[..., None], fill, image).astype(np.float32)


def default_filler() -> Filler:
    """The default method's filler, built through the registry (so it follows whatever the default becomes)."""
    from hrinpaint.fillers import FILLERS
    from hrinpaint.methods import DEFAULT_METHOD, resolve_method

    return FILLERS.build(resolve_method(DEFAULT_METHOD).filler)


def default_fill(image: np.ndarray, mask: np.ndarray) -> FillResult:
    """The default method's filler on a working image: the fill a network's ``patchmatch`` prefill and its band
    split start from."""
    return default_filler().fill(image, mask)


def on_hole(fill: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with its hole taken from ``fill``, brought to the image's size by area averaging (a shape that
    differs only by the rounding of a level's size is resampled the same way)."""
    if fill.shape[:2] != mask.shape:
        fill = cv2.resize(fill, mask.shape[::-1], interpolation=cv2.INTER_AREA)
    return np.where(mask[..., None], fill, image).astype(np.float32)


def low_pass(image: np.ndarray, sigma: float, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels (reflected borders, or ``border``); ``H x W x C`` float32 in, same out."""
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=border)


def low_band(change: np.ndarray, mask: np.ndarray, sigma: float, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """The part of ``change`` below a Gaussian of ``sigma`` pixels, in the hole only (zero elsewhere); a change
    smaller than ``mask`` is brought up bilinearly first. ``H x W x 3`` float32 out."""
    if change.shape[:2] != mask.shape:
        change = resize_bilinear(np.ascontiguousarray(change, dtype=np.float32), mask.shape)
    blurred = low_pass(np.ascontiguousarray(change, dtype=np.float32), sigma, border)
    return np.where(mask[..., None], blurred, 0.0).astype(np.float32)


def band_merge(
    base: np.ndarray, change: np.ndarray, mask: np.ndarray, sigma: float, border: int = cv2.BORDER_REFLECT
) -> np.ndarray:
    """``base`` plus the part of ``change`` below a Gaussian of ``sigma`` pixels, in the hole only.

    ``change`` (what a network did to ``base``, zero on known pixels; at ``base``'s size or smaller, then brought
    up bilinearly) is low-passed, so the result keeps every band of ``base`` above the Gaussian (its texture) and
    takes the network's structure, colour and illumination below it. The change fades over about ``sigma``
    pixels at the hole's border, where the known pixels' change is zero, so no seam appears there. ``border``:
    how the blur extends the change past the array's edges (reflected: the image ends there; constant zero: known
    pixels lie beyond).

    Shape:
        base ``H x W x 3`` float32, change ``h x w x 3``, mask ``H x W`` bool; returns ``H x W x 3`` float32.
    """
    merged = np.clip(base + low_band(change, mask, sigma, border), 0.0, 1.0)
    return np.where(mask[..., None], merged, base).astype(np.float32)


def batch_prefill(image: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor | None:
    """The hole's prefill for a ``B x 3 x H x W`` batch (None for ``kind == "none"``), computed on the CPU: what a
    prefilled network starts from, the same in training and in the fillers (``patchmatch``: the default
    method's filler, slow; training reads it from a cached pool instead)."""
    if kind == "none":
        return None
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    from hrinpaint.fillers.opencv import telea_prefill

    def fill(picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
        if kind == "telea":
            return telea_prefill(picture, hole)
        holed = np.where(hole[..., None], 0.0, picture).astype(np.float32)
        return default_fill(holed, hole).image if hole.any() else holed

    images = image.detach().cpu().permute(0, 2, 3, 1).numpy()
    holes = mask.detach().cpu()[:, 0].numpy() > 0.5
    filled = np.stack([fill(np.ascontiguousarray(x), h) for x, h in zip(images, holes, strict=True)])
    return torch.from_numpy(filled).permute(0, 3, 1, 2).contiguous().to(image.device, image.dtype)


def to_tensors(image: np.ndarray, mask: np.ndarray, model: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``1 x 3 x H x W`` and ``1 x 1 x H x W`` float tensors from the canonical arrays, on ``model``'s device and in
    its dtype when a model is given."""
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    image_tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    mask_tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    if model is None:
        return image_tensor, mask_tensor
    device, dtype = model_placement(model)
    return image_tensor.to(device, dtype), mask_tensor.to(device, dtype)


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """A ``1 x 3 x H x W`` network output as an ``H x W x 3`` float32 array on the host."""
    return tensor[0].permute(1, 2, 0).float().cpu().numpy()


def cell_attention(out: Any, shape: tuple[int, int]) -> CellAttention:
    """A generator's attention scores (``out.scores``: ``1 x N x N``, ``out.hole_cells``, ``out.grid``) as cell
    attention over ``shape``; the grid covers the network's padded image, so it matches ``shape`` up to the
    padding."""
    scores = out.scores[0].float().cpu().numpy()
    hole = out.hole_cells[0, 0].float().cpu().numpy().reshape(-1) > 0.5
    hole_cells = np.flatnonzero(hole)
    context = np.flatnonzero(scores[hole_cells].sum(axis=0) > 0) if len(hole_cells) else np.zeros(0, np.int64)
    weights = scores[np.ix_(hole_cells, context)].astype(np.float32)
    return CellAttention(shape, out.grid, hole_cells.astype(np.int64), context.astype(np.int64), weights)


#: ``prefill(image, mask) -> filled`` on ``B x 3 x H x W`` and ``B x 1 x H x W`` tensors: what a prefilled network
#: finds in its hole at whatever size it asks for.
Prefill = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def tensor_prefill(kind: str, base: np.ndarray | None = None) -> Prefill | None:
    """The prefill a network gets: Telea's fill of the tensors' hole (``telea``), ``base`` (the default's fill of
    the working image) area-resampled to the tensors' size (``patchmatch``), or None (``none``)."""
    if kind == "none":
        return None
    if kind == "telea":
        return lambda image, mask: batch_prefill(image, mask, "telea")
    if base is None:
        raise ValueError("a patchmatch prefill needs the default's fill of the working image")
    import torch  # noqa: F811 - imported here so that importing this module does not load torch

    def resized(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shape = tuple(image.shape[-2:])
        fill = base if shape == base.shape[:2] else cv2.resize(base, shape[::-1], interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(np.ascontiguousarray(fill.transpose(2, 0, 1)))[None].to(image.device, image.dtype)
        return tensor.expand(image.shape[0], -1, -1, -1)

    return resized


class GeneratorFiller:
    """A trained generator with contextual attention as a filler (``hifill``, ``zoom``, ``pyramid``).

    The default method's filler fills the working image first (the *base*); the network runs at
    :attr:`network_size` (a larger working image is area-downsampled for it), starting from its prefill (the base,
    by default), and what it changes below a Gaussian (:func:`low_band`) is returned beside the base as its
    ``correction``: the lifter lifts the base as the default does (along the default's offset field) and adds the
    correction after (``docs/methods/networks.md``). A subclass names its ``model_name``, its ``shipped`` weights
    file and a ``train_hint``, and may change :meth:`default_size` and :meth:`network_call`.
    """

    Config = NetworkFillerConfig
    model_name = ""
    shipped = ""
    train_hint = "train and export them (see configs/) or pass weights"

    def __init__(self, config: NetworkFillerConfig | None = None) -> None:
        self.config = config or self.Config()
        path = weights_path(self.config.weights, self.shipped, self.model_name, self.train_hint)
        self.model, self.manifest = load_cached(path, self.model_name, self.config.device, self.config.half)
        if self.model.config.prefill != "none" and self.config.prefill == "none":
            raise InputError(f"weights {path} were trained on a {self.model.config.prefill} prefill: pass one")

    def default_size(self) -> int | None:
        """The network's long side when the config leaves it open: its training resolution."""
        return int(self.manifest.get("training", {}).get("resolution", 0)) or None

    @property
    def network_size(self) -> int | None:
        """Long side of the network's input; None for the working size as given."""
        if self.config.size is None:
            return self.default_size()
        return self.config.size or None

    @property
    def prefill(self) -> str:
        """What the network gets in its hole: for a prefilled network the config's prefill, or the one its weights
        were trained with; else ``none``."""
        return "none" if self.model.config.prefill == "none" else self.config.prefill or self.model.config.prefill

    def network_call(
        self, shape: tuple[int, int], prefill: Prefill | None
    ) -> tuple[int | None, Callable[[torch.Tensor, torch.Tensor], Any]]:
        """For a working image of ``shape``: the long side to run the network at (None: as given) and the call
        ``(image, mask) -> output`` on its tensors, the hole prefilled by ``prefill``."""
        return self.network_size, lambda image, mask: self.model(image, mask, prefill(image, mask) if prefill else None)

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        check_fill_input(image, mask)
        if not mask.any():
            return FillResult(image.copy())
        needs_base = self.config.band > 0 or self.prefill == "patchmatch"
        filled = self.fill_on(image, mask, default_fill(image, mask) if needs_base else None)
        if filled.correction is None:
            return filled
        gain = self.gate_gain(image, mask) if self.config.gate else self.config.weight
        scale = gain[..., None] if isinstance(gain, np.ndarray) else np.float32(gain)
        return FillResult(filled.image, filled.attention, filled.correction * scale)

    def gate_gain(self, image: np.ndarray, mask: np.ndarray, sigma: float | None = None) -> float | np.ndarray:
        """How much of the network's correction to keep, in [0, 1], measured where the truth is known: the hole
        is grown by a ring (:func:`gate_ring`), the default fills the grown hole and the network corrects that
        fill, and the gain is the least-squares scale of the correction that best moves the default's fill
        towards the known pixels of the ring. A network whose correction does not help there is not trusted
        inside the hole either (gain 0: the default's fill)."""
        ring, grown = gate_ring(mask)
        if not ring.any():
            return 1.0
        holed = np.where(grown[..., None], 0.0, image).astype(np.float32)
        base = default_fill(holed, grown)
        correction = self.fill_on(holed, grown, base, sigma).correction
        if correction is None:
            return 1.0
        return ring_fit(correction, image - base.image, ring, self.config.gate_sigma, self.config.gate_cap)

    def fill_on(
        self, image: np.ndarray, mask: np.ndarray, base: FillResult | None, sigma: float | None = None
    ) -> FillResult:
        """:meth:`fill` from a given base (the default's fill of this image; None when neither the prefill nor
        the band split needs one): the network's correction of it, split at ``sigma`` pixels (None: the config's
        ``band``; ``refine`` passes it scaled to each level)."""
        import torch  # noqa: F811 - imported here so that importing this module does not load torch

        check_fill_input(image, mask)
        if not mask.any():
            return FillResult(image.copy())
        prefill = tensor_prefill(self.prefill, base and base.image)
        size, call = self.network_call(image.shape[:2], prefill)
        net_image, net_mask, back = network_scale(image, mask, size)
        tensors = to_tensors(net_image, net_mask, self.model)
        with torch_threads(self.config.threads), torch.inference_mode():
            output = call(*tensors)
        net_fill = to_array(output.image)
        attention = cell_attention(output, image.shape[:2]) if self.config.attention else None
        if self.config.band > 0:
            assert base is not None
            if self.config.low_band == "change" and prefill is not None:
                reference = on_hole(to_array(prefill(*tensors)), net_image, net_mask)
            else:
                reference = on_hole(base.image, net_image, net_mask)
            change = np.where(net_mask[..., None], net_fill - reference, 0.0)
            # the base itself is lifted as the default lifts it; the correction is added after lifting
            correction = low_band(change, mask, sigma or self.config.band)
            return FillResult(base.image, attention or base.attention, correction)
        lift = None
        if self.config.residual_lift and self.prefill == "telea":
            from hrinpaint.fillers.opencv import telea_prefill

            lift = telea_prefill
        elif self.config.residual_lift and base is not None:

            def lift(part: np.ndarray, hole: np.ndarray) -> np.ndarray:
                return on_hole(base.image, part, hole)

        result = bring_back(image, mask, net_image, net_mask, net_fill, back, prefill=lift)
        return FillResult(result, attention or (base.attention if base is not None else None))
