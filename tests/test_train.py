"""Training: losses, config, data, the HiFill trainer and the loop (checkpoints and exact resume)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hrinpaint.errors import ConfigError, InputError
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator
from hrinpaint.train import TRAINERS, losses
from hrinpaint.train.base import cosine_lr
from hrinpaint.train.config import TrainConfig, load_config, read_saved
from hrinpaint.train.data import Batch, PhotoCrops, validation_set
from hrinpaint.train.hifill import HiFillTrainer
from hrinpaint.train.loop import CHECKPOINT, CONFIG, LOG, build_trainer, mask_schedule, train

TINY_MODEL = {"width": 4, "coarse_dilations": [1, 2], "refine_dilations": [2]}
REPO = Path(__file__).resolve().parents[1]


def tiny_config(**changes) -> TrainConfig:
    values = dict(
        model=TINY_MODEL,
        data="unused",
        val_data=None,
        crop=32,
        batch_size=2,
        steps=4,
        lr=1e-3,
        lr_final=1e-3,
        mask_kinds=("box", "medium"),
        mask_ramp_steps=2,
        discriminator_width=4,
        log_every=1,
        checkpoint_every=1,
    )
    values.update(changes)
    return TrainConfig.from_flat(values)


def fixed_batch() -> Batch:
    """Two smooth 32 x 32 images (easy to fill) with box holes."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    first = torch.stack([ys, xs, 0.5 * (ys + xs)])
    second = torch.stack([1 - xs, 0.3 + 0.4 * ys, xs * ys])
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, :, 8:18, 10:22] = 1.0
    mask[1, :, 16:28, 4:14] = 1.0
    return Batch(torch.stack([first, second]), mask)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Four small RGB photos (gradients with noise), 40 x 48 and 48 x 40."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index, (height, width) in enumerate([(40, 48), (48, 40), (40, 48), (44, 44)]):
        ys, xs = np.mgrid[0:height, 0:width]
        base = np.stack([ys / height, xs / width, (ys + xs) / (height + width)], axis=2) * 200
        pixels = np.clip(base + rng.normal(0, 20, base.shape) + 10 * index, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{index}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def crops(photo_folder) -> PhotoCrops:
    return PhotoCrops(photo_folder, 32, mask_schedule(tiny_config()), seed=0)


# --- losses -------------------------------------------------------------------------------------------------------


def test_masked_l1_matches_float64_hand_computation():
    rng = np.random.default_rng(0)
    prediction, target = rng.random((2, 3, 7, 9)), rng.random((2, 3, 7, 9))
    mask = (rng.random((2, 1, 7, 9)) < 0.3).astype(np.float64)
    hole_sum = known_sum = hole_count = known_count = 0.0
    for b, y, x in np.ndindex(2, 7, 9):
        error = np.mean(np.abs(prediction[b, :, y, x] - target[b, :, y, x]))
        if mask[b, 0, y, x]:
            hole_sum, hole_count = hole_sum + error, hole_count + 1
        else:
            known_sum, known_count = known_sum + error, known_count + 1
    expected = 0.7 * hole_sum / hole_count + 1.9 * known_sum / known_count
    value = losses.masked_l1(torch.from_numpy(prediction), torch.from_numpy(target), torch.from_numpy(mask), 0.7, 1.9)
    assert value.dtype == torch.float64
    assert float(value) == pytest.approx(expected, rel=1e-12)
    # The weights act on their own region only.
    hole_only = losses.masked_l1(torch.from_numpy(prediction), torch.from_numpy(target), torch.from_numpy(mask), 1, 0)
    assert float(hole_only) == pytest.approx(hole_sum / hole_count, rel=1e-12)


def test_masked_l1_with_empty_hole_is_the_known_term():
    prediction, target = torch.rand(1, 3, 5, 7, dtype=torch.float64), torch.rand(1, 3, 5, 7, dtype=torch.float64)
    value = losses.masked_l1(prediction, target, torch.zeros(1, 1, 5, 7, dtype=torch.float64), 1.0, 1.2)
    assert float(value) == pytest.approx(1.2 * float((prediction - target).abs().mean()), rel=1e-12)


def test_gradient_loss_zero_for_identical_and_offset_images():
    image = torch.rand(2, 3, 11, 13, dtype=torch.float64)
    mask = torch.zeros(2, 1, 11, 13, dtype=torch.float64)
    mask[..., 3:7, 4:9] = 1.0
    assert float(losses.gradient_loss(image, image, mask)) == 0.0
    assert float(losses.gradient_loss(image + 0.25, image, mask, 1.0, 1.0)) == pytest.approx(0.0, abs=1e-15)
    changed = image.clone()
    changed[..., 5, 6] += 0.5  # inside the hole
    assert float(losses.gradient_loss(changed, image, mask)) > 0
    outside = image.clone()
    outside[..., 0, 0] += 0.5  # far from the hole: counts only with a known weight
    assert float(losses.gradient_loss(outside, image, mask)) == 0.0
    assert float(losses.gradient_loss(outside, image, mask, 1.0, 1.0)) > 0


def test_total_variation_constant_zero_and_float64_reference():
    constant = torch.full((2, 3, 9, 11), 0.4, dtype=torch.float64)
    mask = torch.zeros(2, 1, 9, 11, dtype=torch.float64)
    mask[..., 2:5, 3:7] = 1.0
    assert float(losses.total_variation(constant)) == 0.0
    assert float(losses.total_variation(constant, mask)) == 0.0
    image = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    pixels = image.numpy()
    expected = np.mean(np.abs(np.diff(pixels, axis=2))) + np.mean(np.abs(np.diff(pixels, axis=3)))
    assert float(losses.total_variation(image)) == pytest.approx(expected, rel=1e-12)
    # Masked TV only sees the hole and a one-pixel ring around it.
    far = image.clone()
    far[..., 8, 0] += 1.0
    assert float(losses.total_variation(far, mask)) == pytest.approx(float(losses.total_variation(image, mask)))


def _linear_critic(weight: torch.Tensor):
    return lambda x: (x * weight).flatten(1).sum(dim=1)


def test_gradient_penalty_zero_for_unit_gradient_norm():
    real, fake = torch.rand(3, 3, 7, 9, dtype=torch.float64), torch.rand(3, 3, 7, 9, dtype=torch.float64)
    weight = torch.randn(1, 3, 7, 9, dtype=torch.float64)
    unit = weight / weight.norm()
    assert float(losses.gradient_penalty(_linear_critic(unit), real, fake)) == pytest.approx(0.0, abs=1e-20)
    # Norm 2 everywhere: (2 - 1)^2 = 1.
    assert float(losses.gradient_penalty(_linear_critic(2 * unit), real, fake)) == pytest.approx(1.0, rel=1e-12)
    # With a mask, only the hole's gradient counts.
    mask = torch.zeros(1, 1, 7, 9, dtype=torch.float64)
    mask[..., 2:5, 3:6] = 1.0
    hole_unit = weight * mask / (weight * mask).norm() + 5.0 * (1 - mask)
    assert float(losses.gradient_penalty(_linear_critic(hole_unit), real, fake, mask)) == pytest.approx(0, abs=1e-20)
    assert float(losses.gradient_penalty(_linear_critic(hole_unit), real, fake)) > 1.0


def test_gradient_penalty_is_differentiable_in_the_critic():
    real, fake = torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    weight = (0.1 * torch.randn(1, 3, 5, 5)).requires_grad_(True)
    penalty = losses.gradient_penalty(_linear_critic(weight), real, fake, generator=torch.Generator().manual_seed(0))
    assert penalty.item() > 0
    penalty.backward()
    assert weight.grad is not None and float(weight.grad.abs().sum()) > 0
    again = losses.gradient_penalty(_linear_critic(weight), real, fake, generator=torch.Generator().manual_seed(0))
    assert again.item() == penalty.item()


def test_gan_loss_signs():
    high, low = torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), -2.0)
    # WGAN: the critic is rewarded for scoring real above fake; the generator for raising the fake score.
    assert float(losses.wgan_critic_loss(high, low)) == -4.0
    assert float(losses.wgan_critic_loss(low, high)) == 4.0
    assert float(losses.wgan_generator_loss(high)) == -2.0
    assert float(losses.wgan_generator_loss(high)) < float(losses.wgan_generator_loss(low))
    # Hinge: zero once real >= 1 and fake <= -1; 2 when both score 0.
    assert float(losses.hinge_critic_loss(high, low)) == 0.0
    zeros = torch.zeros(2, 1, 3, 3)
    assert float(losses.hinge_critic_loss(zeros, zeros)) == 2.0
    assert float(losses.hinge_critic_loss(low, high)) == 6.0
    assert float(losses.hinge_generator_loss(high)) < float(losses.hinge_generator_loss(low))


# --- config -------------------------------------------------------------------------------------------------------


def test_load_config_reads_sectioned_toml_and_the_json_a_run_saves(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'family = "hifill"\nbetas = [0.5, 0.9]\nlr = 1\n'
        "[model]\nwidth = 4\ncoarse_dilations = [1, 2]\n"
        '[data]\ncrop = 48\nmask_kinds = ["box", "thick"]\nval_folder = "kodak"\n'
        '[critic]\nweight = 0.5\ngan = "hinge"\n'
    )
    config = load_config(toml)
    assert config.data.crop == 48 and config.model == {"width": 4, "coarse_dilations": [1, 2]}
    assert config.data.mask_kinds == ("box", "thick") and config.betas == (0.5, 0.9)
    assert config.lr == 1.0 and isinstance(config.lr, float)  # an int where a float is declared
    assert (config.critic.weight, config.critic.gan, config.critic.steps) == (0.5, "hinge", 1)
    assert config.steps == TrainConfig().steps and config.losses == TrainConfig().losses
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(config.to_dict()))
    assert load_config(saved) == config == read_saved(saved)
    assert isinstance(json.loads(saved.read_text())["data"], dict)  # a run saves the sectioned form


def test_the_flat_form_older_runs_saved_is_still_read(tmp_path):
    flat = json.loads((REPO / "checkpoints" / "hifill-pm" / "config.json").read_text())
    assert isinstance(flat["data"], str) and "crop" in flat  # the committed run predates the sections
    config = read_saved(REPO / "checkpoints" / "hifill-pm" / "config.json")
    assert config == load_config(REPO / "configs" / "hifill-patchmatch-cpu.toml")  # the config it was trained from
    assert (config.data.folder, config.data.pool, config.losses.band) == (flat["data"], flat["pool"], flat["band"])
    assert config.critic.width == flat["discriminator_width"] and config.critic.weight == flat["adversarial_weight"]
    # the committed run's generator and optimizer load into today's trainer (export does what a resume does first)
    import shutil

    from hrinpaint.train.export import export_run

    shutil.copytree(REPO / "checkpoints" / "hifill-pm", tmp_path / "hifill-pm")
    manifest = export_run(tmp_path / "hifill-pm", tmp_path / "hifill-pm.safetensors")
    assert manifest["training"]["steps"] == 275 and manifest["config"]["prefill"] == "patchmatch"


def test_load_config_rejects_unknown_keys_anywhere_and_bad_values(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("steps = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match="training config has no option learning_rate; options: .*batch_size"):
        load_config(path)
    for section in ("data", "losses", "critic"):
        path.write_text(f"[{section}]\nwidht = 3\n")
        with pytest.raises(ConfigError, match=rf"training config \[{section}\] has no option widht"):
            load_config(path)
    path.write_text("crop = 32\n")  # the flat form is read from a saved run, not from a config file
    with pytest.raises(ConfigError, match=r"crop \(as \[data\] crop\)"):
        load_config(path)
    for text, words in [
        ("steps = 2.5\n", "steps must be a whole number, got 2.5"),
        ("betas = [0.9]\n", "betas must be a list of 2 numbers"),
        ('[data]\nmask_kinds = "box"\n', r"\[data\]: mask_kinds must be a list of strings"),
        ("[critic]\nweight = true\n", "weight must be a number, got True"),
        ("data = 3\n", "data must be a table"),
        ('[critic]\ngan = "lsgan"\n', "gan must be 'wgan-gp' or 'hinge'"),
        ("[data]\ncrop = 8\n", "crop must be >= 16"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=words):
            load_config(path)
    path.write_text("crop = \n")
    with pytest.raises(InputError, match="TOML"):
        load_config(path)
    with pytest.raises(InputError):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a training config: it holds a list"):
        load_config(tmp_path / "list.json")


def test_base_includes_merge_section_by_section_relative_to_the_including_file(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "root.toml").write_text(
        'family = "zoom"\nsteps = 10\n[model]\nwidth = 8\nzoom = "sr"\n[data]\ncrop = 64\nval_size = 32\n'
    )
    (tmp_path / "common" / "middle.toml").write_text('base = "root.toml"\nsteps = 20\n[data]\ncrop = 96\n')
    (tmp_path / "arm.toml").write_text('base = "common/middle.toml"\n[model]\nzoom = "none"\n')
    config = load_config(tmp_path / "arm.toml")
    assert (config.family, config.steps) == ("zoom", 20)  # top level: the nearer file wins
    assert config.model == {"width": 8, "zoom": "none"}  # a table: key by key
    assert (config.data.crop, config.data.val_size) == (96, 32)
    (tmp_path / "common" / "root.toml").write_text('base = "../arm.toml"\n')
    with pytest.raises(ConfigError, match="includes itself: arm.toml -> middle.toml -> root.toml -> arm.toml"):
        load_config(tmp_path / "arm.toml")
    (tmp_path / "arm.toml").write_text('base = "nowhere.toml"\n')
    with pytest.raises(InputError, match="nowhere.toml"):
        load_config(tmp_path / "arm.toml")
    (tmp_path / "arm.toml").write_text("base = 3\n")
    with pytest.raises(ConfigError, match="base must be a file name"):
        load_config(tmp_path / "arm.toml")


def test_every_shipped_config_loads_and_builds_its_trainer():
    configs = sorted((REPO / "configs").glob("*.toml"))
    assert len(configs) >= 10
    for path in configs:
        config = load_config(path)
        assert config.family in TRAINERS.names()
        TRAINERS.get(config.family)(config.replace(device="cpu"))  # options, model and sections all accepted
    assert load_config(REPO / "configs" / "hifill-cpu.toml").critic.weight == 0.0


def test_checked_builds_any_option_dataclass_with_types_checked():
    from dataclasses import dataclass, field
    from typing import Literal

    from hrinpaint.train.typed import checked

    @dataclass(frozen=True)
    class Inner:
        size: int = 1

    @dataclass(frozen=True)
    class Options:
        scale: float = 1.0
        kind: Literal["a", "b"] = "a"
        factor: float | tuple[float, ...] = 2.0
        path: str | None = None
        inner: Inner = field(default_factory=Inner)

        def __post_init__(self) -> None:
            if self.scale < 0:
                raise ValueError("scale must be >= 0")

    made = checked(Options, {"scale": 3, "kind": "b", "factor": [2, 4], "inner": {"size": 5}}, "test options")
    assert made == Options(3.0, "b", (2.0, 4.0), None, Inner(5)) and isinstance(made.scale, float)
    assert checked(Options, {"factor": 3, "path": None}, "test options").factor == 3.0
    for values, words in [
        ({"kind": "c"}, "test options: kind must be one of 'a', 'b', got 'c'"),
        ({"scale": True}, "scale must be a number, got True"),
        ({"factor": "2"}, "factor must be a number or a list of numbers"),
        ({"path": 3}, "path must be a string or none"),
        ({"inner": {"size": 1.5}}, r"test options \[inner\]: size must be a whole number"),
        ({"inner": {"sise": 1}}, r"test options \[inner\] has no option sise; options: size"),
        ({"scale": -1}, "test options: scale must be >= 0"),
        ({"sclae": 1}, "test options has no option sclae; options: factor, inner, kind, path, scale"),
    ]:
        with pytest.raises(ConfigError, match=words):
            checked(Options, values, "test options")
    with pytest.raises(ConfigError, match="must be a table"):
        checked(Options, [1], "test options")


def test_replace_changes_fields_of_a_section():
    config = tiny_config()
    changed = config.replace(steps=9, data={"pool": 2, "val_folder": None}, losses={"band": 1.5})
    assert (changed.steps, changed.data.pool, changed.data.val_folder, changed.losses.band) == (9, 2, None, 1.5)
    assert changed.data.crop == config.data.crop and config.data.pool == 0


# --- data ---------------------------------------------------------------------------------------------------------


def test_photo_crops_batch_is_a_function_of_seed_and_step(photo_folder, crops):
    assert len(crops) == 4
    batch = crops.batch(5, 3)
    assert batch.image.shape == (3, 3, 32, 32) and batch.image.dtype == torch.float32
    assert batch.mask.shape == (3, 1, 32, 32) and batch.mask.dtype == torch.float32
    assert 0.0 <= float(batch.image.min()) and float(batch.image.max()) <= 1.0
    assert set(batch.mask.unique().tolist()) <= {0.0, 1.0} and float(batch.mask.sum()) > 0
    again = PhotoCrops(photo_folder, 32, mask_schedule(tiny_config()), seed=0).batch(5, 3)
    assert torch.equal(batch.image, again.image) and torch.equal(batch.mask, again.mask)
    other_step = crops.batch(6, 3)
    assert not torch.equal(batch.image, other_step.image)
    other_seed = PhotoCrops(photo_folder, 32, mask_schedule(tiny_config()), seed=1).batch(5, 3)
    assert not torch.equal(batch.image, other_seed.image)


def test_photo_crops_reject_small_photos_and_empty_folders(tmp_path):
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match="smaller than the crop"):
        PhotoCrops(tmp_path, 32, mask_schedule(tiny_config()))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        PhotoCrops(empty, 32, mask_schedule(tiny_config()))


# --- trainer ------------------------------------------------------------------------------------------------------


def test_cosine_lr_schedule():
    assert cosine_lr(0, 100, 1e-3, 1e-5) == pytest.approx(1e-3)
    assert cosine_lr(50, 100, 1e-3, 1e-5) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert cosine_lr(100, 100, 1e-3, 1e-5) == pytest.approx(1e-5)
    assert cosine_lr(250, 100, 1e-3, 1e-5) == pytest.approx(1e-5)


def test_trainer_is_registered_and_seeded():
    assert TRAINERS.get("hifill") is HiFillTrainer
    first, second = build_trainer(tiny_config()), build_trainer(tiny_config())
    for a, b in zip(first.generator.parameters(), second.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_hifill_trainer_rejects_options_it_does_not_have():
    with pytest.raises(ConfigError, match="hifill trainer options: there are none; got zoom"):
        HiFillTrainer(tiny_config(options={"zoom": "sr"}))
    with pytest.raises(ConfigError, match="hifill model has no option depth; options: .*width"):
        HiFillTrainer(tiny_config(model={"depth": 3}))


def test_steps_on_a_fixed_batch_reduce_the_loss():
    torch.manual_seed(0)
    trainer = HiFillTrainer(tiny_config(steps=15, lr=3e-3, lr_final=3e-3, gradient_weight=0.5, tv_weight=0.1))
    batch = fixed_batch()
    history = [trainer.step(batch, step) for step in range(15)]
    assert set(history[0]) == {"lr", "refine_l1", "coarse_l1", "gradient", "tv", "total"}
    assert all(np.isfinite(list(named.values())).all() for named in history)
    totals = [named["total"] for named in history]
    assert totals[-1] < 0.92 * totals[0]
    assert sum(later < earlier for earlier, later in zip(totals, totals[1:], strict=False)) >= 12
    assert history[-1]["refine_l1"] < history[0]["refine_l1"]
    assert history[-1]["coarse_l1"] < history[0]["coarse_l1"]


@pytest.mark.parametrize(("gan", "critic_keys"), [("wgan-gp", {"critic", "gradient_penalty"}), ("hinge", {"critic"})])
def test_adversarial_step_updates_the_critic(gan, critic_keys):
    torch.manual_seed(0)
    trainer = HiFillTrainer(tiny_config(adversarial_weight=0.1, gan=gan, critic_steps=2))
    assert trainer.discriminator is not None
    before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    named = trainer.step(fixed_batch(), 0)
    assert set(named) == {"lr", "refine_l1", "coarse_l1", "adversarial", "total"} | critic_keys
    assert all(np.isfinite(value) for value in named.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.discriminator.parameters(), strict=True))
    assert {"discriminator", "critic_optimizer"} <= set(trainer.state_dict())


def test_validate_reports_hole_psnr_and_l1(photo_folder):
    items = validation_set(photo_folder, 24, ("medium", "thick"), limit=2)
    assert len(items) == 4
    assert items[0].name == "photo0-medium" and items[0].image.shape == (1, 3, 20, 24)
    assert items[0].mask.shape == (1, 1, 20, 24)
    trainer = HiFillTrainer(tiny_config())
    summary = trainer.validate(items)
    expected = {"hole_psnr", "hole_l1"} | {f"{kind}_hole_{m}" for kind in ("medium", "thick") for m in ("psnr", "l1")}
    assert set(summary) == expected
    assert 0.0 < summary["hole_l1"] < 1.0 and np.isfinite(summary["hole_psnr"])


# --- loop ---------------------------------------------------------------------------------------------------------


def _assert_same_parameters(first, second):
    for (name, a), (_, b) in zip(first.generator.named_parameters(), second.generator.named_parameters(), strict=True):
        assert torch.equal(a, b), name


def _steps_logged(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / LOG).read_text().splitlines()]


def test_resume_continues_exactly(tmp_path, crops):
    straight = train(tiny_config(steps=4), tmp_path / "straight", dataset=crops)
    train(tiny_config(steps=3), tmp_path / "resumed", dataset=crops)
    assert json.loads((tmp_path / "resumed" / CONFIG).read_text())["steps"] == 3
    resumed = train(tiny_config(steps=4), tmp_path / "resumed", resume=True, dataset=crops)
    _assert_same_parameters(straight, resumed)
    assert torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=False)["step"] == 4
    assert _steps_logged(tmp_path / "resumed") == [1, 2, 3, 4]
    # And training did move the weights.
    fresh = build_trainer(tiny_config())
    assert any(
        not torch.equal(a, b)
        for a, b in zip(fresh.generator.parameters(), straight.generator.parameters(), strict=True)
    )


def test_resume_after_a_crash_matches_uninterrupted_run(tmp_path, crops):
    # A decaying learning rate and a critic: everything that carries state across steps must be checkpointed.
    config = tiny_config(steps=4, lr_final=1e-4, adversarial_weight=0.1)
    straight = train(config, tmp_path / "straight", dataset=crops)

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "crashed", on_log=_crash_at_step_3, dataset=crops)
    assert torch.load(tmp_path / "crashed" / CHECKPOINT, weights_only=False)["step"] == 2
    resumed = train(config, tmp_path / "crashed", resume=True, dataset=crops)
    _assert_same_parameters(straight, resumed)
    for a, b in zip(straight.discriminator.parameters(), resumed.discriminator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_run_saved_in_the_flat_form_resumes_exactly(tmp_path, crops):
    from hrinpaint.train.config import FLAT_NAMES, SECTIONS

    config = tiny_config(steps=4, lr_final=1e-4)
    straight = train(config, tmp_path / "straight", dataset=crops)

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "old", on_log=_crash_at_step_3, dataset=crops)
    # what runs saved before the sections: every option at the top, under its old name
    flat = {name: value for name, value in config.to_dict().items() if name not in SECTIONS}
    flat.update({old: getattr(getattr(config, section), name) for old, (section, name) in FLAT_NAMES.items()})
    (tmp_path / "old" / CONFIG).write_text(json.dumps(flat))
    resumed = train(config, tmp_path / "old", resume=True, dataset=crops)
    _assert_same_parameters(straight, resumed)
    assert read_saved(tmp_path / "old" / CONFIG) == config  # rewritten in the sectioned form
    assert isinstance(json.loads((tmp_path / "old" / CONFIG).read_text())["data"], dict)


def _crash_at_step_3(record):
    if record["step"] == 3:
        raise KeyboardInterrupt


def test_train_refuses_to_overwrite_or_resume_nothing(tmp_path, crops):
    with pytest.raises(InputError, match="no checkpoint"):
        train(tiny_config(steps=1), tmp_path / "empty", resume=True, dataset=crops)
    train(tiny_config(steps=1), tmp_path / "run", dataset=crops)
    with pytest.raises(InputError, match="already has a checkpoint"):
        train(tiny_config(steps=2), tmp_path / "run", dataset=crops)


def test_unit_variance_init_gives_every_gated_layer_unit_spread():
    from hrinpaint.nn.layers import GatedConv2d
    from hrinpaint.train.init import unit_variance_init

    torch.manual_seed(0)
    model = HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1, 2), refine_dilations=(2,)))
    image, mask = torch.rand(2, 3, 32, 48), (torch.rand(2, 1, 32, 48) > 0.7).float()
    before = []
    hooks = [
        layer.conv.register_forward_hook(lambda _m, _i, out: before.append(float(out.std())))
        for layer in model.modules()
        if isinstance(layer, GatedConv2d) and layer.activation
    ]
    with torch.no_grad():
        model(image, mask)
    for hook in hooks:
        hook.remove()
    spreads = unit_variance_init(model, lambda: model(image, mask))
    assert len(spreads) == len(before) and min(before) < 0.5  # the default init shrinks the signal
    assert all(abs(spread - 1.0) < 0.05 for spread in spreads.values())


def test_a_new_prefilled_run_is_initialised_from_data(tmp_path):
    from hrinpaint.train.hifill import batch_prefill

    config = TrainConfig.from_dict(
        {
            "model": {"width": 4, "coarse_dilations": (1,), "refine_dilations": (2,), "prefill": "telea"},
            "data": {"val_folder": None, "crop": 32},
            "batch_size": 2,
            "steps": 1,
        }
    )
    trainer = HiFillTrainer(config)
    image, mask = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.7).float()
    prefill = batch_prefill(image, mask, "telea")
    with torch.no_grad():
        start = (trainer.generator(image, mask, prefill).refined - prefill).abs().mean()
    trainer.initialise(_Fixed(Batch(image, mask)))
    with torch.no_grad():
        after = (trainer.generator(image, mask, prefill).refined - prefill).abs().mean()
    assert after > 3 * start  # the residual now carries signal


class _Fixed:
    """A dataset that gives one batch whatever is asked (for :meth:`Trainer.initialise`)."""

    def __init__(self, batch: Batch) -> None:
        self.fixed = batch

    def batch(self, step: int, size: int) -> Batch:
        return self.fixed


def test_batch_halved_and_moved_is_the_half_size_batch_on_the_device():
    """The one way trainers move and halve a batch (initialisation runs on the halved one)."""
    generator = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 6, 10, generator=generator)
    mask = torch.zeros(2, 1, 6, 10)
    mask[0, 0, 1, 3] = 1.0  # one hole pixel makes its 2 x 2 block a hole
    half = Batch(image, mask, image.flip(-1)).halved().to(torch.device("cpu"))
    blocks = image.numpy().reshape(2, 3, 3, 2, 5, 2).mean(axis=(3, 5), dtype=np.float64)
    assert half.image.shape == (2, 3, 3, 5) and np.allclose(half.image.numpy(), blocks, atol=1e-6)
    assert half.mask.dtype == torch.float32 and torch.nonzero(half.mask).tolist() == [[0, 0, 0, 1]]
    assert half.prefill is not None and torch.allclose(half.prefill, half.image.flip(-1))
    assert Batch(image, mask).halved().to(torch.device("cpu")).prefill is None
