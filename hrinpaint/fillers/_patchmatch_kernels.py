"""Numba kernels of the PatchMatch filler: patch distance, randomised search, voting and the offset field.

Conventions shared by every kernel here:

- ``features``: ``h x w x c`` float32, the space patches are compared in; ``image``: ``h x w x 3`` float32 RGB.
- ``nnf``: ``h x w x 2`` int32 ``(y, x)`` centre of the source patch matched to each target patch centre;
  pixels that are not targets hold their own position.
- ``valid``: ``h x w`` bool, True where a patch centred there lies inside the image and holds no hole pixel.
- Patches are ``(2 * radius + 1)`` square; a target patch may stick out of the image (a hole at the border), and
  only its in-image pixels are compared. Source patches never do, so ``source + (p - q)`` is always in the image.

All kernels are sequential and draw random numbers from numba's own generator, seeded by each call, so a result
depends only on its inputs and seed. Compiled code is cached on disk (``cache=True``): only the first run in a
fresh environment pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def patch_distance(
    features: np.ndarray, ty: int, tx: int, sy: int, sx: int, radius: int, cutoff: float
) -> float:
    """Sum of squared feature differences between the target patch at ``(ty, tx)`` and the source at ``(sy, sx)``.

    Stops early and returns a partial sum once it reaches ``cutoff`` (the candidate has lost already).
    """
    height, width, channels = features.shape
    total = 0.0
    for dy in range(-radius, radius + 1):
        y = ty + dy
        if y < 0 or y >= height:
            continue
        source_y = sy + dy
        for dx in range(-radius, radius + 1):
            x = tx + dx
            if x < 0 or x >= width:
                continue
            source_x = sx + dx
            for channel in range(channels):
                difference = features[y, x, channel] - features[source_y, source_x, channel]
                total += difference * difference
        if total >= cutoff:
            return total
    return total


@njit(cache=True, nogil=True)
def repair_and_measure(
    features: np.ndarray,
    nnf: np.ndarray,
    cost: np.ndarray,
    target_ys: np.ndarray,
    target_xs: np.ndarray,
    valid: np.ndarray,
    valid_ys: np.ndarray,
    valid_xs: np.ndarray,
    radius: int,
    seed: int,
) -> None:
    """Replaces any target's invalid source by a random valid one, then fills ``cost`` for every target."""
    np.random.seed(seed)
    height, width = valid.shape
    for index in range(target_ys.shape[0]):
        y = target_ys[index]
        x = target_xs[index]
        sy = nnf[y, x, 0]
        sx = nnf[y, x, 1]
        if sy < 0 or sy >= height or sx < 0 or sx >= width or not valid[sy, sx]:
            pick = np.random.randint(0, valid_ys.shape[0])
            sy = valid_ys[pick]
            sx = valid_xs[pick]
            nnf[y, x, 0] = sy
            nnf[y, x, 1] = sx
        cost[y, x] = patch_distance(features, y, x, sy, sx, radius, np.inf)


@njit(cache=True, nogil=True)
def _try_candidate(
    features: np.ndarray,
    valid: np.ndarray,
    y: int,
    x: int,
    candidate_y: int,
    candidate_x: int,
    best: np.ndarray,
    radius: int,
) -> None:
    """Moves ``best = (source_y, source_x, cost)`` to the candidate when it is valid and closer."""
    height, width = valid.shape
    if candidate_y < 0 or candidate_y >= height or candidate_x < 0 or candidate_x >= width:
        return
    if not valid[candidate_y, candidate_x]:
        return
    if candidate_y == best[0] and candidate_x == best[1]:
        return
    distance = patch_distance(features, y, x, candidate_y, candidate_x, radius, best[2])
    if distance < best[2]:
        best[0] = candidate_y
        best[1] = candidate_x
        best[2] = distance


@njit(cache=True, nogil=True)
def patchmatch(
    features: np.ndarray,
    nnf: np.ndarray,
    cost: np.ndarray,
    target_ys: np.ndarray,
    target_xs: np.ndarray,
    valid: np.ndarray,
    valid_ys: np.ndarray,
    valid_xs: np.ndarray,
    radius: int,
    iterations: int,
    seed: int,
) -> None:
    """Improves ``nnf`` and ``cost`` in place with Barnes et al.'s propagation and random search.

    Targets are visited in raster order on even iterations and in reverse on odd ones; each tries its two
    scan-order neighbours' sources shifted by one pixel, then random sources around its best one in windows that
    halve from the image size down to one pixel, then one source drawn uniformly from all valid ones (which keeps
    a patch from staying stuck in a poor local region when the hole is large).
    """
    np.random.seed(seed)
    height, width = valid.shape
    count = target_ys.shape[0]
    valid_count = valid_ys.shape[0]
    best = np.empty(3, dtype=np.float64)
    for iteration in range(iterations):
        step = 1 if iteration % 2 == 0 else -1
        for visit in range(count):
            index = visit if step == 1 else count - 1 - visit
            y = target_ys[index]
            x = target_xs[index]
            best[0] = nnf[y, x, 0]
            best[1] = nnf[y, x, 1]
            best[2] = cost[y, x]
            neighbour_x = x - step
            if 0 <= neighbour_x < width:
                _try_candidate(
                    features, valid, y, x, nnf[y, neighbour_x, 0], nnf[y, neighbour_x, 1] + step, best, radius
                )
            neighbour_y = y - step
            if 0 <= neighbour_y < height:
                _try_candidate(
                    features, valid, y, x, nnf[neighbour_y, x, 0] + step, nnf[neighbour_y, x, 1], best, radius
                )
            window = max(height, width)
            while window >= 1:
                centre_y = int(best[0])
                centre_x = int(best[1])
                candidate_y = min(max(centre_y + np.random.randint(-window, window + 1), 0), height - 1)
                candidate_x = min(max(centre_x + np.random.randint(-window, window + 1), 0), width - 1)
                _try_candidate(features, valid, y, x, candidate_y, candidate_x, best, radius)
                window //= 2
            pick = np.random.randint(0, valid_count)
            _try_candidate(features, valid, y, x, valid_ys[pick], valid_xs[pick], best, radius)
            nnf[y, x, 0] = int(best[0])
            nnf[y, x, 1] = int(best[1])
            cost[y, x] = best[2]


@njit(cache=True, nogil=True)
def vote(
    image: np.ndarray,
    nnf: np.ndarray,
    weight: np.ndarray,
    hole_ys: np.ndarray,
    hole_xs: np.ndarray,
    radius: int,
) -> np.ndarray:
    """Expectation-maximisation voting: each hole pixel becomes the weighted mean of the colours that the patches
    covering it copy to it from their sources (``weight`` per target patch centre, 0 elsewhere).

    Returns a new image; known pixels are copied unchanged, and a hole pixel no patch votes for keeps its value.
    """
    height, width = weight.shape
    result = image.copy()
    for index in range(hole_ys.shape[0]):
        y = hole_ys[index]
        x = hole_xs[index]
        red = 0.0
        green = 0.0
        blue = 0.0
        total = 0.0
        for qy in range(max(y - radius, 0), min(y + radius + 1, height)):
            for qx in range(max(x - radius, 0), min(x + radius + 1, width)):
                w = weight[qy, qx]
                if w <= 0.0:
                    continue
                sy = nnf[qy, qx, 0] + y - qy
                sx = nnf[qy, qx, 1] + x - qx
                red += w * image[sy, sx, 0]
                green += w * image[sy, sx, 1]
                blue += w * image[sy, sx, 2]
                total += w
        if total > 0.0:
            result[y, x, 0] = red / total
            result[y, x, 1] = green / total
            result[y, x, 2] = blue / total
    return result


@njit(cache=True, nogil=True)
def offset_field(
    nnf: np.ndarray,
    weight: np.ndarray,
    hole_ys: np.ndarray,
    hole_xs: np.ndarray,
    radius: int,
    top_k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` source pixels of each hole pixel's vote, with their normalised weights.

    Votes from different patches that copy from the same source pixel (a coherent region) are merged first, so
    a source's weight is the total weight it contributed. Pixels outside the hole are their own source.

    Returns:
        ``sources`` ``(h, w, top_k, 2)`` int32 and ``weights`` ``(h, w, top_k)`` float32 (each row sums to 1).
    """
    height, width = weight.shape
    sources = np.empty((height, width, top_k, 2), dtype=np.int32)
    weights = np.zeros((height, width, top_k), dtype=np.float32)
    for y in range(height):
        for x in range(width):
            for slot in range(top_k):
                sources[y, x, slot, 0] = y
                sources[y, x, slot, 1] = x
            weights[y, x, 0] = 1.0
    side = 2 * radius + 1
    keys = np.empty(side * side, dtype=np.int64)
    votes = np.empty(side * side, dtype=np.float64)
    merged_keys = np.empty(side * side, dtype=np.int64)
    merged_votes = np.empty(side * side, dtype=np.float64)
    for index in range(hole_ys.shape[0]):
        y = hole_ys[index]
        x = hole_xs[index]
        count = 0
        for qy in range(max(y - radius, 0), min(y + radius + 1, height)):
            for qx in range(max(x - radius, 0), min(x + radius + 1, width)):
                w = weight[qy, qx]
                if w <= 0.0:
                    continue
                keys[count] = (nnf[qy, qx, 0] + y - qy) * width + nnf[qy, qx, 1] + x - qx
                votes[count] = w
                count += 1
        if count == 0:
            continue
        order = np.argsort(keys[:count])
        distinct = 0
        for rank in range(count):
            key = keys[order[rank]]
            if distinct > 0 and merged_keys[distinct - 1] == key:
                merged_votes[distinct - 1] += votes[order[rank]]
            else:
                merged_keys[distinct] = key
                merged_votes[distinct] = votes[order[rank]]
                distinct += 1
        # Stable order by weight, heaviest first; ties keep the lower source index, so the field is deterministic.
        by_weight = np.argsort(-merged_votes[:distinct], kind="mergesort")
        kept = min(top_k, distinct)
        total = 0.0
        for slot in range(kept):
            total += merged_votes[by_weight[slot]]
        for slot in range(top_k):
            if slot < kept:
                key = merged_keys[by_weight[slot]]
                sources[y, x, slot, 0] = key // width
                sources[y, x, slot, 1] = key % width
                weights[y, x, slot] = merged_votes[by_weight[slot]] / total
            else:
                sources[y, x, slot, 0] = sources[y, x, 0, 0]
                sources[y, x, slot, 1] = sources[y, x, 0, 1]
                weights[y, x, slot] = 0.0
    return sources, weights


@njit(cache=True, nogil=True)
def upsample_nnf(coarse: np.ndarray, shape: tuple[int, int], target_ys: np.ndarray, target_xs: np.ndarray) -> np.ndarray:
    """Carries a coarse field to the next finer level: each fine target takes its parent's source, doubled, plus
    its own offset inside the parent. Non-targets hold their own position; invalid sources are repaired later
    (:func:`repair_and_measure`)."""
    height, width = shape
    coarse_height, coarse_width = coarse.shape[:2]
    fine = np.empty((height, width, 2), dtype=np.int32)
    for y in range(height):
        for x in range(width):
            fine[y, x, 0] = y
            fine[y, x, 1] = x
    for index in range(target_ys.shape[0]):
        y = target_ys[index]
        x = target_xs[index]
        parent_y = min(y // 2, coarse_height - 1)
        parent_x = min(x // 2, coarse_width - 1)
        fine[y, x, 0] = 2 * coarse[parent_y, parent_x, 0] + y - 2 * parent_y
        fine[y, x, 1] = 2 * coarse[parent_y, parent_x, 1] + x - 2 * parent_x
    return fine
