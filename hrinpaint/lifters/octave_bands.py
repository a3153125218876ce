"""The octave lifter's detail steps on a filled area: push-pull interpolation, the low band taken from a smooth
estimate, and the per-octave band-energy restoration (``docs/methods/patchmatch.md`` has the measurements)."""

from __future__ import annotations

import cv2
import numpy as np

from hrinpaint.ops.pyramid import laplacian_pyramid, reconstruct_laplacian
from hrinpaint.ops.regions import Box
from hrinpaint.pixels import to_float


def push_pull(values: np.ndarray, weights: np.ndarray, saturate: bool = False) -> np.ndarray:
    """Fills the gaps of a sparse field smoothly (Gortler et al.'s push-pull): ``values`` are premultiplied by
    ``weights`` (``h x w``, in [0, 1]); where the weight is below 1 the coarser levels' estimate fills in.
    ``saturate``: a coarser level's weight is the sum of the finer weights it covers, at most 1 (Gortler's
    rule: a gap is filled from its nearest data); otherwise their mean (far data weighs in as well).

    Shape: ``h x w x c`` float32 -> ``h x w x c`` float32.
    """
    if min(weights.shape) < 4:
        total = max(float(weights.sum()), 1e-6)
        return np.broadcast_to(values.sum(axis=(0, 1)) / total, values.shape).astype(np.float32)
    coarse = cv2.pyrDown(values).reshape(-1, (values.shape[1] + 1) // 2, values.shape[2])
    coarse_weights = cv2.pyrDown(weights)
    if saturate:
        scale = np.float32(4.0) / np.maximum(coarse_weights * 4.0, 1.0)
        coarse, coarse_weights = coarse * scale[:, :, None], coarse_weights * scale
    coarse_values = push_pull(coarse, coarse_weights, saturate)
    height, width = weights.shape
    guess = cv2.pyrUp(coarse_values, dstsize=(width, height)).reshape(values.shape)
    share = np.minimum(weights, 1.0)[:, :, None]
    here = values / np.maximum(weights, 1e-6)[:, :, None]
    return (share * here + (1.0 - share) * guess).astype(np.float32)


# Band energy is averaged over about this many pixels of each level when it is compared.
_ENERGY_SIGMA = 6.0
# restore_bands' brightness levels (``levels`` > 1) overlap at least this much (luma in [0, 1]).
_GUIDE_SPREAD = 0.03
# keep_band_energy compares the energy before and after a change this locally (pixels of each level): a change
# that moves detail from one place to another must not pass for one that keeps it (measured: 6 kept 0.007 less
# band-3 energy than 2 under pyramid's correction, hole PSNR within 0.01 dB).
_KEEP_SIGMA = 2.0
# Rebuilding the image spreads each band's change over its neighbours, so one pass leaves a band up to 1 % under
# the reference's energy; more passes make that up (measured on 2048 px object and thick holes: per-case ratios
# against the default from 0.989-0.999 to 0.996-1.000 for ``shift`` and ``zoom`` with two; with the default's
# two-pass restoration two left ``shift``'s band 3 at 0.9945 on one photo and its median 0.0013 under the
# default's, three leave every case at 0.9995 or more).
_KEEP_PASSES = 3
# keep_in_context reads this many pixels of the coarsest kept octave around the box (as restore_context does).
_KEEP_CONTEXT = 4
_BORDER = np.ones((5, 5), np.uint8)
_STATS_FACTOR = 4
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# restore_bands' ``max_gain`` bounds this many of the finest bands, ``coarse_gain`` the others.
_FINE_BANDS = 2


def _level_hole(hole: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The hole at ``band``'s size, from the hole of the level above (a pixel any hole pixel touches is hole)."""
    if hole.shape == band.shape[:2]:
        return hole
    return cv2.resize(hole.astype(np.uint8), band.shape[1::-1], interpolation=cv2.INTER_AREA) > 0


def _pooled_energies(
    energy: np.ndarray, context: np.ndarray, core: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The context's local energy carried into the hole, the fill's local energy, and the smoothed fill weight
    that it was divided by, over the weights given."""
    smooth_weight = cv2.GaussianBlur(context, (0, 0), sigma)
    local = cv2.GaussianBlur(energy * context, (0, 0), sigma) / np.maximum(smooth_weight, 1e-6)
    reach = np.minimum(smooth_weight * 4.0, 1.0)
    # carried into the hole from the nearest context: with a mean over the coarse levels instead, a detailed area
    # further away outweighed the flat context next to the hole (energies differ by orders of magnitude), and a
    # perfect fill came out with up to 5 times its energy in band 3 (a stripe of rough water on 2048 px holes)
    target = push_pull((local * reach)[:, :, None], reach, saturate=True)[:, :, 0]
    fill_weight = cv2.GaussianBlur(core, (0, 0), sigma)
    fill_energy = cv2.GaussianBlur(energy * core, (0, 0), sigma) / np.maximum(fill_weight, 1e-6)
    return target, fill_energy, fill_weight


def _guided_energies(
    energy: np.ndarray, context: np.ndarray, core: np.ndarray, sigma: float, guide: np.ndarray, levels: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_pooled_energies` pooled separately for ``levels`` levels of ``guide`` (the fill's blurred luma):
    soft memberships around its quantiles; each pixel mixes the levels it belongs to, so a hole pixel's target comes
    from context of its own brightness (a sky above a horizon does not take the sea's energy)."""
    centres = np.quantile(guide, (np.arange(levels) + 0.5) / levels)
    spread = max(float(np.min(np.diff(centres))), _GUIDE_SPREAD)
    target, fill_energy, total = np.zeros_like(energy), np.zeros_like(energy), np.zeros_like(energy)
    for centre in centres:
        member = np.exp(-0.5 * np.square((guide - centre) / spread)).astype(np.float32)
        part_target, part_fill, part_weight = _pooled_energies(energy, context * member, core * member, sigma)
        target += member * part_target
        # where no fill pixel of this level is near, the level says nothing of the fill's energy
        fill_energy += member * np.where(part_weight > 1e-4, part_fill, 0.0)
        total += member
    return target / np.maximum(total, 1e-6), fill_energy / np.maximum(total, 1e-6)


def _band_gain(
    energy: np.ndarray,
    hole: np.ndarray,
    max_gain: float,
    start: list[np.ndarray] | None = None,
    guide: np.ndarray | None = None,
    levels: int = 1,
) -> np.ndarray | None:
    """The amplitude gain of one band (see :func:`restore_bands`): 1 outside the hole; None without context.

    The energies are smooth maps, so they are compared at a quarter of the band's resolution (when it is large
    enough) and the gain is enlarged back. ``start``, when given, holds the fill's energy map of the first pass
    (stored there by the first call, an empty list): later passes aim at most ``max_gain`` squared times it, so
    that the passes together stay within ``max_gain``. ``guide`` (the fill's blurred luma at the band's size) and
    ``levels`` > 1 pool the energies by brightness (:func:`_guided_energies`).
    """
    height, width = hole.shape
    small = (max(1, height // _STATS_FACTOR), max(1, width // _STATS_FACTOR)) if min(height, width) >= 64 else None
    sigma = _ENERGY_SIGMA / (_STATS_FACTOR if small else 1)
    hole_bytes = hole.astype(np.uint8)
    # the band within a few pixels of the hole's border mixes fill and context: read neither side there
    context = (cv2.dilate(hole_bytes, _BORDER) == 0).astype(np.float32)
    core = cv2.erode(hole_bytes, _BORDER, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(np.float32)
    core = core if core.any() else hole.astype(np.float32)
    if not context.any() or not hole.any():
        return None
    if small:
        energy, context, core = (
            cv2.resize(plane, small[::-1], interpolation=cv2.INTER_AREA) for plane in (energy, context, core)
        )
        if guide is not None:
            guide = cv2.resize(guide, small[::-1], interpolation=cv2.INTER_AREA)
    if guide is None or levels < 2:
        target, fill_energy, _ = _pooled_energies(energy, context, core, sigma)
    else:
        target, fill_energy = _guided_energies(energy, context, core, sigma, guide, levels)
    if start is not None:
        if not start:
            start.append(fill_energy)
        target = np.minimum(target, start[0] * np.float32(max_gain * max_gain))
    gain = np.clip(np.sqrt(np.maximum(target, 0.0) / np.maximum(fill_energy, 1e-10)), 1.0, max_gain)
    if small:
        gain = cv2.resize(gain, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(hole, gain, 1.0).astype(np.float32)


def restore_bands(
    image: np.ndarray,
    hole: np.ndarray,
    bands: int,
    max_gain: float,
    coarse_gain: float | None = None,
    passes: int = 1,
    levels: int = 1,
) -> np.ndarray:
    """Brings the detail of each of the finest ``bands`` octaves inside the hole up to that of its surroundings.

    Copying and blending patches loses detail (the mean of disagreeing patches, matches that prefer flat
    sources), octave by octave. For each band of a Laplacian pyramid, the local energy of the fill's luma is
    compared with that of the known context nearby (carried into the hole by push-pull, so each hole pixel sees
    its nearest context), and the band's luma is amplified by the square root of the ratio, at least 1 and at
    most ``max_gain`` (``coarse_gain`` from the third band on, when given); its colour detail is left alone
    (amplified, it is speckle). Nothing is ever attenuated, and known pixels come back unchanged.

    The energies are smoothed maps, so where a flat part of the fill lies near a detailed one the flat part's
    energy is over-estimated and one pass amplifies it too little (on 2048 px object holes the mean gain in band 3
    was 2 and its energy rose only 1.5 times). ``passes`` > 1 measures again and amplifies what is still missing,
    the passes together bounded by the same gains. ``levels`` > 1 takes each hole pixel's target from context of
    its own brightness (the energies pooled by levels of the fill's luma, blurred over the same scale as the energy
    maps): near a horizon the sky's target is the sky's, not the sea's.

    Shape: ``h x w x 3`` float32 in [0, 1], hole ``h x w`` bool -> ``h x w x 3`` float32.
    """
    starts: list[list[np.ndarray]] = [[] for _ in range(bands)]
    for _ in range(passes):
        pyramid = laplacian_pyramid(image, bands + 1)
        image_luma = image @ _LUMA if levels > 1 else None  # the guide's source, once per pass
        level_hole = hole
        for level, band in enumerate(pyramid[:-1]):
            level_hole = _level_hole(level_hole, band)
            luma = band @ _LUMA
            limit = max_gain if level < _FINE_BANDS or coarse_gain is None else coarse_gain
            guide = None
            if image_luma is not None:
                guide = cv2.resize(image_luma, band.shape[1::-1], interpolation=cv2.INTER_AREA)
                guide = cv2.GaussianBlur(guide, (0, 0), _ENERGY_SIGMA)
            gain = _band_gain(luma * luma, level_hole, limit, starts[level] if passes > 1 else None, guide, levels)
            if gain is None:
                break
            band += ((gain - 1.0) * luma)[:, :, None]  # more light-dark detail; colour noise is left as it was
        restored = reconstruct_laplacian(pyramid)
        image = np.where(hole[:, :, None], np.clip(restored, 0.0, 1.0), image).astype(np.float32)
    return image


def keep_band_energy(
    image: np.ndarray, reference: np.ndarray, hole: np.ndarray, bands: int, max_gain: float
) -> np.ndarray:
    """``image`` with the luma detail of each of its finest ``bands`` octaves raised, in the hole, back to the local
    energy it has in ``reference`` (the same fill before a smooth change: a network's low band), at most by
    ``max_gain``; never lowered. A smooth change of structure then leaves the amount of detail as it was.

    Shape: ``h x w x 3`` float32 twice, hole ``h x w`` bool -> ``h x w x 3`` float32.
    """
    before = laplacian_pyramid(reference, bands + 1)
    for _ in range(_KEEP_PASSES):
        pyramid = laplacian_pyramid(image, bands + 1)
        level_hole = hole
        for band, was in zip(pyramid[:-1], before[:-1], strict=True):
            level_hole = _level_hole(level_hole, band)
            if not level_hole.any():
                break
            luma, luma_was = band @ _LUMA, was @ _LUMA
            now = cv2.GaussianBlur(luma * luma, (0, 0), _KEEP_SIGMA)
            then = cv2.GaussianBlur(luma_was * luma_was, (0, 0), _KEEP_SIGMA)
            gain = np.clip(np.sqrt(then / np.maximum(now, 1e-10)), 1.0, max_gain)
            band += (np.where(level_hole, gain - 1.0, 0.0) * luma)[:, :, None].astype(np.float32)
        restored = reconstruct_laplacian(pyramid)
        image = np.where(hole[:, :, None], np.clip(restored, 0.0, 1.0), image).astype(np.float32)
    return image


def keep_in_context(
    region: np.ndarray,
    mask: np.ndarray,
    box: Box,
    image: np.ndarray,
    reference: np.ndarray,
    bands: int,
    max_gain: float,
) -> np.ndarray:
    """:func:`keep_band_energy` for a lifter's output over ``box`` of a region: the octaves are taken over the box
    grown by a margin of the region's known pixels, so that the coarse ones see context and not the box's edge
    (where the hole may touch it). ``image`` and ``reference`` are the output and the reference over ``box``
    (their hole pixels are read); returns the kept output over ``box``.

    Shape: region ``H x W x 3`` (any dtype ``to_float`` reads), mask ``H x W`` bool, ``image`` and ``reference``
    ``box.height x box.width x 3`` float32 -> the same.
    """
    area_box = box.expand(_KEEP_CONTEXT << bands, mask.shape)
    inner = box.within(area_box)
    hole = mask[area_box.slices]
    where = hole[inner][:, :, None]
    area = to_float(region[area_box.slices])
    before = area.copy()
    np.copyto(area[inner], image, where=where)
    np.copyto(before[inner], reference, where=where)
    return keep_band_energy(area, before, hole, bands, max_gain)[inner]


def mix_low_band(fill: np.ndarray, smooth: np.ndarray, hole: np.ndarray, sigma: float, weight: float) -> np.ndarray:
    """The fill with its low band (below a Gaussian of ``sigma`` pixels) taken as ``weight`` of its own and the
    rest of a smooth estimate's; every finer band stays the fill's, and known pixels come back unchanged.

    Exemplar detail that is not aligned with the truth costs squared error whatever its energy, so the detail bands
    cannot win it back; the low band can: the errors of an exemplar fill and of a diffusion fill are only weakly
    correlated there, and their mix has a lower error than either. Being linear, the low band of the difference is
    all that is needed; it is blurred at a quarter (or less) of the resolution, where the Gaussian is a few pixels.

    Shape: ``h x w x 3`` float32 (twice, ``smooth``'s known pixels are not read), hole ``h x w`` bool ->
    ``h x w x 3`` float32.
    """
    if weight >= 1 or sigma <= 0 or not hole.any():
        return fill
    difference = np.where(hole[:, :, None], smooth - fill, np.float32(0.0)).astype(np.float32)
    height, width = hole.shape
    factor = max(1, min(int(sigma // 3), height // 4, width // 4))
    if factor > 1:
        small = cv2.resize(difference, (-(-width // factor), -(-height // factor)), interpolation=cv2.INTER_AREA)
        low = cv2.resize(
            cv2.GaussianBlur(small, (0, 0), sigma / factor), (width, height), interpolation=cv2.INTER_LINEAR
        )
    else:
        low = cv2.GaussianBlur(difference, (0, 0), sigma)
    mixed = np.clip(fill + (1.0 - weight) * low, 0.0, 1.0)
    return np.where(hole[:, :, None], mixed, fill).astype(np.float32)
