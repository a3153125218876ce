"""The gate of a network's correction: how much of it to keep, fitted where the truth is known (a ring of known
pixels around the hole), as one gain for the region or as a gain field over the hole."""

from __future__ import annotations

import cv2
import numpy as np

# The gain field's local sums are backed by this share of the whole ring's mean sums: deep in a hole larger than the
# Gaussian's reach the local sums vanish and the gain fell to 0 (the correction dropped where it helps most); 0.02
# diluted the local fit by a quarter 5 px from a thin ring.
_RING_PRIOR = 0.002


def gate_ring(mask: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The ring of known pixels a network's correction is checked on, and the hole grown by it: a quarter of the
    hole's largest inscribed radius (3 to 16 pixels at the working size, ``scale`` of this mask's pixels to one of
    them), so the grown hole is of the same kind as the hole. No ring when the grown hole would leave no known
    pixel."""
    from hrinpaint.ops.morphology import dilate

    inside = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    radius = int(round(np.clip(round(0.25 * float(inside.max()) / scale), 3, 16) * scale))
    grown = dilate(mask, radius)
    if grown.all():
        return np.zeros_like(mask), mask
    return grown & ~mask, grown


def gate_masks(mask: np.ndarray, working_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For a lifter's gate: :func:`gate_ring`'s ring and grown hole, and the grown hole at the working size
    (``working_mask``'s shape); None when there is no ring or the grown hole covers the whole working image (the
    gate then keeps the whole correction). The ring is as wide as the network fillers' at the working size (3 to 16
    working pixels, scaled up): one 3 to 16 pixels wide at full size, inside the reach of what the network's
    prefill spreads from the hole's edge, read a dark remnant that a mask left beside the hole as a reason to
    darken the hole (real removal ``11``: ``shift``'s sky above the horizon 4.9 levels darker than the default's)."""
    from hrinpaint.ops.resize import downsample_mask

    ring, grown = gate_ring(mask, max(mask.shape) / max(working_mask.shape))
    if not ring.any():
        return None
    grown_working = grown if working_mask.shape == mask.shape else downsample_mask(grown, working_mask.shape)
    return None if grown_working.all() else (ring, grown, grown_working)


def ring_gain(correction: np.ndarray, missing: np.ndarray) -> float:
    """How much of a correction to keep, from the ring (both ``n x 3``: the correction on the ring and what the
    default's fill lacks there, truth minus fill): the least-squares scale in [0, 1], shrunk by the share of the
    missing energy the correction explains (``cos^2`` of the angle between the two). The scale alone is fitted on
    the ring and so optimistic: a correction that explains little of what is missing there is mostly noise inside
    the hole too. 0 for a correction or a miss of no energy."""
    correction, missing = correction.astype(np.float64), missing.astype(np.float64)
    energy, missed = float(np.sum(correction**2)), float(np.sum(missing**2))
    if energy <= 1e-12 or missed <= 1e-12:
        return 0.0
    dot = float(np.sum(correction * missing))
    if dot <= 0.0:
        return 0.0
    return float(min(dot / energy, 1.0) * dot * dot / (energy * missed))


def gain_field(
    correction: np.ndarray, missing: np.ndarray, ring: np.ndarray, sigma: float, cap: bool = True
) -> np.ndarray:
    """:func:`ring_gain` made around every pixel: the sums over the ring (correction times miss, correction and miss
    squared) weighted by a Gaussian of ``sigma`` pixels centred on the pixel, plus a small share of the whole ring's
    mean sums (far from the ring, where the Gaussian reaches none of it, the gain tends to the one gain of
    :func:`ring_gain`), then the same scale and shrink. Only inside the ring's bounding box: a hole that reaches
    the image's edge, beyond the ring's box there, gets 0 (no correction). A correction that helps on one side of
    the hole and hurts on the other is dropped near the second side. With ``cap`` the field never exceeds the
    whole ring's one gain: it only takes the correction away where the local fit says it hurts, never keeps more
    of it than one gain would (a local fit on a short stretch of ring is optimistic; ``pyramid``'s worst of 24
    photos at 2048 px on thick strokes: one gain -0.27 dB, uncapped field -0.14, capped -0.05, for 0.01-0.02 dB
    of mean). Uncapped, the first side keeps up to all of the correction.

    Shape:
        correction, missing ``H x W x 3`` (read on the ring only), ring ``H x W`` bool; returns ``H x W`` float32
        in [0, 1] (0 outside the ring's bounding box, or where the correction or miss has no energy).
    """
    gain = np.zeros(ring.shape, np.float32)
    rows, cols = np.nonzero(ring.any(axis=1))[0], np.nonzero(ring.any(axis=0))[0]
    if rows.size == 0:
        return gain
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    on_ring = ring[box]
    c = correction[box][on_ring].astype(np.float64)
    m = missing[box][on_ring].astype(np.float64)
    sums = []
    for values in ((c * m).sum(axis=1), (c * c).sum(axis=1), (m * m).sum(axis=1)):
        plane = np.zeros(on_ring.shape, np.float32)
        plane[on_ring] = values
        near = cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
        sums.append(near + _RING_PRIOR * float(values.mean()))
    dot, energy, missed = sums
    valid = (energy > 1e-20) & (missed > 1e-20) & (dot > 0)
    energy, missed = np.maximum(energy, 1e-20), np.maximum(missed, 1e-20)
    local = np.clip(dot / energy, 0.0, 1.0) * np.clip(dot * dot / (energy * missed), 0.0, 1.0)
    local = np.where(valid, local, 0.0)
    gain[box] = np.minimum(local, ring_gain(c, m)) if cap else local
    return gain


def agreed(change: np.ndarray, other: np.ndarray) -> np.ndarray:
    """What two estimates of a change agree on, channel by channel: the smaller in magnitude where their signs are
    the same, else 0. A lifter's gate checks its network's change on the grown hole; what the run on the real hole
    changes beyond that (from what lies just outside the hole, inside the grown one) is not checked."""
    same = np.sign(change) == np.sign(other)
    return np.where(same, np.sign(change) * np.minimum(np.abs(change), np.abs(other)), 0.0).astype(np.float32)


def ring_fit(
    correction: np.ndarray, missing: np.ndarray, ring: np.ndarray, sigma: float, cap: bool = True
) -> float | np.ndarray:
    """The gate's gain from the grown hole's run: one gain for the whole ring (:func:`ring_gain`) with ``sigma``
    0, else a gain field of ``sigma`` pixels (:func:`gain_field`, capped by the one gain with ``cap``).

    Shape:
        correction, missing ``H x W x 3`` (read on the ring only), ring ``H x W`` bool; a field is ``H x W``.
    """
    if sigma > 0:
        return gain_field(correction, missing, ring, sigma, cap)
    return ring_gain(correction[ring], missing[ring])
