"""Numba kernels of the PatchMatch filler: patch distance, randomised search, voting and the offset field.

Conventions shared by every kernel here:

- ``features``: ``h x w x c`` float32, the space patches are compared in; ``image``: ``h x w x 3`` float32 RGB.
- ``nnf``: ``h x w x 2`` int32 ``(y, x)`` centre of the source patch matched to each target patch centre;
  pixels that are not targets hold their own position.
- ``valid``: ``h x w`` bool, True where a patch centred there lies inside the image and holds no hole pixel.
- Patches are ``(2 * radius + 1)`` square; a target patch may stick out of the image (a hole at the border), and
  only its in-image pixels are compared. Source patches never do, so ``source + (p - q)`` is always in the image.

All kernels are sequential and draw random numbers from numba's own generator (the legacy ``np.random`` API inside
``njit``, which numba keeps apart from NumPy's global state), seeded by each call, so a result depends only on
its inputs and seed. A ``np.random.Generator`` passed in would also work but draws about three times slower.
Compiled code is cached on disk (``cache=True``): only the first run in a fresh environment pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def patch_distance(
    flat: np.ndarray,
    height: int,
    width: int,
    channels: int,
    ty: int,
    tx: int,
    sy: int,
    sx: int,
    radius: int,
    cutoff: float,
) -> float:
    """Sum of squared feature differences between the target patch at ``(ty, tx)`` and the source at ``(sy, sx)``.

    ``flat`` is the feature image raveled (``h * w * channels``), so that each patch row is one contiguous run
    indexed by unsigned offsets: numba then skips its negative-index wraparound and the compiler vectorises the
    run, about five times faster than 3-d indexing. The columns of a target patch outside the image are cut off
    the run and its rows outside are skipped. Stops early and returns a partial sum once it reaches ``cutoff``
    (the candidate has lost already).
    """
    first = max(tx - radius, 0)
    last = min(tx + radius, width - 1)
    run = (last - first + 1) * channels
    row_stride = width * channels
    target_column = first * channels
    source_column = (first - tx + sx) * channels
    total = np.float32(0.0)
    for dy in range(-radius, radius + 1):
        y = ty + dy
        if y < 0 or y >= height:
            continue
        target_start = np.uint64(y * row_stride + target_column)
        source_start = np.uint64((sy + dy) * row_stride + source_column)
        row_total = np.float32(0.0)
        for index in range(run):
            offset = np.uint64(index)
            difference = flat[target_start + offset] - flat[source_start + offset]
            row_total += difference * difference
        total += row_total
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
    np.random.seed(seed)  # noqa: NPY002
    height, width = valid.shape
    channels = features.shape[2]
    flat = features.reshape(height * width * channels)
    for index in range(target_ys.shape[0]):
        y = target_ys[index]
        x = target_xs[index]
        sy = nnf[y, x, 0]
        sx = nnf[y, x, 1]
        if sy < 0 or sy >= height or sx < 0 or sx >= width or not valid[sy, sx]:
            pick = np.random.randint(0, valid_ys.shape[0])  # noqa: NPY002
            sy = valid_ys[pick]
            sx = valid_xs[pick]
            nnf[y, x, 0] = sy
            nnf[y, x, 1] = sx
        cost[y, x] = patch_distance(flat, height, width, channels, y, x, sy, sx, radius, np.inf)


@njit(cache=True, nogil=True)
def _try_candidate(
    flat: np.ndarray,
    channels: int,
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
    distance = patch_distance(flat, height, width, channels, y, x, candidate_y, candidate_x, radius, best[2])
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
    window: int,
    seed: int,
) -> None:
    """Improves ``nnf`` and ``cost`` in place with Barnes et al.'s propagation and random search.

    Targets are visited in raster order on even iterations and in reverse on odd ones; each tries its two
    scan-order neighbours' sources shifted by one pixel, then random sources around its best one in windows that
    halve from ``window`` pixels down to one, then one source drawn uniformly from all valid ones (which keeps
    a patch from staying stuck in a poor local region when the hole is large).
    """
    np.random.seed(seed)  # noqa: NPY002
    height, width = valid.shape
    channels = features.shape[2]
    flat = features.reshape(height * width * channels)
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
                    flat, channels, valid, y, x, nnf[y, neighbour_x, 0], nnf[y, neighbour_x, 1] + step, best, radius
                )
            neighbour_y = y - step
            if 0 <= neighbour_y < height:
                _try_candidate(
                    flat, channels, valid, y, x, nnf[neighbour_y, x, 0] + step, nnf[neighbour_y, x, 1], best, radius
                )
            size = window
            while size >= 1:
                centre_y = int(best[0])
                centre_x = int(best[1])
                candidate_y = min(max(centre_y + np.random.randint(-size, size + 1), 0), height - 1)  # noqa: NPY002
                candidate_x = min(max(centre_x + np.random.randint(-size, size + 1), 0), width - 1)  # noqa: NPY002
                _try_candidate(flat, channels, valid, y, x, candidate_y, candidate_x, best, radius)
                size //= 2
            pick = np.random.randint(0, valid_count)  # noqa: NPY002
            _try_candidate(flat, channels, valid, y, x, valid_ys[pick], valid_xs[pick], best, radius)
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
        # Insertion sort by source index: at most (2 radius + 1)^2 votes, often already in order in a coherent
        # region, and no allocation (np.argsort would allocate twice per pixel).
        for rank in range(1, count):
            key = keys[rank]
            vote_weight = votes[rank]
            position = rank - 1
            while position >= 0 and keys[position] > key:
                keys[position + 1] = keys[position]
                votes[position + 1] = votes[position]
                position -= 1
            keys[position + 1] = key
            votes[position + 1] = vote_weight
        distinct = 0
        for rank in range(count):
            if distinct > 0 and merged_keys[distinct - 1] == keys[rank]:
                merged_votes[distinct - 1] += votes[rank]
            else:
                merged_keys[distinct] = keys[rank]
                merged_votes[distinct] = votes[rank]
                distinct += 1
        # Heaviest first by repeated selection (top_k is small); the strict comparison keeps the lowest source
        # index among equal weights, so the field is deterministic.
        kept = min(top_k, distinct)
        total = 0.0
        for slot in range(kept):
            heaviest = -1
            for candidate in range(distinct):
                if merged_votes[candidate] >= 0.0 and (
                    heaviest < 0 or merged_votes[candidate] > merged_votes[heaviest]
                ):
                    heaviest = candidate
            sources[y, x, slot, 0] = merged_keys[heaviest] // width
            sources[y, x, slot, 1] = merged_keys[heaviest] % width
            weights[y, x, slot] = merged_votes[heaviest]
            total += merged_votes[heaviest]
            merged_votes[heaviest] = -1.0  # taken
        for slot in range(top_k):
            if slot < kept:
                weights[y, x, slot] /= total
            else:
                sources[y, x, slot, 0] = sources[y, x, 0, 0]
                sources[y, x, slot, 1] = sources[y, x, 0, 1]
                weights[y, x, slot] = 0.0
    return sources, weights


@njit(cache=True, nogil=True)
def upsample_nnf(
    coarse: np.ndarray, shape: tuple[int, int], target_ys: np.ndarray, target_xs: np.ndarray
) -> np.ndarray:
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


@njit(cache=True, nogil=True)
def vote_best(
    image: np.ndarray,
    nnf: np.ndarray,
    weight: np.ndarray,
    cost: np.ndarray,
    hole_ys: np.ndarray,
    hole_xs: np.ndarray,
    radius: int,
) -> np.ndarray:
    """Best-patch voting: each hole pixel takes the colour that the best-matching patch covering it (the lowest
    ``cost`` among patches with a positive ``weight``) copies to it, instead of a mean that blurs where the
    patches disagree. Returns a new image; a hole pixel no patch votes for keeps its value."""
    height, width = weight.shape
    result = image.copy()
    for index in range(hole_ys.shape[0]):
        y = hole_ys[index]
        x = hole_xs[index]
        best = np.inf
        best_y = -1
        best_x = -1
        for qy in range(max(y - radius, 0), min(y + radius + 1, height)):
            for qx in range(max(x - radius, 0), min(x + radius + 1, width)):
                if weight[qy, qx] <= 0.0:
                    continue
                if cost[qy, qx] < best:
                    best = cost[qy, qx]
                    best_y = nnf[qy, qx, 0] + y - qy
                    best_x = nnf[qy, qx, 1] + x - qx
        if best_y >= 0:
            result[y, x, 0] = image[best_y, best_x, 0]
            result[y, x, 1] = image[best_y, best_x, 1]
            result[y, x, 2] = image[best_y, best_x, 2]
    return result
