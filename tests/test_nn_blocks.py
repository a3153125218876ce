"""The pieces the generators share: the network input, residual initialisation, prefill paste, input checks, the
space-to-depth encoder and the coarse stage of zoom and pyramid (``nn/layers.py``, ``nn/blocks.py``)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hrinpaint.nn import blocks  # noqa: E402
from hrinpaint.nn.generator import check_image_mask, with_prefill  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.layers import (  # noqa: E402
    INPUT_CHANNELS,
    RESIDUAL_INIT_SCALE,
    GatedConv2d,
    network_input,
    parameter_count,
    scale_init,
)
from hrinpaint.nn.pyramid import CoarseStage as PyramidCoarse  # noqa: E402
from hrinpaint.nn.pyramid import PyramidConfig, PyramidGenerator  # noqa: E402
from hrinpaint.nn.shift import ShiftUNet, ShiftUNetConfig  # noqa: E402
from hrinpaint.nn.zoom import CoarseNet as ZoomCoarse  # noqa: E402
from hrinpaint.nn.zoom import ZoomConfig, ZoomGenerator  # noqa: E402


def _image_and_mask(height: int = 9, width: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.rand(1, 3, height, width)
    mask = torch.zeros(1, 1, height, width)
    mask[..., 2:6, 3:9] = 1.0
    return image, mask


def test_network_input_pads_signs_and_can_grey_the_hole():
    image, mask = _image_and_mask()
    x, padded_mask = network_input(image, mask, 8)
    assert x.shape == (1, 5, 16, 16) and padded_mask.shape == (1, 1, 16, 16)
    assert torch.equal(x[:, :3, :9, :13], image * 2.0 - 1.0)
    assert torch.equal(x[:, 3:4], padded_mask) and torch.equal(x[:, 4:], torch.ones_like(padded_mask))
    assert torch.equal(padded_mask[..., :9, :13], mask)
    assert torch.equal(x[..., 9, :13], x[..., 7, :13])  # reflected, not zero
    grey, _ = network_input(image, mask, 8, grey_hole=True)
    hole = padded_mask.expand(1, 3, 16, 16) > 0.5
    assert torch.all(grey[:, :3][hole] == 0.0)
    assert torch.equal(grey[:, :3][~hole], x[:, :3][~hole]) and torch.equal(grey[:, 3:], x[:, 3:])


def test_scale_init_scales_the_weights_and_zeroes_the_bias():
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(4, 3, 3)
    weight = conv.weight.detach().clone()
    scale_init(conv)
    assert torch.equal(conv.weight.detach(), weight * RESIDUAL_INIT_SCALE)
    assert torch.all(conv.bias == 0) and conv.weight.requires_grad
    scale_init(conv, 0.5)
    assert torch.allclose(conv.weight.detach(), weight * RESIDUAL_INIT_SCALE * 0.5)


def test_residual_output_layers_start_small_in_every_generator():
    """The output layers of every residual generator start through ``scale_init``: bias zero, weights a tenth of
    those of the same layer in the non-residual generator built from the same seed."""
    tiny = {"width": 4, "coarse_dilations": (1,), "refine_dilations": (2,)}
    pairs = []
    for prefill in ("none", "telea"):
        torch.manual_seed(2)
        hifill = HiFillGenerator(HiFillConfig(**tiny, prefill=prefill))
        torch.manual_seed(2)
        zoom = ZoomGenerator(ZoomConfig(**tiny, sr_width=4, prefill=prefill))
        hifill_layers = [hifill.coarse.to_rgb.conv, hifill.refine.to_rgb.conv]
        pairs.append([*hifill_layers, zoom.coarse.to_rgb.conv, zoom.refine.to_rgb.conv])
    for plain, residual in zip(*pairs, strict=True):
        assert torch.equal(residual.weight, plain.weight * RESIDUAL_INIT_SCALE)
        assert torch.all(residual.bias == 0) and not torch.all(plain.bias == 0)
    shift = ShiftUNet(ShiftUNetConfig(width=4, depth=2)).to_rgb  # no plain variant: PyTorch's bound, a tenth
    fan_in = shift.weight[0].numel()
    assert torch.all(shift.bias == 0) and float(shift.weight.detach().abs().max()) <= RESIDUAL_INIT_SCALE / fan_in**0.5


def test_with_prefill_pastes_the_prefill_into_the_hole_only():
    image, mask = _image_and_mask()
    prefill = torch.full_like(image, 0.25)
    out = with_prefill(image, mask, prefill, "telea")
    assert torch.equal(out[mask.expand_as(out) > 0.5], prefill[mask.expand_as(out) > 0.5])
    assert torch.equal(out[mask.expand_as(out) < 0.5], image[mask.expand_as(out) < 0.5])
    with pytest.raises(ValueError, match="'telea'-prefilled generator needs a prefill"):
        with_prefill(image, mask, None, "telea")
    with pytest.raises(ValueError, match="needs a prefill"):
        with_prefill(image, mask, prefill[..., :5], "telea")


@pytest.mark.parametrize(
    ("image_shape", "mask_shape"), [((3, 8, 8), (1, 8, 8)), ((1, 4, 8, 8), (1, 1, 8, 8)), ((2, 3, 8, 8), (1, 1, 8, 8))]
)
def test_every_generator_refuses_badly_shaped_input_with_one_message(image_shape, mask_shape):
    image, mask = torch.rand(image_shape), torch.zeros(mask_shape)
    with pytest.raises(ValueError, match="expected B x 3 x H x W image"):
        check_image_mask(image, mask)
    for generator in (ZoomGenerator(ZoomConfig(width=4, sr_width=4)), PyramidGenerator(PyramidConfig(width=4))):
        with pytest.raises(ValueError, match="expected B x 3 x H x W image"):
            generator(image, mask)


@pytest.mark.parametrize(("eighth", "factor"), [(False, 4), (True, 8)])
def test_gated_encoder_reaches_four_times_the_width_at_a_quarter_or_an_eighth(eighth, factor):
    encoder = torch.nn.Sequential(*blocks.gated_encoder(3, "pw", eighth=eighth))
    out = encoder(torch.rand(2, INPUT_CHANNELS, 32, 48))
    assert out.shape == (2, 12, 32 // factor, 48 // factor)
    assert parameter_count(encoder) == sum(p.numel() for p in encoder.parameters())


@pytest.mark.parametrize("residual", [False, True])
def test_zoom_and_pyramid_coarse_stages_are_one_stage(residual):
    """Zoom's coarse network and pyramid's coarse stage differ only in their encoder and decoder layers: with the
    output layer silenced both return the image (residual) or grey (not), at any size."""
    prefill = "telea" if residual else "none"
    zoom = ZoomCoarse(ZoomConfig(width=4, coarse_dilations=(1,), prefill=prefill))
    pyramid = PyramidCoarse(4, (2,), "full", residual)
    image, mask = _image_and_mask(11, 7)
    for stage in (zoom, pyramid):
        assert isinstance(stage, blocks.CoarseStage) and stage.residual == residual
        with torch.no_grad():
            stage.to_rgb.conv.weight.zero_()
            stage.to_rgb.conv.bias.zero_()
            out = stage.eval()(image, mask)
        assert torch.equal(out, image if residual else torch.full_like(image, 0.5))
        with torch.no_grad():
            stage.to_rgb.conv.bias.fill_(0.2)
            moved = stage(image, mask)
        assert torch.allclose(moved, out + 0.1)  # half the signed output, on [0, 1] scale


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: HiFillConfig(prefill="lama"), "unknown prefill 'lama'; known: none, telea, patchmatch"),
        (lambda: HiFillConfig(refine_gate="lstm"), "unknown gate 'lstm'"),
        (lambda: ZoomConfig(gate="lstm"), "unknown gate 'lstm'"),
        (lambda: ZoomConfig(zoom="x4"), "unknown zoom 'x4'; known: sr, bicubic, none"),
        (lambda: ZoomConfig(refine_dilations=(1, 0)), "dilations must be >= 1"),
        (lambda: PyramidConfig(upper_dilations=[2, -1]), "dilations must be >= 1"),
        (lambda: PyramidConfig(prefill="blur"), "unknown prefill 'blur'"),
        (lambda: PyramidConfig(width=0), "width must be positive, got 0"),
        (lambda: HiFillConfig(width=0), "width must be positive, got 0"),
        (lambda: ZoomConfig(width=-1), "width must be positive, got -1"),
        (lambda: ZoomConfig(sr_blocks=-1), "sr_blocks >= 0, got 64, -1"),
        (lambda: ShiftUNetConfig(depth=9), "depth must be in"),
        (lambda: GatedConv2d(3, 4, gate="lstm"), "unknown gate 'lstm'"),
    ],
)
def test_every_network_config_refuses_bad_values_with_a_config_error(build, message):
    from hrinpaint.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build()


def test_dilations_from_json_lists_become_tuples_whatever_mix_arrives():
    config = HiFillConfig(width=4, coarse_dilations=[1, 2], refine_dilations=(2,))  # a list beside a tuple
    assert config.coarse_dilations == (1, 2) and hash(config) == hash(HiFillConfig(4, (1, 2), (2,)))
    pyramid = PyramidConfig(bottom_dilations=[2, 4], upper_dilations=[2])
    assert pyramid.dilations(0) == (2, 4) and pyramid.dilations(1) == (2,)
    assert ZoomConfig(coarse_dilations=[1]).coarse_dilations == (1,)
