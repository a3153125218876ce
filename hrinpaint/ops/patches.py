"""Cell grids and patch helpers: blending windows, box counts on masks, cell features, windowed resampling.

A *grid* splits an ``h x w`` image into ``rows x cols`` cells whose boundaries are ``round(r * h / rows)`` (the
convention of :class:`hrinpaint.fillers.attention.CellAttention`), so the grid fits any size exactly. *Windows* are
per-axis weights that form a partition of unity: patches blended with them show no seam at cell borders.
:func:`resample_rows` and :func:`bilinear_points` give parts of a bilinear upsampling without computing all of it,
and :func:`top_k_softmax` turns similarity scores into sparse attention.
"""

from __future__ import annotations

import cv2
import numpy as np

from hrinpaint.ops.regions import Box


def grid_shape(shape: tuple[int, int], cells_long: int) -> tuple[int, int]:
    """``(rows, cols)`` of a grid with ``cells_long`` cells along the long side and square-ish cells.

    Each side gets ``round(side / cell)`` cells (at least 1, at most one per pixel), where ``cell`` is the long
    side divided by ``cells_long``.
    """
    if cells_long < 1:
        raise ValueError(f"cells_long must be >= 1, got {cells_long}")
    height, width = shape
    cell = max(height, width) / cells_long
    return max(1, min(height, round(height / cell))), max(1, min(width, round(width / cell)))


def cell_edges(length: int, cells: int) -> np.ndarray:
    """Cell boundaries ``round(r * length / cells)`` for ``r = 0 .. cells``: ``(cells + 1,)`` int64, increasing."""
    if not 1 <= cells <= length:
        raise ValueError(f"cannot split {length} pixels into {cells} cells")
    return np.array([round(r * length / cells) for r in range(cells + 1)], dtype=np.int64)


def blend_windows(edges: np.ndarray, length: int, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis blending windows of the cells between ``edges``, a partition of unity over ``length`` pixels.

    Cell ``r``'s window is 1 inside ``[edges[r], edges[r + 1])`` and 0 beyond its neighbours; across each interior
    edge it ramps with a raised cosine (C1-smooth) over ``overlap`` times the smaller adjacent cell, centred on
    the edge. Windows of adjacent cells are complementary on the ramp, so they sum to exactly 1 at every pixel
    (pixel ``x`` sits at ``x + 0.5``). The first and last cell extend flat to the image border.

    Args:
        edges: ``(cells + 1,)`` increasing boundaries in pixel units (floats allowed), ``edges[-1] <= length``.
        length: pixels along the axis.
        overlap: ramp width as a fraction of a cell, in ``[0, 1]``; 0 gives hard cell borders.

    Returns:
        ``weights``: ``(cells, length)`` float32; ``support``: ``(cells, 2)`` int64 half-open pixel ranges outside
        which a cell's weight is 0.
    """
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must be in [0, 1], got {overlap}")
    edges = np.asarray(edges, dtype=np.float64)
    cells = len(edges) - 1
    centres = np.arange(length, dtype=np.float64) + 0.5
    sizes = np.diff(edges)
    # rising[k]: the window of the cell after interior edge k, from 0 before the ramp to 1 after it
    rising = np.ones((cells + 1, length))
    half_widths = np.zeros(cells + 1)
    for k in range(1, cells):
        half_width = 0.5 * overlap * min(sizes[k - 1], sizes[k])
        half_widths[k] = half_width
        if half_width > 0:
            t = np.clip((centres - (edges[k] - half_width)) / (2.0 * half_width), 0.0, 1.0)
            rising[k] = 0.5 - 0.5 * np.cos(np.pi * t)
        else:
            rising[k] = centres >= edges[k]
    weights = np.empty((cells, length), dtype=np.float32)
    support = np.empty((cells, 2), dtype=np.int64)
    for r in range(cells):
        after_start = rising[r] if r > 0 else 1.0
        before_end = 1.0 - rising[r + 1] if r < cells - 1 else 1.0
        weights[r] = after_start * before_end
        start = 0 if r == 0 else int(np.floor(edges[r] - half_widths[r]))
        stop = length if r == cells - 1 else int(np.ceil(edges[r + 1] + half_widths[r + 1]))
        support[r] = max(0, start), min(length, stop)
    return weights, support


def summed_area(mask: np.ndarray) -> np.ndarray:
    """Summed-area table of a bool mask: ``(H + 1) x (W + 1)`` int64 for :func:`box_counts`."""
    return cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_32S).astype(np.int64)


def box_counts(table: np.ndarray, top: np.ndarray, left: np.ndarray, bottom: np.ndarray, right: np.ndarray):
    """Number of True pixels in each half-open box, boxes clipped to the image; vectorised over boxes.

    Args:
        table: from :func:`summed_area`.
        top, left, bottom, right: int arrays of the same shape (any, may lie outside the image).
    """
    height, width = table.shape[0] - 1, table.shape[1] - 1
    top, bottom = np.clip(top, 0, height), np.clip(bottom, 0, height)
    left, right = np.clip(left, 0, width), np.clip(right, 0, width)
    bottom, right = np.maximum(bottom, top), np.maximum(right, left)
    return table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]


def cell_features(image: np.ndarray, grid: tuple[int, int], size: int) -> np.ndarray:
    """Each cell of a ``rows x cols`` grid over ``image``, area-resampled to ``size x size`` pixels.

    One area resampling of the whole image to ``(rows * size, cols * size)``: the cells' borders fall at
    ``r * h / rows`` exactly, within half a pixel of the rounded grid edges, which does not matter for comparing
    cells and is far cheaper than resampling each cell on its own.

    Shape:
        image: ``h x w x C`` float32. Returns ``(rows * cols, size * size, C)`` float32, cells in raster order.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    rows, cols = grid
    channels = image.shape[2]
    source = np.ascontiguousarray(image, dtype=np.float32)
    resampled = cv2.resize(source, (cols * size, rows * size), interpolation=cv2.INTER_AREA)
    blocks = resampled.reshape(rows, size, cols, size, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(blocks).reshape(rows * cols, size * size, channels)


def _linear_taps(positions: np.ndarray, source_size: int, target_size: int) -> tuple[np.ndarray, ...]:
    """Source taps and weights of OpenCV's bilinear resize (half-pixel centres, edges clamped) along one axis."""
    coordinate = (positions.astype(np.float64) + 0.5) * (source_size / target_size) - 0.5
    lower = np.floor(coordinate)
    fraction = coordinate - lower
    lower = lower.astype(np.int64)
    fraction[lower < 0] = 0.0
    lower = np.maximum(lower, 0)
    past_end = lower >= source_size - 1
    fraction[past_end] = 0.0
    lower[past_end] = source_size - 1
    upper = np.minimum(lower + 1, source_size - 1)
    return lower, upper, fraction.astype(np.float32)


def resample_rows(wide: np.ndarray, height: int, rows: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Rows ``[rows[0], rows[1])`` of the bilinear resize of ``wide`` to ``height`` rows (width unchanged).

    With ``wide = resize_bilinear(small, (h, W))`` (the horizontal pass alone, cheap: ``h x W``), this gives
    ``resize_bilinear(small, (height, W))[rows[0]:rows[1]]`` up to float rounding (about 1e-7) while touching
    only those rows, because OpenCV's bilinear resize is separable and runs the horizontal pass first. Slice
    ``wide``'s columns first to get a window.

    Output rows that fall between the same two rows of ``wide`` form a run (``height / h`` rows long) sharing
    one difference row, so each output value costs one multiply and one add and no gathered copies.

    Args:
        wide: ``h x W x C`` (or ``h x W``) float32.
        height: rows of the full resize.
        rows: the half-open range of rows wanted.
        out: where to write, ``(rows[1] - rows[0]) x W x C`` float32; a new array when ``None``.

    Returns:
        ``(rows[1] - rows[0]) x W x C`` float32 (``out`` when given).
    """
    count = max(0, rows[1] - rows[0])
    shape = (count, *wide.shape[1:])
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {shape}, got {out.dtype} {out.shape}")
    if count == 0:
        return out
    lower, upper, fraction = _linear_taps(np.arange(*rows), wide.shape[0], height)
    fraction = fraction.reshape(-1, *([1] * (wide.ndim - 1)))
    first = int(lower[0])
    used = wide[first : int(upper[-1]) + 1]
    steps = used[1:] - used[:-1]  # the difference rows, once per window rather than once per run
    bounds = [0, *(np.flatnonzero(lower[1:] != lower[:-1]) + 1).tolist(), count]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        index = int(lower[start]) - first
        run = out[start:stop]
        if upper[start] == lower[start]:  # clamped at an edge of ``wide``: the fraction is 0
            run[...] = used[index]
        else:
            np.multiply(fraction[start:stop], steps[index], out=run)
            run += used[index]
    return out


def bilinear_columns(small: np.ndarray, width: int, cols: tuple[int, int]) -> np.ndarray:
    """Columns ``[cols[0], cols[1])`` of ``resize_bilinear(small, (h, width))``, the horizontal pass alone,
    computed over those columns only (equal up to float rounding).

    Shape:
        small: ``h x w x C`` float32. Returns ``h x (cols[1] - cols[0]) x C`` float32, contiguous.
    """
    across = resample_rows(np.swapaxes(small, 0, 1), width, cols)
    return np.ascontiguousarray(np.swapaxes(across, 0, 1))


def bilinear_window(small: np.ndarray, size: tuple[int, int], box: Box) -> np.ndarray:
    """``resize_bilinear(small, size)[box.slices]`` computed over the box only (equal up to float rounding).

    Shape:
        small: ``h x w x C`` float32. Returns ``box.height x box.width x C`` float32.
    """
    wide = bilinear_columns(small, size[1], (box.left, box.right))
    return resample_rows(wide, size[0], (box.top, box.bottom))


def bilinear_points(small: np.ndarray, size: tuple[int, int], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``resize_bilinear(small, size)[rows, cols]`` for scattered pixels, computed at those pixels only.

    Shape:
        small: ``h x w x C`` float32; rows, cols: ``(n,)`` int. Returns ``(n, C)`` float32.
    """
    row_lower, row_upper, row_fraction = _linear_taps(rows, small.shape[0], size[0])
    col_lower, col_upper, col_fraction = _linear_taps(cols, small.shape[1], size[1])
    col_weight = col_fraction[:, None]
    lower = small[row_lower, col_lower] * (1.0 - col_weight) + small[row_lower, col_upper] * col_weight
    upper = small[row_upper, col_lower] * (1.0 - col_weight) + small[row_upper, col_upper] * col_weight
    return lower * (1.0 - row_fraction[:, None]) + upper * row_fraction[:, None]


def top_k_softmax(scores: np.ndarray, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax restricted to each row's ``top_k`` largest scores (all when ``None``).

    Shape:
        scores: ``(n, m)`` with ``m >= 1``. Returns ``indices`` ``(n, k)`` int64 and ``weights`` ``(n, k)`` float32
        summing to 1 per row, largest weight first, with ``k = min(top_k, m)``.
    """
    count = scores.shape[1]
    keep = count if top_k is None else min(top_k, count)
    if keep < count:
        indices = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
    else:
        indices = np.broadcast_to(np.arange(count), scores.shape).copy()
    kept = np.take_along_axis(scores, indices, axis=1).astype(np.float64)
    order = np.argsort(-kept, axis=1, kind="stable")
    indices, kept = np.take_along_axis(indices, order, axis=1), np.take_along_axis(kept, order, axis=1)
    weights = np.exp(kept - kept[:, :1])
    weights /= weights.sum(axis=1, keepdims=True)
    return indices, weights.astype(np.float32)
