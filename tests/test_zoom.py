"""Zoom-to-Inpaint: the generator's parts and sizes, the squared gradient loss, the phased trainer with its
progressive masks, weights round trips and the ``zoom`` filler through the pipeline, on tiny networks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.errors import ConfigError, InputError  # noqa: E402
from hrinpaint.fillers.attention import CellAttention  # noqa: E402
from hrinpaint.masks import MASKS  # noqa: E402
from hrinpaint.methods import resolve_method  # noqa: E402
from hrinpaint.nn import MODELS  # noqa: E402
from hrinpaint.nn.weights import load_model, save_weights  # noqa: E402
from hrinpaint.nn.zoom import ZOOM_MODES, SRNet, ZoomConfig, ZoomGenerator, zoom_mask, zoom_out  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402
from hrinpaint.train import TRAINERS, losses  # noqa: E402
from hrinpaint.train.config import TrainConfig  # noqa: E402
from hrinpaint.train.data import Batch  # noqa: E402
from hrinpaint.train.zoom import ZoomTrainer, ZoomTrainOptions, downsample_pair, phases  # noqa: E402

TINY = {"width": 4, "coarse_dilations": [1], "refine_dilations": [2], "sr_width": 4, "sr_blocks": 1}


def tiny_generator(zoom: str = "sr") -> ZoomGenerator:
    torch.manual_seed(0)
    return ZoomGenerator(ZoomConfig(**TINY, zoom=zoom)).eval()


def tiny_config(**changes) -> TrainConfig:
    values = dict(
        family="zoom",
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


def test_sr_output_is_exactly_twice_the_input_for_odd_sizes():
    sr = SRNet(ZoomConfig(**TINY))
    for height, width in [(19, 27), (1, 1), (16, 7)]:
        assert sr(torch.rand(2, 3, height, width)).shape == (2, 3, 2 * height, 2 * width)


def test_untrained_sr_starts_near_a_bicubic_zoom():
    image = torch.rand(1, 3, 9, 11)
    bicubic = torch.nn.functional.interpolate(image, size=(18, 22), mode="bicubic", align_corners=False)
    assert (SRNet(ZoomConfig(**TINY))(image) - bicubic).abs().mean() < 0.05


@pytest.mark.parametrize("zoom", ZOOM_MODES)
def test_generator_output_size_equals_input_size_and_pastes_only_the_hole(zoom):
    generator = tiny_generator(zoom)
    scale = 1 if zoom == "none" else 2
    image, mask = torch.rand(2, 3, 19, 27), (torch.rand(2, 1, 19, 27) > 0.6).float()
    with torch.no_grad():
        out = generator(image, mask)
    assert out.image.shape == image.shape and out.coarse.shape == image.shape
    assert out.zoomed.shape == out.refined.shape == (2, 3, 19 * scale, 27 * scale)
    known = mask.expand_as(image) == 0
    assert torch.equal(out.image[known], image[known])  # bit-exact
    assert 0.0 <= out.image.min() and out.image.max() <= 1.0
    torch.testing.assert_close(out.scores.sum(-1), torch.ones(out.scores.shape[:2]))
    other = image.clone()
    other[~known] = 1.0 - other[~known]
    with torch.no_grad():
        assert torch.equal(generator(other, mask).image, out.image)  # what the hole held never shows


def test_zoom_out_is_the_exact_inverse_of_a_block_zoom():
    image = torch.rand(1, 3, 7, 5)
    assert torch.equal(zoom_out(zoom_mask(image, 2), (7, 5)), image)
    assert zoom_out(zoom_mask(image, 2), (7, 5), "bicubic").shape == image.shape


def test_squared_gradient_loss_matches_a_float64_reference():
    rng = np.random.default_rng(0)
    prediction, target = rng.random((2, 3, 7, 9)), rng.random((2, 3, 7, 9))
    mask = (rng.random((2, 1, 7, 9)) > 0.6).astype(np.float64)
    hole_weight, known_weight = 1.0, 0.3

    error = prediction - target
    reference = 0.0
    for axis in (2, 3):  # the 1-tap filters [-1, 1] down and across
        size = error.shape[axis] - 1
        first = [slice(None)] * 4
        second = [slice(None)] * 4
        first[axis], second[axis] = slice(1, None), slice(0, size)
        squared = ((error[tuple(first)] - error[tuple(second)]) ** 2).mean(axis=1)
        pair = np.maximum(mask[tuple(first)], mask[tuple(second)])[:, 0]
        reference += hole_weight * (squared * pair).sum() / pair.sum()
        reference += known_weight * (squared * (1 - pair)).sum() / (1 - pair).sum()
    reference *= 0.5

    tensors = [torch.from_numpy(array) for array in (prediction, target, mask)]
    got = losses.gradient_loss(*tensors, hole_weight, known_weight, squared=True)
    assert got.dtype == torch.float64 and abs(got.item() - reference) < 1e-12
    everywhere = losses.gradient_loss(*tensors[:2], torch.ones_like(tensors[2]), squared=True)
    plain = 0.5 * (np.diff(error, axis=2) ** 2).mean() + 0.5 * (np.diff(error, axis=3) ** 2).mean()
    assert abs(everywhere.item() - plain) < 1e-12
    # the L1 form is unchanged
    assert losses.gradient_loss(*tensors).item() > 0


def test_options_are_checked():
    assert ZoomTrainer(tiny_config(options={"switch_step": 3, "small_mask_scale": 1})).options.small_mask_scale == 1.0
    for bad in ({"warmup": 1}, {"coarse_steps": -1}, {"switch_step": "3"}, {"vgg": 1}, {"coarse_steps": True}):
        with pytest.raises(ConfigError, match="zoom trainer options"):
            ZoomTrainer(tiny_config(options=bad))
    with pytest.raises(ConfigError, match="no SR"):
        ZoomTrainer(tiny_config(model={**TINY, "zoom": "bicubic"}, options={"sr_steps": 2}))
    with pytest.raises(ConfigError, match="hinge"):
        ZoomTrainer(tiny_config(adversarial_weight=0.5))
    with pytest.raises(ConfigError, match="odd"):
        ZoomTrainer(tiny_config(crop=33))
    with pytest.raises(ConfigError, match="zoom model"):
        ZoomTrainer(tiny_config(model={**TINY, "zoom": "x4"}))
    # settings the trainer would ignore are refused, not dropped
    for unused, words in [
        ({"tv_weight": 0.1}, r"\[losses\] tv_weight = 0.1"),
        ({"band": 1.0}, r"\[losses\] band = 1.0"),
        ({"gp_weight": 5.0}, r"\[critic\] gp_weight = 5.0"),
    ]:
        with pytest.raises(ConfigError, match=f"the zoom trainer does not use {words}"):
            ZoomTrainer(tiny_config(**unused))
    assert TRAINERS.get("zoom") is ZoomTrainer


def test_phases_follow_the_options_and_the_joint_phase_takes_the_rest():
    options = ZoomTrainOptions(coarse_steps=3, sr_steps=2, refine_steps=4)
    assert [(p.name, p.start, p.length) for p in phases(options, 12)] == [
        ("coarse", 0, 3),
        ("sr", 3, 2),
        ("refine", 5, 4),
        ("joint", 9, 3),
    ]
    assert [p.name for p in phases(options, 4)] == ["coarse", "sr"]  # pretraining cut off by the run's length
    assert [p.name for p in phases(ZoomTrainOptions(), 5)] == ["joint"]
    assert [p.fills for p in phases(options, 12)] == [True, False, True, True]  # sr alone takes no prefill


def test_progressive_schedule_switches_masks_at_the_configured_step():
    trainer = ZoomTrainer(tiny_config(crop=64, options={"switch_step": 5, "small_mask_scale": 0.4}))
    batch = Batch(torch.zeros(3, 3, 64, 64), torch.zeros(3, 1, 64, 64))
    small, large = MASKS.build("box").scaled(0.4), MASKS.build("box")

    def expected(step, generator):
        rng = np.random.default_rng([0, step, 7])
        holes = []
        for _ in range(3):
            rng.integers(1)  # the schedule's choice of kind
            holes.append(generator((64, 64), rng))
        return np.stack(holes)[:, None]

    for step in (0, 4):
        assert np.array_equal(trainer.masks(batch, step).numpy() > 0.5, expected(step, small))
    for step in (5, 9):
        assert np.array_equal(trainer.masks(batch, step).numpy() > 0.5, expected(step, large))
    assert trainer.masks(batch, 4).mean() < trainer.masks(batch, 5).mean()
    # without switch_step the loop's holes are used as they come
    assert trainer.masks(batch, 4) is not batch.mask
    assert ZoomTrainer(tiny_config()).masks(batch, 4) is batch.mask


def test_downsampled_mask_keeps_every_pixel_that_touches_the_hole():
    image, mask = torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)
    mask[0, 0, 3, 4] = 1.0
    small_image, small_mask = downsample_pair(image, mask)
    assert small_image.shape == (1, 3, 4, 4) and small_mask.sum() == 1 and small_mask[0, 0, 1, 2] == 1
    assert (zoom_mask(small_mask, 2) >= mask).all()


@pytest.mark.parametrize(
    ("zoom", "phase_options", "loss"),
    [
        ("sr", {"coarse_steps": 8}, "coarse_l1"),
        ("sr", {"sr_steps": 8}, "sr_l1"),
        ("sr", {"refine_steps": 8}, "refine_l1"),
        ("sr", {}, "total"),
        ("bicubic", {}, "total"),
        ("none", {"refine_steps": 8}, "refine_l1"),
    ],
)
def test_a_few_steps_on_a_fixed_batch_reduce_each_phase_loss(zoom, phase_options, loss):
    torch.manual_seed(0)
    trainer = ZoomTrainer(tiny_config(model={**TINY, "zoom": zoom}, options=phase_options, gradient_weight=1.0))
    batch = fixed_batch()
    values = [trainer.step(batch, step)[loss] for step in range(8)]
    assert all(np.isfinite(values)) and values[-1] < values[0]


def test_a_telea_prefilled_generator_starts_near_its_prefill_and_needs_one():
    from hrinpaint.fillers.opencv import telea_prefill

    torch.manual_seed(0)
    generator = ZoomGenerator(ZoomConfig(**TINY, prefill="telea")).eval()
    batch = fixed_batch()
    image, mask = batch.image[:1], batch.mask[:1]
    prefill = telea_prefill(image[0].permute(1, 2, 0).numpy().copy(), mask[0, 0].numpy() > 0.5)
    prefill = torch.from_numpy(prefill.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        out = generator(image, mask, prefill)
    hole = mask.expand_as(image) > 0.5
    assert torch.equal(out.image[~hole], image[~hole])
    assert (out.image - prefill)[hole].abs().mean() < 0.02  # residual layers start small
    plain = ZoomGenerator(ZoomConfig(**TINY)).eval()
    with torch.no_grad():
        assert (plain(image, mask).image - prefill)[hole].abs().mean() > 0.05  # a plain one does not
    with pytest.raises(ValueError, match="needs a prefill"):
        generator(image, mask)


@pytest.mark.parametrize("phase_options", [{"coarse_steps": 6}, {"refine_steps": 6}, {}])
def test_prefilled_training_steps_reduce_the_loss(phase_options):
    torch.manual_seed(0)
    trainer = ZoomTrainer(tiny_config(model={**TINY, "prefill": "telea"}, options=phase_options, steps=6))
    values = [trainer.step(fixed_batch(), step)["total"] for step in range(6)]
    assert all(np.isfinite(values)) and values[-1] < values[0]


def test_vgg_loss_is_used_only_with_local_weights(monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("hrinpaint.train.vgg")
    fake.load_vgg16 = lambda path: calls.append(path) or torch.nn.Identity()
    fake.perceptual_loss = lambda vgg, prediction, target: (prediction - target).abs().mean()
    monkeypatch.setitem(sys.modules, "hrinpaint.train.vgg", fake)
    assert "coarse_vgg" not in ZoomTrainer(tiny_config()).step(fixed_batch(), 0)  # off by default
    trainer = ZoomTrainer(tiny_config(options={"vgg": "vgg16.safetensors", "vgg_weight": 0.5}))
    named = trainer.step(fixed_batch(), 0)
    assert calls == ["vgg16.safetensors"] and named["coarse_vgg"] > 0


def test_coarse_vgg_loss_with_local_vgg16_weights(tmp_path):
    vgg_module = pytest.importorskip("hrinpaint.train.vgg")
    torch.manual_seed(1)
    features = vgg_module.VGG16Features(("pool3",)).features.state_dict()
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{key}": value for key, value in features.items()}, path)
    trainer = ZoomTrainer(tiny_config(options={"vgg": str(path), "coarse_steps": 2}))
    named = trainer.step(fixed_batch(), 0)
    assert named["coarse_vgg"] > 0 and named["total"] == pytest.approx(named["coarse_l1"] + named["coarse_vgg"])
    with pytest.raises(InputError, match="do not exist"):
        ZoomTrainer(tiny_config(options={"vgg": str(tmp_path / "none.pth")}))


def test_joint_step_with_the_hinge_critic_reports_every_loss():
    trainer = ZoomTrainer(tiny_config(gan="hinge", adversarial_weight=0.5, gradient_weight=1.0))
    named = trainer.step(fixed_batch(), 0)
    assert {"coarse_l1", "sr_l1", "refine_l1", "gradient", "adversarial", "critic", "total", "lr"} <= set(named)
    state = trainer.state_dict()
    assert "discriminator" in state
    ZoomTrainer(tiny_config(gan="hinge", adversarial_weight=0.5)).load_state_dict(state)


@pytest.mark.parametrize("zoom", ZOOM_MODES)
def test_weights_round_trip_rebuilds_the_same_outputs(tmp_path, zoom):
    generator = tiny_generator(zoom)
    path = tmp_path / "zoom.safetensors"
    manifest = save_weights(generator, "zoom", path, {"resolution": 32}, {})
    assert manifest["config"]["zoom"] == zoom and manifest["pad_multiple"] == 8
    loaded, _ = load_model(path)
    assert isinstance(loaded, ZoomGenerator) and isinstance(MODELS.build("zoom", **TINY), ZoomGenerator)
    image, mask = torch.rand(1, 3, 13, 22), (torch.rand(1, 1, 13, 22) > 0.6).float()
    with torch.no_grad():
        assert torch.equal(generator(image, mask).image, loaded(image, mask).image)


@pytest.fixture
def tiny_weights(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_weights(tiny_generator(), "zoom", path, {"resolution": 32, "steps": 0}, {})
    return path


def test_filler_runs_at_the_crop_and_returns_attention(tiny_weights):
    from hrinpaint.fillers.zoom import ZoomFiller

    filler = ZoomFiller(ZoomFiller.Config(weights=str(tiny_weights)))
    assert filler.network_size == 32  # the training crop (the network's labels; its inputs were half that)
    rng = np.random.default_rng(0)
    image = rng.random((21, 30, 3), dtype=np.float32)
    mask = np.zeros((21, 30), bool)
    mask[5:14, 8:20] = True
    result = ZoomFiller(ZoomFiller.Config(weights=str(tiny_weights), size=0, attention=True)).fill(image, mask)
    assert result.image.shape == image.shape and np.array_equal(result.image[~mask], image[~mask])
    attention = result.attention
    assert isinstance(attention, CellAttention) and attention.grid_shape == (6, 8)  # 48 x 64 padded, 8 px cells
    np.testing.assert_allclose(attention.weights.sum(axis=1), 1.0, rtol=1e-5)


def test_zoom_method_through_the_pipeline_changes_only_the_hole(tiny_weights):
    rng = np.random.default_rng(1)
    image = (rng.random((70, 90, 3)) * 255).astype(np.uint8)
    mask = np.zeros((70, 90), bool)
    mask[20:45, 30:60] = True
    inpainter = Inpainter.from_method("zoom", filler={"weights": str(tiny_weights)}, working_size=32)
    assert inpainter.name == f"zoom+{resolve_method(None).lifter}"  # a network filler gets the default's lifter
    out = inpainter(image, mask)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])


def test_missing_weights_are_a_clear_error_and_the_shipped_ones_load(tmp_path):
    from hrinpaint.fillers.network import weights_path
    from hrinpaint.fillers.zoom import ZoomFiller

    with pytest.raises(InputError, match="do not exist"):
        ZoomFiller(ZoomFiller.Config(weights=str(tmp_path / "none.safetensors")))
    with pytest.raises(InputError, match="no pyramid weights ship"):  # the same lookup, for a network not shipped
        weights_path(None, "pyramid-not-shipped.safetensors", "pyramid", "train it")
    filler = ZoomFiller()  # the shipped generator
    assert filler.manifest["training"]["steps"] > 0 and filler.model.config.prefill == "telea"
    assert filler.network_size == filler.manifest["training"]["resolution"]


def test_shipped_configs_build_and_the_ablations_differ_only_in_what_they_ablate():
    from pathlib import Path

    from hrinpaint.train.config import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    full = load_config(configs / "zoom-cpu.toml")
    assert full.data.crop == 256 and full.options["vgg"] == "" and full.critic.gan == "hinge"
    ablations = {name: load_config(configs / f"zoom-ablation-{name}.toml") for name in ("none", "bicubic", "sr")}
    ablations["sr-gradient"] = load_config(configs / "zoom-ablation-sr-gradient.toml")
    expected = {"none": ("none", 0.0), "bicubic": ("bicubic", 0.0), "sr": ("sr", 0.0), "sr-gradient": ("sr", 1.0)}
    for name, config in ablations.items():
        assert (config.model["zoom"], config.losses.gradient_weight) == expected[name]
        same = config.replace(model={**config.model, "zoom": "sr"}, losses={"gradient_weight": 0.0}, options={})
        assert same == ablations["sr"].replace(options={})
        trainer = ZoomTrainer(config.replace(data={"val_folder": None}))
        assert sum(phase.length for phase in trainer.phases) == config.steps == 400
