"""Seams out of a patch fill: the hole's colours re-solved from the gradients its sources have (gradient-domain
voting, after Darabi et al. 2012's image melding).

A fill voted from copied patches has steps where neighbouring pixels copy from places of a different brightness:
in a smooth sky or a wall the blocks show at 1:1 however well each matches. Each hole pixel's source says what
its gradient should be (the gradient at the source); the fill is then the image whose gradients in the hole are
closest to those, in least squares, with the known pixels as the boundary: a Poisson equation for a correction
that is zero outside the hole. A step between two blocks is not in any source's gradient, so it is spread
smoothly over the blocks instead of standing at their seam; the border's colours are met as a Poisson blend meets
them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["BORDER_LIMIT", "seam_targets", "solve_correction", "poisson_fill"]

#: A pair across the hole's border whose mismatch is this large counts half (see :func:`seam_targets`).
BORDER_LIMIT = 0.1
# Over-relaxation sweeps at each level of the solve, after the half-resolution solution is enlarged as the start.
_SWEEPS = 80
# A hole whose bounding box spans at most this many pixels is solved at its own level only.
_COARSEST = 32


def seam_targets(
    fill: np.ndarray, sources: np.ndarray, hole: np.ndarray, border_limit: float = BORDER_LIMIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every right and down neighbour pair, the difference the pair should have minus the one ``fill`` has,
    and how much the pair counts.

    The difference a pair should have is the gradient at the source of each of its hole pixels (the mean of both
    when both are hole); a pair of known pixels has no target (0). ``sources`` holds each pixel's source position
    (``h x w x 2`` int, row and column; a known pixel's is itself). A pair across the hole's border counts
    ``1 / (1 + (m / border_limit)^2)`` for a mismatch ``m`` (its largest channel): a known pixel far from what the
    fill's source says it should be is most likely a remnant of the removed object that the mask left (a dark
    outline, a shadow), and a Poisson blend would spread it into the hole; a pair inside the hole always counts 1.

    Shape: ``h x w x 3`` float32, ``h x w x 2``, ``h x w`` bool -> right and down targets ``h x w x 3`` float32
    (the last column / row is 0), right and down weights ``h x w`` float32.
    """
    height, width = hole.shape
    sy = np.clip(sources[..., 0], 0, height - 1)
    sx = np.clip(sources[..., 1], 0, width - 1)
    out, weights = [], []
    for dy, dx in ((0, 1), (1, 0)):
        target = np.zeros_like(fill)
        here = (slice(0, height - dy), slice(0, width - dx))
        there = (slice(dy, height), slice(dx, width))
        # the pair's gradient at the first pixel's source, and at the second's (read one step back)
        ay, ax = sy[here], sx[here]
        from_first = fill[np.minimum(ay + dy, height - 1), np.minimum(ax + dx, width - 1)] - fill[ay, ax]
        by, bx = sy[there], sx[there]
        from_second = fill[by, bx] - fill[np.maximum(by - dy, 0), np.maximum(bx - dx, 0)]
        first, second = hole[here][..., None], hole[there][..., None]
        count = first.astype(np.float32) + second.astype(np.float32)
        wanted = (np.where(first, from_first, 0.0) + np.where(second, from_second, 0.0)) / np.maximum(count, 1.0)
        has = fill[there] - fill[here]
        target[here] = np.where(count > 0, wanted - has, 0.0)
        weight = np.ones(hole.shape, np.float32)
        if border_limit > 0:
            across = count[..., 0] == 1.0
            mismatch = np.abs(target[here]).max(axis=2) / np.float32(border_limit)
            weight[here] = np.where(across, 1.0 / (1.0 + mismatch * mismatch), 1.0)
        out.append(target.astype(np.float32))
        weights.append(weight)
    return out[0], out[1], weights[0], weights[1]


@njit(cache=True, nogil=True)
def _sor(flat, order, neighbours, weights, constant, scale, sweeps, omega):  # pragma: no cover - compiled
    """``sweeps`` over-relaxation sweeps of ``flat`` (``pixels x 3``) at the hole pixels ``order`` (the red ones,
    then the black ones, so each half reads only the other's values): each moves towards the weighted mean of its
    neighbours' values plus its constant."""
    for _ in range(sweeps):
        for index in range(order.size):
            pixel = order[index]
            for channel in range(3):
                total = constant[index, channel]
                for k in range(4):
                    total += weights[index, k] * flat[neighbours[index, k], channel]
                here = flat[pixel, channel]
                flat[pixel, channel] = here + omega * (total * scale[index] - here)


def _system(
    hole: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    right: np.ndarray,
    down: np.ndarray,
    right_weight: np.ndarray,
    down_weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hole pixels (``ys``, ``xs``: ``np.nonzero(hole)``) in red-black order with, for each, its four
    neighbours' flat indices (itself where the image ends, with weight 0), their weights, the constant part of its
    update and one over its total weight."""
    height, width = hole.shape
    red = (ys + xs) % 2 == 0
    ys, xs = np.concatenate([ys[red], ys[~red]]), np.concatenate([xs[red], xs[~red]])
    pixel = ys * width + xs
    neighbours = np.repeat(pixel[:, None], 4, axis=1)
    weights = np.zeros((ys.size, 4), np.float32)
    constant = np.zeros((ys.size, 3), np.float32)
    # right, left, down, up: c(p) should be c(q) - target(p -> q) (right, down) or c(q) + target(q -> p)
    for k, (dy, dx, plane, plane_weight, sign) in enumerate(
        ((0, 1, right, right_weight, -1.0), (0, -1, right, right_weight, 1.0),
         (1, 0, down, down_weight, -1.0), (-1, 0, down, down_weight, 1.0))
    ):  # fmt: skip
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < height) & (qx >= 0) & (qx < width)
        py, px = (ys, xs) if sign < 0 else (qy, qx)  # the pair's first pixel holds its target and weight
        py, px = np.clip(py, 0, height - 1), np.clip(px, 0, width - 1)
        weight = np.where(inside, plane_weight[py, px], 0.0).astype(np.float32)
        neighbours[inside, k] = qy[inside] * width + qx[inside]
        weights[:, k] = weight
        constant += (sign * weight)[:, None] * plane[py, px]
    total = weights.sum(axis=1)
    scale = np.where(total > 0, 1.0 / np.maximum(total, 1e-12), 0.0).astype(np.float32)
    return pixel.astype(np.int64), neighbours.astype(np.int64), weights, constant.astype(np.float32), scale


def _coarse_pairs(target: np.ndarray, weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour-pair targets and weights at half the resolution along both axes: a coarse pair spans two fine
    steps (the fine pair straddling the block's border whole, the ones on each side half), averaged across the
    block's two rows (columns)."""
    if axis == 0:  # down pairs: work on the transposed planes
        coarse_target, coarse_weight = _coarse_pairs(target.transpose(1, 0, 2), weight.T, 1)
        return coarse_target.transpose(1, 0, 2), coarse_weight.T
    height, width = weight.shape
    padded = np.zeros((height + height % 2, width + 2, target.shape[2]), np.float32)
    padded[:height, :width] = target
    weights = np.zeros((height + height % 2, width + 2), np.float32)
    weights[:height, :width] = weight
    half = (width + 1) // 2
    steps = 0.5 * padded[:, 0 : 2 * half : 2] + padded[:, 1 : 2 * half + 1 : 2] + 0.5 * padded[:, 2 : 2 * half + 2 : 2]
    coarse_target = 0.5 * (steps[0::2] + steps[1::2])
    centre = weights[:, 1 : 2 * half + 1 : 2]
    coarse_weight = 0.5 * (centre[0::2] + centre[1::2])
    return coarse_target.astype(np.float32), coarse_weight.astype(np.float32)


def solve_correction(
    hole: np.ndarray,
    right: np.ndarray,
    down: np.ndarray,
    right_weight: np.ndarray,
    down_weight: np.ndarray,
    sweeps: int = _SWEEPS,
) -> np.ndarray:
    """The correction, zero outside the hole, whose neighbour differences best match ``right`` and ``down`` in
    weighted least squares: solved at half the resolution first (recursively, a block is hole when all its pixels
    are), enlarged as the start, then ``sweeps`` red-black over-relaxation sweeps at this one (the coarsest level
    sweeps until the correction spreads across it).

    Shape: ``h x w`` bool, two ``h x w x 3`` float32, two ``h x w`` float32 -> ``h x w x 3`` float32.
    """
    height, width = hole.shape
    correction = np.zeros(right.shape, np.float32)
    ys, xs = np.nonzero(hole)
    if ys.size == 0:
        return correction
    padded = np.zeros((height + height % 2, width + width % 2), bool)  # a block past the edge is not all hole
    padded[:height, :width] = hole
    coarse_hole = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).all(axis=(1, 3))
    span = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    if span > _COARSEST and coarse_hole.any():
        coarse_right, coarse_right_weight = _coarse_pairs(right, right_weight, 1)
        coarse_down, coarse_down_weight = _coarse_pairs(down, down_weight, 0)
        coarse = solve_correction(
            coarse_hole, coarse_right, coarse_down, coarse_right_weight, coarse_down_weight, sweeps
        )
        start = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:height, :width]
        correction = np.where(hole[:, :, None], start, np.float32(0.0)).astype(np.float32)
    else:
        sweeps = 2 * span + 20
    omega = min(2.0 / (1.0 + math.sin(math.pi / max(span, 2))), 1.95)  # optimal for a square of this side
    flat = correction.reshape(-1, 3)
    _sor(flat, *_system(hole, ys, xs, right, down, right_weight, down_weight), int(sweeps), float(omega))
    return correction


def poisson_fill(fill: np.ndarray, sources: np.ndarray, hole: np.ndarray, sweeps: int = _SWEEPS) -> np.ndarray:
    """``fill`` with its hole re-solved from its sources' gradients (module docstring); known pixels unchanged.

    Shape: ``h x w x 3`` float32, ``h x w x 2`` int, ``h x w`` bool -> ``h x w x 3`` float32.
    """
    if not hole.any():
        return fill
    correction = solve_correction(hole, *seam_targets(fill, sources, hole), sweeps)
    return np.clip(fill + correction, 0.0, 1.0).astype(np.float32)
