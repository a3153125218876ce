"""Network building blocks: gated convolutions, contextual attention, the HiFill generator, the discriminator."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hrinpaint.nn.attention import (
    ContextualAttention,
    attention_scores,
    attention_transfer,
    cell_mask,
    context_cells,
)
from hrinpaint.nn.discriminator import PatchDiscriminator
from hrinpaint.nn.hifill import PAD_MULTIPLE, HiFillConfig, HiFillGenerator
from hrinpaint.nn.layers import (
    GATE_KINDS,
    GatedConv2d,
    gated,
    pad_to_multiple,
    parameter_count,
    same_padding,
    upsample2x,
)

TINY = HiFillConfig(width=4, coarse_dilations=(1, 2), refine_dilations=(2,))


def hole_mask(batch: int, height: int, width: int, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """A ``B x 1 x H x W`` 1 = hole mask with the same boxes ``(top, left, bottom, right)`` in every image."""
    mask = torch.zeros(batch, 1, height, width)
    for top, left, bottom, right in boxes:
        mask[..., top:bottom, left:right] = 1.0
    return mask


# --- layers -------------------------------------------------------------------------------------------------------


def test_same_padding_values_and_even_kernel_rejected():
    assert same_padding(3) == 1
    assert same_padding(5) == 2
    assert same_padding(3, dilation=4) == 4
    assert same_padding(5, dilation=2) == 4
    with pytest.raises(ValueError, match="odd"):
        same_padding(4)


@pytest.mark.parametrize("kind", GATE_KINDS)
@pytest.mark.parametrize(("kernel", "stride", "dilation"), [(3, 1, 1), (3, 2, 1), (5, 2, 1), (3, 1, 3), (3, 2, 2)])
def test_gated_conv_shape_for_odd_sizes(kind, kernel, stride, dilation):
    layer = GatedConv2d(3, 6, kernel, stride, dilation, gate=kind)
    out = layer(torch.rand(2, 3, 13, 17))
    assert out.shape == (2, 6, math.ceil(13 / stride), math.ceil(17 / stride))


def _reference_gate(layer: GatedConv2d, x: torch.Tensor, kernel: int, stride: int, dilation: int) -> torch.Tensor:
    """The gate logits from the layer's weights with explicit ``F.conv2d`` calls (independent of its modules)."""
    pad = dilation * (kernel - 1) // 2
    gate = layer.gate
    if layer.kind in ("full", "sc"):
        return F.conv2d(x, gate.weight, gate.bias, stride, pad, dilation)
    if layer.kind == "pw":
        return F.conv2d(x, gate.weight, gate.bias, stride)
    depthwise, pointwise = gate[0], gate[1]
    spatial = F.conv2d(x, depthwise.weight, depthwise.bias, stride, pad, dilation, groups=x.shape[1])
    return F.conv2d(spatial, pointwise.weight, pointwise.bias)


@pytest.mark.parametrize("kind", GATE_KINDS)
@pytest.mark.parametrize("activation", [True, False])
def test_gated_conv_matches_functional_form_float64(kind, activation):
    kernel, stride, dilation = 3, 2, 2
    layer = GatedConv2d(4, 5, kernel, stride, dilation, gate=kind, activation=activation).double()
    x = torch.randn(2, 4, 11, 9, dtype=torch.float64)
    out = layer(x)
    # The module is its functional form applied to its own branches ...
    gate = None if layer.gate is None else layer.gate(x)
    torch.testing.assert_close(out, gated(layer.conv(x), gate, activation), rtol=0, atol=0)
    # ... and that form is elu(features) * sigmoid(gate), with the padding a "same" convolution needs.
    features = F.conv2d(x, layer.conv.weight, layer.conv.bias, stride, dilation * (kernel - 1) // 2, dilation)
    if activation:
        features = torch.where(features > 0, features, torch.exp(features) - 1.0)
    if kind != "none":
        features = features / (1.0 + torch.exp(-_reference_gate(layer, x, kernel, stride, dilation)))
    torch.testing.assert_close(out, features, rtol=1e-12, atol=1e-12)


def test_gated_functional_form_float64():
    features = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64)
    gate = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0], dtype=torch.float64)
    elu = np.where(features.numpy() > 0, features.numpy(), np.expm1(features.numpy()))
    sigmoid = 1.0 / (1.0 + np.exp(-gate.numpy()))
    np.testing.assert_allclose(gated(features, gate).numpy(), elu * sigmoid, rtol=1e-14)
    np.testing.assert_allclose(gated(features, gate, activation=False).numpy(), features.numpy() * sigmoid)
    np.testing.assert_allclose(gated(features, None).numpy(), elu, rtol=1e-14)


def gate_weights_of_table_1(kind: str, in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Weights (without biases) spent on the gate branch, by the HiFill paper's Table 1."""
    k2 = kernel_size * kernel_size
    return {
        "full": k2 * in_channels * out_channels,
        "ds": k2 * in_channels + in_channels * out_channels,
        "pw": in_channels * out_channels,
        "sc": k2 * in_channels,
        "none": 0,
    }[kind]


@pytest.mark.parametrize("kind", GATE_KINDS)
@pytest.mark.parametrize(("c_in", "c_out", "kernel"), [(4, 8, 3), (6, 3, 5), (1, 16, 3), (32, 32, 3)])
def test_gate_weights_follow_table_1(kind, c_in, c_out, kernel):
    # For a 3x3 layer with 32 -> 32 channels the light-weight gates are 1/9 to 1/32 of the full gate's 9,216.
    layer = GatedConv2d(c_in, c_out, kernel, gate=kind)
    gate_weights = (
        0 if layer.gate is None else sum(p.numel() for n, p in layer.gate.named_parameters() if "weight" in n)
    )
    assert gate_weights == gate_weights_of_table_1(kind, c_in, c_out, kernel)


def test_single_channel_gate_is_broadcast_over_channels():
    layer = GatedConv2d(3, 6, 3, gate="sc")
    x = torch.rand(2, 3, 9, 11)
    gate = layer.gate(x)
    assert gate.shape == (2, 1, 9, 11)
    out = layer(x)
    # Every output channel is multiplied by the same gate: out / elu(conv) is one map repeated.
    features = F.elu(layer.conv(x))
    expected = features * torch.sigmoid(gate).expand(-1, 6, -1, -1)
    torch.testing.assert_close(out, expected)


def test_gated_conv_rejects_unknown_gate_and_even_kernel():
    with pytest.raises(ValueError, match="unknown gate"):
        GatedConv2d(3, 4, gate="lstm")
    with pytest.raises(ValueError, match="odd"):
        GatedConv2d(3, 4, kernel_size=2)


def test_pad_to_multiple_reflects_bottom_right():
    x = torch.arange(2 * 37 * 53, dtype=torch.float64).reshape(1, 2, 37, 53)
    padded, size = pad_to_multiple(x, 16)
    assert size == (37, 53)
    assert padded.shape == (1, 2, 48, 64)
    assert torch.equal(padded[..., :37, :53], x)
    # Reflection about the last row/column (the edge itself is not repeated).
    for offset in range(11):
        assert torch.equal(padded[..., 37 + offset, :53], x[..., 35 - offset, :])
    for offset in range(11):
        assert torch.equal(padded[..., :37, 53 + offset], x[..., :, 51 - offset])


def test_pad_to_multiple_noop_and_replicate_fallback():
    x = torch.rand(1, 1, 32, 16)
    padded, size = pad_to_multiple(x, 16)
    assert padded is x and size == (32, 16)
    tiny = torch.rand(1, 1, 3, 5)
    padded, size = pad_to_multiple(tiny, 16)
    assert size == (3, 5) and padded.shape == (1, 1, 16, 16)
    assert torch.equal(padded[..., :3, :5], tiny)
    assert torch.equal(padded[..., 3:, :5], tiny[..., 2:3, :].expand(-1, -1, 13, -1))
    assert torch.equal(padded[..., :3, 5:], tiny[..., :, 4:5].expand(-1, -1, -1, 11))


def test_upsample2x_repeats_each_pixel():
    x = torch.rand(2, 3, 5, 7)
    up = upsample2x(x)
    assert up.shape == (2, 3, 10, 14)
    for dy, dx in itertools.product(range(2), range(2)):
        assert torch.equal(up[..., dy::2, dx::2], x)
    assert upsample2x(x, size=(11, 13)).shape == (2, 3, 11, 13)


# --- attention ----------------------------------------------------------------------------------------------------


def test_cell_mask_marks_cells_with_any_hole_pixel():
    mask = torch.zeros(2, 1, 8, 12)
    mask[0, 0, 5, 9] = 1.0  # one pixel in cell (1, 2) of a 2 x 3 grid of 4 x 4 cells
    mask[1, 0, 3:5, 3:5] = 1.0  # straddles four cells
    cells = cell_mask(mask, (2, 3))
    assert cells.shape == (2, 1, 2, 3)
    assert cells[0, 0].tolist() == [[0, 0, 0], [0, 0, 1]]
    assert cells[1, 0].tolist() == [[1, 1, 0], [1, 1, 0]]


def test_cell_mask_rejects_grid_that_does_not_divide():
    with pytest.raises(ValueError):
        cell_mask(torch.zeros(1, 1, 9, 12), (2, 3))


def _context_reference(hole: np.ndarray, patch: int = 3) -> np.ndarray:
    """Loop reference for :func:`context_cells` on one ``rows x cols`` hole grid."""
    rows, cols = hole.shape
    radius = patch // 2
    valid = np.zeros((rows, cols), bool)
    for r, c in itertools.product(range(rows), range(cols)):
        window = hole[max(r - radius, 0) : r + radius + 1, max(c - radius, 0) : c + radius + 1]
        valid[r, c] = not window.any()
    if not valid.any():
        valid = hole == 0
    return valid.ravel()


def test_context_cells_exclude_hole_and_its_neighbourhood():
    hole = torch.zeros(3, 1, 5, 6)
    hole[0, 0, 2, 2] = 1.0
    hole[1, 0, 0, 5] = 1.0  # a corner: the neighbourhood is clipped at the border
    hole[2, 0, 1:4, 1:5] = 1.0  # leaves no cell clear of the hole's neighbourhood -> fallback to non-hole cells
    valid = context_cells(hole)
    assert valid.dtype == torch.bool and valid.shape == (3, 30)
    for index in range(3):
        expected = _context_reference(hole[index, 0].numpy())
        assert valid[index].tolist() == expected.tolist()
    assert valid[0].sum() == 30 - 9
    assert valid[1].sum() == 30 - 4
    assert valid[2].tolist() == (hole[2, 0].flatten() == 0).tolist()


def _scores_reference(features: np.ndarray, valid: np.ndarray, temperature: float, patch: int = 3) -> np.ndarray:
    """float64 loop reference: softmax over valid sources of the cosine of zero-padded patches."""
    channels, rows, cols = features.shape
    radius = patch // 2
    padded = np.pad(features, ((0, 0), (radius, radius), (radius, radius)))
    patches = np.stack(
        [padded[:, r : r + patch, c : c + patch].ravel() for r, c in itertools.product(range(rows), range(cols))]
    )
    patches = patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-6)
    count = rows * cols
    scores = np.zeros((count, count))
    for i in range(count):
        logits = np.array([temperature * patches[i] @ patches[j] if valid[j] else -np.inf for j in range(count)])
        weights = np.exp(logits - logits.max())
        scores[i] = weights / weights.sum()
    return scores


def test_attention_scores_match_float64_reference():
    features = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    hole = torch.zeros(2, 1, 5, 6, dtype=torch.float64)
    hole[0, 0, 1:3, 2:4] = 1.0
    hole[1, 0, 4, 0] = 1.0
    valid = context_cells(hole)
    scores = attention_scores(features, valid, temperature=7.0)
    assert scores.shape == (2, 30, 30) and scores.dtype == torch.float64
    for index in range(2):
        expected = _scores_reference(features[index].numpy(), valid[index].numpy(), 7.0)
        np.testing.assert_allclose(scores[index].numpy(), expected, rtol=1e-10, atol=1e-14)


def test_attention_scores_rows_sum_to_one_and_ignore_hole_cells():
    features = torch.randn(2, 8, 6, 7)
    hole = torch.zeros(2, 1, 6, 7)
    hole[0, 0, 2:4, 2:5] = 1.0
    hole[1, 0, 0:2, 5:7] = 1.0
    scores = ContextualAttention(temperature=10.0)(features, hole)
    torch.testing.assert_close(scores.sum(dim=2), torch.ones(2, 42))
    near_hole = F.max_pool2d(hole, 3, stride=1, padding=1).flatten(1) > 0
    for index in range(2):
        # Hole cells and cells whose 3 x 3 neighbourhood touches the hole get exactly zero weight from every row.
        assert torch.all(scores[index][:, near_hole[index]] == 0)
        assert torch.all(scores[index][:, ~near_hole[index]] > 0)
        assert near_hole[index].sum() < 42


def test_contextual_attention_module_equals_functions():
    features = torch.randn(1, 4, 5, 5)
    hole = torch.zeros(1, 1, 5, 5)
    hole[..., 0, 0] = 1.0
    module = ContextualAttention(temperature=3.0, patch_size=3)
    expected = attention_scores(features, context_cells(hole, 3), 3.0, 3)
    assert torch.equal(module(features, hole), expected)


def test_all_hole_image_gets_identity_scores():
    features = torch.randn(2, 4, 3, 4)
    hole = torch.zeros(2, 1, 3, 4)
    hole[0] = 1.0  # image 0 is all hole; image 1 has no hole
    scores = ContextualAttention()(features, hole)
    assert torch.equal(scores[0], torch.eye(12))
    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores[1].sum(dim=1), torch.ones(12))
    assert torch.all(scores[1] > 0)
    # The identity moves nothing: transfer gives back the input.
    cells = torch.randn(2, 3, 6, 8)
    assert torch.equal(attention_transfer(cells, scores, hole)[0], cells[0])


def _transfer_reference(features: np.ndarray, scores: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """float64 loop reference for one image: hole cell i = sum_j scores[i, j] * cell j; other cells unchanged."""
    _, height, width = features.shape
    rows, cols = hole.shape
    k = height // rows
    cells = [
        features[:, r * k : (r + 1) * k, c * k : (c + 1) * k] for r, c in itertools.product(range(rows), range(cols))
    ]
    out = features.copy()
    for i, (r, c) in enumerate(itertools.product(range(rows), range(cols))):
        if hole[r, c] > 0:
            out[:, r * k : (r + 1) * k, c * k : (c + 1) * k] = sum(scores[i, j] * cells[j] for j in range(len(cells)))
    return out


@pytest.mark.parametrize("k", [1, 3, 4])
def test_attention_transfer_matches_float64_reference(k):
    rows, cols = 3, 4
    generator = torch.Generator().manual_seed(k)
    features = torch.randn(2, 5, rows * k, cols * k, dtype=torch.float64, generator=generator)
    scores = torch.softmax(torch.randn(2, 12, 12, dtype=torch.float64, generator=generator), dim=2)
    hole = torch.zeros(2, 1, rows, cols, dtype=torch.float64)
    hole[0, 0, 1, 1:3] = 1.0
    hole[1, 0, 0, 0] = 1.0
    hole[1, 0, 2, 3] = 1.0
    moved = attention_transfer(features, scores, hole)
    assert moved.shape == features.shape
    for index in range(2):
        expected = _transfer_reference(features[index].numpy(), scores[index].numpy(), hole[index, 0].numpy())
        np.testing.assert_allclose(moved[index].numpy(), expected, rtol=1e-12, atol=1e-12)
    # Non-hole cells are copied exactly, not recomputed.
    keep = F.interpolate(hole, scale_factor=k, mode="nearest").expand_as(features) == 0
    assert torch.equal(moved[keep], features[keep])


def test_attention_rejects_bad_shapes():
    scores = torch.full((1, 6, 6), 1 / 6)
    hole = torch.zeros(1, 1, 2, 3)
    with pytest.raises(ValueError):
        attention_transfer(torch.zeros(1, 4, 7, 12), scores, hole)  # 7 rows are not 2 whole cells
    with pytest.raises(ValueError):
        attention_transfer(torch.zeros(1, 4, 8, 9), scores, hole)  # 4 x 3 cells are not square
    with pytest.raises(ValueError):
        attention_transfer(torch.zeros(1, 4, 8, 12), torch.full((1, 5, 5), 0.2), hole)  # scores for 5 cells
    with pytest.raises(ValueError):
        attention_transfer(torch.zeros(2, 4, 8, 12), scores.expand(2, -1, -1), hole)  # hole for 1 image of 2
    with pytest.raises(ValueError):
        attention_scores(torch.randn(1, 4, 2, 3), torch.ones(1, 5, dtype=torch.bool))  # valid for 5 cells
    with pytest.raises(ValueError):
        attention_scores(torch.randn(2, 4, 2, 3), torch.ones(1, 6, dtype=torch.bool))  # valid for 1 image of 2


# --- generator ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> HiFillGenerator:
    torch.manual_seed(0)
    return HiFillGenerator(TINY).eval()


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 21, 40), (1, 3, 5, 9)])
def test_generator_output_size_equals_input_size(generator, shape):
    batch, _, height, width = shape
    image = torch.rand(shape)
    mask = hole_mask(batch, height, width, [(height // 4, width // 4, height // 2 + 1, width // 2 + 1)])
    with torch.no_grad():
        out = generator(image, mask)
    for tensor in (out.image, out.coarse, out.refined):
        assert tensor.shape == shape
    padded_h, padded_w = out.padded_size
    assert padded_h % PAD_MULTIPLE == 0 and padded_w % PAD_MULTIPLE == 0
    assert padded_h - height < PAD_MULTIPLE and padded_w - width < PAD_MULTIPLE
    assert out.grid == (padded_h // 16, padded_w // 16)
    cells = out.grid[0] * out.grid[1]
    assert out.scores.shape == (batch, cells, cells)
    torch.testing.assert_close(out.scores.sum(dim=2), torch.ones(batch, cells))


def test_generator_keeps_known_pixels_and_stays_in_range(generator):
    image = torch.rand(2, 3, 37, 53)
    mask = hole_mask(2, 37, 53, [(4, 6, 20, 30), (30, 45, 37, 53)])
    with torch.no_grad():
        out = generator(image, mask)
    known = (mask == 0).expand_as(image)
    assert torch.equal(out.image[known], image[known])
    assert out.image.min() >= 0.0 and out.image.max() <= 1.0
    # The hole is the network's, not the input's.
    hole = ~known
    assert not torch.equal(out.image[hole], image[hole])
    assert out.hole_cells.sum() > 0


def test_generator_ignores_hole_pixel_values(generator):
    image = torch.rand(2, 3, 21, 40)
    mask = hole_mask(2, 21, 40, [(3, 5, 15, 22)])
    noisy = torch.where(mask > 0, torch.randn(2, 3, 21, 40) * 10.0, image)
    with torch.no_grad():
        clean_out, noisy_out = generator(image, mask), generator(noisy, mask)
    for name in ("image", "coarse", "refined", "scores"):
        assert torch.equal(getattr(clean_out, name), getattr(noisy_out, name)), name


def test_generator_rejects_bad_shapes(generator):
    with pytest.raises(ValueError):
        generator(torch.rand(1, 4, 16, 16), torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError):
        generator(torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 15))
    with pytest.raises(ValueError):
        generator(torch.rand(3, 16, 16), torch.zeros(1, 16, 16))


def test_hifill_config_validation_and_defaults():
    with pytest.raises(ValueError):
        HiFillConfig(width=0)
    with pytest.raises(ValueError):
        HiFillConfig(coarse_gate="lstm")
    with pytest.raises(ValueError):
        HiFillConfig(refine_dilations=(2, 0))
    config = HiFillConfig(width=4, coarse_dilations=[1, 2], refine_dilations=[2])
    assert config == TINY and hash(config) == hash(TINY)
    assert parameter_count(HiFillGenerator(TINY)) < parameter_count(HiFillGenerator(HiFillConfig(width=8)))
    # The paper's network is about 2.7 M parameters.
    assert 2.0e6 < parameter_count(HiFillGenerator()) < 3.5e6


# --- discriminator ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "height", "width"), [(3, 37, 53), (4, 21, 40), (6, 32, 32)])
def test_discriminator_output_shape(layers, height, width):
    critic = PatchDiscriminator(width=4, layers=layers)
    scores = critic(torch.rand(2, 3, height, width), torch.zeros(2, 1, height, width))
    assert scores.shape == (2, 1, math.ceil(height / 2**layers), math.ceil(width / 2**layers))


def test_discriminator_weights_have_unit_spectral_norm():
    torch.manual_seed(0)
    critic = PatchDiscriminator(width=4, layers=3).train()
    image, mask = torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)
    with torch.no_grad():
        for _ in range(100):  # each training-mode forward is one power iteration
            critic(image, mask)
    for conv in [*critic.convs, critic.to_score]:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert abs(float(sigma) - 1.0) < 2e-2
        raw = conv.parametrizations.weight.original
        assert abs(float(torch.linalg.matrix_norm(raw.detach().flatten(1), ord=2)) - 1.0) > 5e-2
