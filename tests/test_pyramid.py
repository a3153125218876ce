"""The Pyramid Generator: level sizes and fusion, adaptive dilation, the joint trainer with one loss and one
discriminator per level, weights round trips and the ``pyramid`` filler through the pipeline, on tiny networks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.errors import ConfigError, InputError  # noqa: E402
from hrinpaint.fillers.attention import CellAttention  # noqa: E402
from hrinpaint.methods import resolve_method  # noqa: E402
from hrinpaint.nn import MODELS  # noqa: E402
from hrinpaint.nn.layers import GatedConv2d  # noqa: E402
from hrinpaint.nn.pyramid import (  # noqa: E402
    BOTTOM_DILATIONS,
    UPPER_DILATIONS,
    PyramidConfig,
    PyramidGenerator,
    image_pyramid,
    level_sizes,
    upsample_to,
)
from hrinpaint.nn.weights import load_model, save_weights  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402
from hrinpaint.train import TRAINERS  # noqa: E402
from hrinpaint.train.config import TrainConfig  # noqa: E402
from hrinpaint.train.data import Batch  # noqa: E402
from hrinpaint.train.pyramid import PyramidTrainer, PyramidTrainOptions, default_level_weights  # noqa: E402
from hrinpaint.train.typed import checked  # noqa: E402

TINY = {"width": 4, "bottom_dilations": [2, 3], "upper_dilations": [2]}


def tiny_generator(**changes) -> PyramidGenerator:
    torch.manual_seed(0)
    return PyramidGenerator(PyramidConfig(**{**TINY, **changes})).eval()


def tiny_config(**changes) -> TrainConfig:
    values = dict(
        family="pyramid",
        model=TINY,
        data="unused",
        val_data=None,
        crop=32,
        batch_size=2,
        steps=8,
        lr=3e-3,
        lr_final=3e-3,
        mask_kinds=("box",),
        discriminator_width=4,
    )
    values.update(changes)
    return TrainConfig.from_flat(values)


def fixed_batch() -> Batch:
    """Two smooth 32 x 32 labels with box holes."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    first = torch.stack([ys, xs, 0.5 * (ys + xs)])
    second = torch.stack([1 - xs, 0.3 + 0.4 * ys, xs * ys])
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, :, 8:18, 10:22] = 1.0
    mask[1, :, 16:28, 4:14] = 1.0
    return Batch(torch.stack([first, second]), mask)


def telea(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    from hrinpaint.train.hifill import batch_prefill

    return batch_prefill(image, mask, "telea")


def test_level_sizes_halve_rounding_up_and_the_pyramid_keeps_every_hole_pixel():
    assert level_sizes(37, 53, 3) == [(10, 14), (19, 27), (37, 53)]
    assert level_sizes(1, 2, 3) == [(1, 1), (1, 1), (1, 2)]
    assert level_sizes(64, 48, 1) == [(64, 48)]
    image, mask = torch.rand(1, 3, 37, 53), torch.zeros(1, 1, 37, 53)
    mask[0, 0, 36, 52] = 1.0  # the last pixel of an odd side
    mask[0, 0, 5, 6] = 1.0
    pairs = image_pyramid(image, mask, 3)
    assert [tuple(i.shape[-2:]) for i, _ in pairs] == level_sizes(37, 53, 3)
    for below, (above_image, above_mask) in zip(pairs, pairs[1:], strict=False):  # each level from the one above
        assert all(torch.equal(a, b) for a, b in zip(below, image_pyramid(above_image, above_mask, 2)[0], strict=True))
    assert pairs[1][1][0, 0, 18, 26] == 1 and pairs[0][1][0, 0, 9, 13] == 1
    even_image, even_mask = torch.rand(2, 3, 16, 8), (torch.rand(2, 1, 16, 8) > 0.7).float()
    (bottom_image, bottom_mask), _ = image_pyramid(even_image, even_mask, 2)
    assert torch.equal(bottom_image, torch.nn.functional.avg_pool2d(even_image, 2))  # area average
    assert torch.equal(bottom_mask, torch.nn.functional.max_pool2d(even_mask, 2))


@pytest.mark.parametrize(("height", "width"), [(37, 53), (1, 1), (2, 3), (16, 7)])
def test_every_level_keeps_odd_sizes_and_the_output_is_the_input_size(height, width):
    generator = tiny_generator()
    image, mask = torch.rand(2, 3, height, width), (torch.rand(2, 1, height, width) > 0.6).float()
    mask[:, :, 0, 0] = 1.0
    with torch.no_grad():
        out = generator(image, mask)
    assert out.image.shape == image.shape
    for level, (level_height, level_width) in zip(out.levels, level_sizes(height, width, 3), strict=True):
        size = (2, 3, level_height, level_width)
        assert level.image.shape == level.coarse.shape == level.fused.shape == level.refined.shape == size
        assert level.mask.shape == (2, 1, level_height, level_width)
        torch.testing.assert_close(level.scores.sum(-1), torch.ones(level.scores.shape[:2]))
    assert out.grid == ((height + 7) // 8, (width + 7) // 8)  # the top level's 8 x 8 cells
    known = mask.expand_as(image) == 0
    assert torch.equal(out.image[known], image[known])  # bit-exact
    assert 0.0 <= out.image.min() and out.image.max() <= 1.0
    other = image.clone()
    other[~known] = 1.0 - other[~known]
    with torch.no_grad():
        assert torch.equal(generator(other, mask).image, out.image)  # what the hole held never shows


def test_fusion_adds_the_upsampled_level_below_to_the_pasted_coarse_fill():
    generator = tiny_generator()
    image, mask = torch.rand(1, 3, 29, 34), torch.zeros(1, 1, 29, 34)
    mask[:, :, 6:20, 9:25] = 1.0
    with torch.no_grad():
        out = generator(image, mask)
    pairs = image_pyramid(image, mask, 3)
    for n, (level, (level_image, level_mask)) in enumerate(zip(out.levels, pairs, strict=True)):
        pasted = level_image * (1 - level_mask) + level.coarse.clamp(0, 1) * level_mask
        below = upsample_to(out.levels[n - 1].image, level_image.shape[-2:]) if n else 0.0
        torch.testing.assert_close(level.fused, pasted + below)
        assert torch.equal(level.mask, level_mask)


def test_adaptive_dilation_rates_per_level_as_configured():
    def rates(stage) -> list[int]:
        return [m.conv.dilation[0] for m in stage.modules() if isinstance(m, GatedConv2d) and m.conv.dilation[0] > 1]

    generator = PyramidGenerator(PyramidConfig(width=1))  # the paper's defaults
    assert PyramidConfig().levels == 3
    assert (BOTTOM_DILATIONS, UPPER_DILATIONS) == ((2, 4, 8, 12), (2, 4, 8))
    expected = [BOTTOM_DILATIONS, UPPER_DILATIONS, UPPER_DILATIONS]
    for sub, dilations in zip(generator.generators, expected, strict=True):
        assert sub.dilations == dilations
        assert tuple(rates(sub.coarse)) == dilations and tuple(rates(sub.refine.convolution_branch)) == dilations
    custom = PyramidGenerator(PyramidConfig(levels=2, width=1, bottom_dilations=[3, 5], upper_dilations=[7]))
    assert [tuple(rates(sub.coarse)) for sub in custom.generators] == [(3, 5), (7,)]
    assert len(PyramidGenerator(PyramidConfig(levels=1, width=1)).generators) == 1
    for bad in ({"levels": 0}, {"width": 0}, {"prefill": "ns"}, {"gate": "x"}, {"upper_dilations": [0]}):
        with pytest.raises(ValueError):
            PyramidConfig(**bad)


def test_extra_levels_reuse_the_top_generator_at_twice_the_size():
    generator = tiny_generator()
    image, mask = torch.rand(1, 3, 40, 36), torch.zeros(1, 1, 40, 36)
    mask[:, :, 10:30, 8:20] = 1.0
    with torch.no_grad():
        out = generator(image, mask, extra_levels=1)
        plain = generator(image[..., ::2, ::2], mask[..., ::2, ::2])
    assert [tuple(level.image.shape[-2:]) for level in out.levels] == [(5, 5), (10, 9), (20, 18), (40, 36)]
    known = mask.expand_as(image) == 0
    assert out.image.shape == image.shape and torch.equal(out.image[known], image[known])
    assert len(plain.levels) == 3
    with pytest.raises(ValueError, match="extra_levels"):
        generator(image, mask, extra_levels=-1)


def test_a_telea_prefilled_pyramid_starts_near_telea_at_every_level_and_needs_a_prefill():
    generator = tiny_generator(prefill="telea")
    batch = fixed_batch()
    image, mask = batch.image[:1], batch.mask[:1]
    calls: list[tuple[int, ...]] = []

    def recorded(level_image: torch.Tensor, level_mask: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(level_image.shape))
        return telea(level_image, level_mask)

    with torch.no_grad():
        out = generator(image, mask, recorded)
    assert calls == [(1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32)]  # every level filled at its own size
    hole = mask.expand_as(image) > 0.5
    assert torch.equal(out.image[~hole], image[~hole])
    for level in out.levels:  # every level starts near Telea at its size: the residuals are small
        level_hole = level.mask.expand_as(level.image) > 0.5
        assert (level.image - telea(level.image, level.mask))[level_hole].abs().mean() < 0.03
    # the fusion adds the correction of the level below: a level below that moved away from its prefill moves this one
    with torch.no_grad():
        generator.generators[0].refine.to_rgb.conv.bias.add_(0.5)
        moved = generator(image, mask, telea)
    top_hole = out.levels[-1].mask.expand_as(image) > 0.5
    assert (moved.levels[-1].fused - out.levels[-1].fused)[top_hole].mean() > 0.05
    plain = tiny_generator()
    with torch.no_grad():
        assert (plain(image, mask).image - out.image)[hole].abs().mean() > 0.05  # a plain one does not
    with pytest.raises(ValueError, match="needs a prefill"):
        generator(image, mask)
    with pytest.raises(ValueError, match="prefill returned"):
        generator(image, mask, lambda level_image, level_mask: level_image[..., :1, :])


def test_the_trainer_reports_one_loss_per_level_and_trains_one_discriminator_each():
    trainer = PyramidTrainer(tiny_config(gan="hinge", adversarial_weight=0.5))
    assert trainer.discriminators is not None and len(trainer.discriminators) == 3
    assert trainer.level_weights == (10.0, 1.0, 1.0)
    named = trainer.step(fixed_batch(), 0)
    for n in range(3):
        assert {f"level{n}", f"level{n}_l1", f"level{n}_coarse_l1", f"level{n}_adversarial", f"level{n}_critic"} <= set(
            named
        )
        terms = named[f"level{n}_l1"] + named[f"level{n}_coarse_l1"] + named[f"level{n}_adversarial"]
        assert named[f"level{n}"] == pytest.approx(terms, rel=1e-5)
    assert "level3" not in named
    assert named["total"] == pytest.approx(10 * named["level0"] + named["level1"] + named["level2"], rel=1e-5)
    state = trainer.state_dict()
    assert "discriminators" in state
    other = PyramidTrainer(tiny_config(gan="hinge", adversarial_weight=0.5))
    other.load_state_dict(state)
    for mine, theirs in zip(trainer.discriminators.parameters(), other.discriminators.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    one = PyramidTrainer(tiny_config(model={**TINY, "levels": 1}))
    assert one.discriminators is None and one.level_weights == (1.0,)
    assert set(one.step(fixed_batch(), 0)) == {"lr", "level0", "level0_l1", "level0_coarse_l1", "total"}


@pytest.mark.parametrize("prefill", ["none", "telea"])
def test_a_few_steps_on_a_fixed_batch_reduce_each_level_loss(prefill):
    torch.manual_seed(0)
    trainer = PyramidTrainer(tiny_config(model={**TINY, "prefill": prefill}))
    batch = fixed_batch()
    history = [trainer.step(batch, step) for step in range(8)]
    for n in range(3):
        values = [named[f"level{n}_l1"] for named in history]
        assert all(np.isfinite(values)) and values[-1] < values[0], (n, values)


def test_options_are_checked():
    assert checked(PyramidTrainOptions, {"level_weights": [4, 1, 1]}, "pyramid").level_weights == (4.0, 1.0, 1.0)
    assert default_level_weights(3) == (10.0, 1.0, 1.0) and default_level_weights(1) == (1.0,)
    assert PyramidTrainer(tiny_config(options={"level_weights": [2, 1, 0.5]})).level_weights == (2.0, 1.0, 0.5)
    for bad in ({"warmup": 1}, {"level_weights": "10,1,1"}, {"level_weights": [1, True, 1]}, {"level_weights": [-1]}):
        with pytest.raises(ConfigError, match="pyramid trainer options"):
            PyramidTrainer(tiny_config(options=bad))
    with pytest.raises(ConfigError, match="2 entries for 3 levels"):
        PyramidTrainer(tiny_config(options={"level_weights": [10, 1]}))
    with pytest.raises(ConfigError, match="hinge"):
        PyramidTrainer(tiny_config(adversarial_weight=0.5))
    with pytest.raises(ConfigError, match="pyramid model"):
        PyramidTrainer(tiny_config(model={**TINY, "levels": 0}))
    with pytest.raises(ConfigError, match="pyramid model has no option depth"):
        PyramidTrainer(tiny_config(model={**TINY, "depth": 2}))
    with pytest.raises(ConfigError, match=r"the pyramid trainer does not use \[losses\] band = 2.0"):
        PyramidTrainer(tiny_config(band=2.0))
    assert TRAINERS.get("pyramid") is PyramidTrainer


def test_weights_round_trip_rebuilds_the_same_outputs(tmp_path):
    generator = tiny_generator(levels=2)
    path = tmp_path / "pyramid.safetensors"
    manifest = save_weights(generator, "pyramid", path, {"resolution": 32}, {})
    assert manifest["config"]["levels"] == 2 and manifest["pad_multiple"] == 8
    loaded, _ = load_model(path)
    assert isinstance(loaded, PyramidGenerator) and loaded.config == generator.config
    assert isinstance(MODELS.build("pyramid", **TINY), PyramidGenerator)
    image, mask = torch.rand(1, 3, 13, 22), (torch.rand(1, 1, 13, 22) > 0.6).float()
    with torch.no_grad():
        assert torch.equal(generator(image, mask).image, loaded(image, mask).image)


@pytest.fixture
def tiny_weights(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_weights(tiny_generator(prefill="telea"), "pyramid", path, {"resolution": 16, "steps": 0}, {})
    return path


def test_filler_runs_the_top_level_at_the_crop_and_adds_extra_levels_on_request(tiny_weights):
    from hrinpaint.fillers.pyramid import PyramidFiller, extra_levels_for

    assert extra_levels_for(60, 16, 1) == 1 and extra_levels_for(60, 16, 5) == 1 and extra_levels_for(31, 16, 2) == 0
    assert extra_levels_for(600, None, 3) == 0
    filler = PyramidFiller(PyramidFiller.Config(weights=str(tiny_weights)))
    assert filler.network_size == 16  # the crop is the top level
    assert filler.config.extra_levels == 1  # one level above it by default (measured better than 0)
    rng = np.random.default_rng(0)
    image = rng.random((40, 60, 3), dtype=np.float32)
    mask = np.zeros((40, 60), bool)
    mask[10:28, 16:40] = True
    grids = {}
    assert filler.config.attention is False  # cra lifts along the default's offset field
    assert not isinstance(filler.fill(image, mask).attention, CellAttention)
    for extra in (0, 1):
        config = PyramidFiller.Config(weights=str(tiny_weights), extra_levels=extra, attention=True)
        result = PyramidFiller(config).fill(image, mask)
        assert result.image.shape == image.shape and np.array_equal(result.image[~mask], image[~mask])
        assert isinstance(result.attention, CellAttention)
        np.testing.assert_allclose(result.attention.weights.sum(axis=1), 1.0, rtol=1e-5)
        grids[extra] = result.attention.grid_shape
    assert grids == {0: (2, 2), 1: (3, 4)}  # the top level at 11 x 16, or at 21 x 32 with an extra level
    with pytest.raises(ValueError, match="extra_levels"):
        PyramidFiller.Config(extra_levels=-1)


def test_pyramid_method_through_the_pipeline_changes_only_the_hole(tiny_weights):
    rng = np.random.default_rng(1)
    image = (rng.random((70, 90, 3)) * 255).astype(np.uint8)
    mask = np.zeros((70, 90), bool)
    mask[20:45, 30:60] = True
    inpainter = Inpainter.from_method("pyramid", filler={"weights": str(tiny_weights)}, working_size=32)
    assert inpainter.name == f"pyramid+{resolve_method(None).lifter}"  # a network filler gets the default's lifter
    out = inpainter(image, mask)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])


def test_filler_without_weights_is_a_clear_error_and_the_shipped_ones_load(tmp_path):
    from hrinpaint.fillers.pyramid import PyramidFiller

    with pytest.raises(InputError, match="do not exist"):
        PyramidFiller(PyramidFiller.Config(weights=str(tmp_path / "none.safetensors")))
    filler = PyramidFiller()  # the shipped generator
    assert filler.manifest["training"]["steps"] > 0 and filler.model.config.prefill == "telea"
    assert filler.model.config.levels == 3 and filler.network_size == filler.manifest["training"]["resolution"]


def test_shipped_configs_build_and_the_ablation_differs_only_in_levels_and_steps():
    from pathlib import Path

    from hrinpaint.train.config import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    full = load_config(configs / "pyramid-cpu.toml")
    assert full.family == "pyramid" and full.data.crop == 256 and full.critic.gan == "hinge"
    assert full.model["prefill"] == "telea" and full.data.val_size == 256
    three, one = full, load_config(configs / "pyramid-ablation-1.toml")  # the shipped run is the three-level arm
    assert (three.model.get("levels", 3), one.model["levels"]) == (3, 1)
    assert one.steps > three.steps  # the same wall time: one level steps faster
    same = one.replace(model={**one.model, "levels": 3}, steps=three.steps, options={})
    assert same == three.replace(options={})
    for config in (three, one):
        trainer = PyramidTrainer(config.replace(data={"val_folder": None}))
        assert len(trainer.generator.generators) == config.model.get("levels", 3)
