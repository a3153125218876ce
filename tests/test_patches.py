"""Cell grids, blending windows, box counts, cell features, row resampling and top-k softmax."""

import numpy as np
import pytest

from hrinpaint.ops.patches import (
    bilinear_columns,
    bilinear_points,
    bilinear_window,
    blend_windows,
    box_counts,
    cell_edges,
    cell_features,
    grid_shape,
    resample_rows,
    summed_area,
    top_k_softmax,
)
from hrinpaint.ops.regions import Box
from hrinpaint.ops.resize import resize_bilinear


def test_grid_shape_keeps_cells_square_and_fits_tiny_images():
    assert grid_shape((512, 512), 32) == (32, 32)
    assert grid_shape((384, 512), 32) == (24, 32)
    assert grid_shape((512, 341), 32) == (32, 21)
    assert grid_shape((10, 12), 32) == (10, 12)  # at most one cell per pixel
    assert grid_shape((1, 500), 32) == (1, 32)
    with pytest.raises(ValueError):
        grid_shape((10, 10), 0)


@pytest.mark.parametrize(("length", "cells"), [(24, 6), (37, 5), (385, 24), (7, 7), (5, 2)])
def test_cell_edges_follow_the_cell_attention_convention(length, cells):
    edges = cell_edges(length, cells)
    assert edges.tolist() == [round(r * length / cells) for r in range(cells + 1)]
    assert edges[0] == 0 and edges[-1] == length and (np.diff(edges) > 0).all()
    with pytest.raises(ValueError):
        cell_edges(3, 4)


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize(("length", "cells", "scale"), [(97, 5, 97 / 24), (131, 8, 131 / 32), (60, 1, 3.0)])
def test_blend_windows_are_a_smooth_partition_of_unity(overlap, length, cells, scale):
    working = round(length / scale)
    edges = cell_edges(working, cells) * (length / working)
    weights, support = blend_windows(edges, length, overlap)
    assert weights.shape == (cells, length) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    for cell in range(cells):
        start, stop = support[cell]
        assert not weights[cell, :start].any() and not weights[cell, stop:].any()
        inside = np.arange(length) + 0.5
        core = (inside > edges[cell] + 0.5 * overlap * (edges[1] - edges[0]) + 1) & (
            inside < edges[cell + 1] - 0.5 * overlap * (edges[1] - edges[0]) - 1
        )
        assert np.allclose(weights[cell, core], 1.0)
    if overlap > 0 and cells > 1:  # raised-cosine ramps: no jump larger than a ramp allows
        ramp = overlap * length / cells
        assert np.abs(np.diff(weights, axis=1)).max() <= np.pi / (2 * ramp) * 1.5


def test_box_counts_match_brute_force():
    rng = np.random.default_rng(3)
    mask = rng.random((23, 31)) > 0.7
    table = summed_area(mask)
    top, left = rng.integers(-5, 25, 50), rng.integers(-5, 33, 50)
    bottom, right = top + rng.integers(0, 12, 50), left + rng.integers(0, 12, 50)
    counts = box_counts(table, top, left, bottom, right)
    for i in range(50):
        rows = slice(max(0, top[i]), max(0, bottom[i]))
        cols = slice(max(0, left[i]), max(0, right[i]))
        assert counts[i] == mask[rows, cols].sum()


def test_cell_features_average_each_cell():
    rng = np.random.default_rng(4)
    image = rng.random((12, 18, 3), dtype=np.float32)
    features = cell_features(image, (4, 6), 1)  # 3 x 3 cells averaged to one pixel each
    assert features.shape == (24, 1, 3)
    reference = image.astype(np.float64).reshape(4, 3, 6, 3, 3).mean(axis=(1, 3)).reshape(24, 1, 3)
    np.testing.assert_allclose(features, reference, atol=1e-6)
    assert cell_features(np.full((7, 5, 3), 0.25, np.float32), (3, 2), 3).shape == (6, 9, 3)
    np.testing.assert_allclose(cell_features(np.full((7, 5, 3), 0.25, np.float32), (3, 2), 3), 0.25, atol=1e-6)


def _bilinear_float64(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize, half-pixel centres, clamped edges: the float64 reference."""

    def taps(count: int, source: int):
        position = np.clip((np.arange(count) + 0.5) * source / count - 0.5, 0, source - 1)
        lower = np.floor(position).astype(int)
        upper = np.minimum(lower + 1, source - 1)
        return lower, upper, position - lower

    small = small.astype(np.float64)
    row_lower, row_upper, row_fraction = taps(size[0], small.shape[0])
    col_lower, col_upper, col_fraction = taps(size[1], small.shape[1])
    rows = small[row_lower] * (1 - row_fraction)[:, None, None] + small[row_upper] * row_fraction[:, None, None]
    return rows[:, col_lower] * (1 - col_fraction)[None, :, None] + rows[:, col_upper] * col_fraction[None, :, None]


@pytest.mark.parametrize(
    ("small", "size"), [((24, 32), (97, 131)), ((5, 7), (37, 53)), ((1, 3), (4, 9)), ((3, 2), (3, 8))]
)
def test_resample_rows_and_points_match_the_full_bilinear_resize(small, size):
    rng = np.random.default_rng(5)
    image = rng.random((*small, 3), dtype=np.float32)
    full = resize_bilinear(image, size)
    np.testing.assert_allclose(full, _bilinear_float64(image, size), atol=1e-6)
    wide = resize_bilinear(image, (small[0], size[1]))
    for top, bottom, left, right in [(0, size[0], 0, size[1]), (1, size[0] - 1, 2, size[1] - 1), (2, 3, 0, 1)]:
        window = resample_rows(wide[:, left:right], size[0], (top, bottom))
        np.testing.assert_allclose(window, full[top:bottom, left:right], atol=1e-6)
    rows, cols = rng.integers(0, size[0], 40), rng.integers(0, size[1], 40)
    np.testing.assert_allclose(bilinear_points(image, size, rows, cols), full[rows, cols], atol=1e-6)
    assert resample_rows(wide, size[0], (3, 3)).shape == (0, size[1], 3)


@pytest.mark.parametrize(
    ("small", "size"), [((24, 32), (97, 131)), ((5, 7), (37, 53)), ((1, 3), (4, 9)), ((3, 2), (3, 8))]
)
def test_windows_of_the_bilinear_resize_computed_alone(small, size):
    image = np.random.default_rng(7).random((*small, 3), dtype=np.float32)
    full = _bilinear_float64(image, size)
    np.testing.assert_allclose(
        bilinear_columns(image, size[1], (1, size[1])), resize_bilinear(image, (small[0], size[1]))[:, 1:], atol=1e-6
    )
    for box in [Box(0, 0, *size), Box(1, 2, size[0], size[1] - 1), Box(size[0] - 1, 0, size[0], 1)]:
        np.testing.assert_allclose(bilinear_window(image, size, box), full[box.slices], atol=1e-6)


def test_resample_rows_writes_into_out():
    image = np.random.default_rng(8).random((6, 9, 3), dtype=np.float32)
    wide = resize_bilinear(image, (6, 40))
    out = np.full((17, 40, 3), np.nan, np.float32)
    assert resample_rows(wide, 50, (20, 37), out=out) is out
    np.testing.assert_array_equal(out, resample_rows(wide, 50, (20, 37)))
    with pytest.raises(ValueError, match="out must be"):
        resample_rows(wide, 50, (20, 36), out=out)


def test_top_k_softmax_is_the_softmax_of_the_best_scores():
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(5, 9))
    indices, weights = top_k_softmax(scores, 3)
    assert indices.shape == weights.shape == (5, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    for row in range(5):
        best = np.argsort(-scores[row])[:3]
        assert indices[row].tolist() == best.tolist()
        expected = np.exp(scores[row, best] - scores[row, best].max())
        np.testing.assert_allclose(weights[row], expected / expected.sum(), rtol=1e-5)
    all_indices, all_weights = top_k_softmax(scores, None)
    assert all_indices.shape == (5, 9)
    full = np.exp(scores - scores.max(axis=1, keepdims=True))
    full /= full.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.take_along_axis(full, all_indices, axis=1), all_weights, rtol=1e-5)
    assert top_k_softmax(scores[:, :2], 5)[0].shape == (5, 2)
