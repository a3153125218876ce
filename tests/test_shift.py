"""Shift refinement: the shifted stack, the U-Net, the lifter (tiled and not), the trainer and the VGG losses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.errors import ConfigError, InpaintError, InputError  # noqa: E402
from hrinpaint.fillers.base import FillResult  # noqa: E402
from hrinpaint.lifters import LIFTERS  # noqa: E402
from hrinpaint.lifters.shift import ShiftConfig, ShiftLifter, Stage1, gather_stack, tile_windows  # noqa: E402
from hrinpaint.methods import resolve_method  # noqa: E402
from hrinpaint.nn import MODELS  # noqa: E402
from hrinpaint.nn.shift import ShiftUNet, ShiftUNetConfig, shift_offsets, shifted_stack  # noqa: E402
from hrinpaint.nn.weights import load_model, save_weights  # noqa: E402
from hrinpaint.ops.regions import Box  # noqa: E402
from hrinpaint.ops.resize import area_downsample, downsample_mask  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402
from hrinpaint.train import TRAINERS  # noqa: E402
from hrinpaint.train.config import TrainConfig  # noqa: E402
from hrinpaint.train.data import Batch, ValidationItem  # noqa: E402
from hrinpaint.train.shift import ShiftTrainer, fit_hole_range, stage1_fill  # noqa: E402
from hrinpaint.train.vgg import (  # noqa: E402
    gram_matrix,
    layer_names,
    load_vgg16,
    perceptual_loss,
    style_loss,
)

TINY = ShiftUNetConfig(width=4, depth=2)


def _net(gain: float = 1.0) -> ShiftUNet:
    """A tiny U-Net in eval mode; ``gain`` scales its output layer so that the residual is not negligible."""
    torch.manual_seed(0)
    model = ShiftUNet(TINY).eval()
    with torch.no_grad():
        model.to_rgb.weight.mul_(gain)
        model.to_rgb.bias.normal_(0.0, 0.1 * gain)
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("shift") / "shift.safetensors"
    save_weights(_net(gain=10.0), "shift", path, {"resolution": 32}, {})
    return path


def _photo(height: int = 61, width: int = 75) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([np.sin(rows / 5.0), np.cos(cols / 7.0), np.sin((rows + cols) / 9.0)], axis=2) * 0.4 + 0.5
    image = (image + rng.normal(0, 0.03, image.shape)).clip(0, 1)
    mask = np.zeros((height, width), bool)
    mask[18:44, 22:54] = True
    return (image * 255).round().astype(np.uint8), mask


# --- the stack and the network ------------------------------------------------------------------------------------


def test_shifted_stack_moves_each_copy_and_marks_exposed_pixels_as_hole():
    image = torch.rand(2, 3, 10, 20)
    mask = (torch.rand(2, 1, 10, 20) > 0.5).float()
    stack = shifted_stack(image, mask, 0.2)  # 2 rows, 4 columns
    assert stack.shape == (2, 20, 10, 20)
    assert shift_offsets((10, 20), 0.2) == ((0, 0), (2, 0), (-2, 0), (0, 4), (0, -4))
    colours, holes = stack[:, :15], stack[:, 15:]
    assert torch.equal(colours[:, 0:3], image) and torch.equal(holes[:, 0:1], mask)
    up, down, left, right = (slice(3 * k, 3 * k + 3) for k in range(1, 5))
    # up: row y holds row y + 2; the last two rows have no source
    assert torch.equal(colours[:, up, :8], image[:, :, 2:]) and torch.equal(holes[:, 1:2, :8], mask[:, :, 2:])
    assert (colours[:, up, 8:] == 0).all() and (holes[:, 1, 8:] == 1).all()
    assert torch.equal(colours[:, down, 2:], image[:, :, :8]) and torch.equal(holes[:, 2:3, 2:], mask[:, :, :8])
    assert (colours[:, down, :2] == 0).all() and (holes[:, 2, :2] == 1).all()
    assert torch.equal(colours[:, left, :, :16], image[..., 4:]) and torch.equal(holes[:, 3:4, :, :16], mask[..., 4:])
    assert (colours[:, left, :, 16:] == 0).all() and (holes[:, 3, :, 16:] == 1).all()
    assert torch.equal(colours[:, right, :, 4:], image[..., :16]) and torch.equal(holes[:, 4:5, :, 4:], mask[..., :16])
    assert (colours[:, right, :, :4] == 0).all() and (holes[:, 4, :, :4] == 1).all()


def test_unet_keeps_odd_sizes_and_known_pixels_and_starts_near_its_input():
    model = _net()
    assert model.multiple == 4 and ShiftUNet().multiple == 16
    image = torch.rand(2, 3, 37, 53)
    mask = torch.zeros(2, 1, 37, 53)
    mask[..., 10:25, 12:40] = 1.0
    with torch.no_grad():
        out = model.refine(image, mask)
    assert out.shape == (2, 3, 37, 53)
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert 0 < (out - image).abs().max() < 0.5  # the small output layer: about the stage-1 image
    with pytest.raises(ValueError, match="20"):
        model(torch.rand(1, 19, 8, 8))
    with pytest.raises(ValueError):
        ShiftUNetConfig(shift=1.0)


def test_model_registry_and_weights_round_trip(weights):
    assert "shift" in MODELS and "shift" in TRAINERS and "shift" in LIFTERS
    loaded, manifest = load_model(weights)
    assert manifest["model"] == "shift" and manifest["pad_multiple"] == 4 and manifest["config"]["shift"] == 0.2
    stack = shifted_stack(torch.rand(1, 3, 13, 17), (torch.rand(1, 1, 13, 17) > 0.5).float(), 0.2)
    with torch.no_grad():
        assert torch.equal(loaded(stack), _net(gain=10.0)(stack))


# --- the lifter ---------------------------------------------------------------------------------------------------


def _stage1(image: np.ndarray, mask: np.ndarray, hole: Box) -> Stage1:
    rng = np.random.default_rng(3)
    return Stage1(image, mask, hole, rng.random((*hole.shape, 3)).astype(np.float32))


def test_window_gather_equals_the_stack_of_the_whole_stage1_image():
    image, mask = _photo(37, 53)
    hole = Box(10, 12, 30, 45)
    mask[:] = False
    mask[12:28, 14:40] = True
    source = _stage1(image, mask, hole)
    whole, hole_mask = source.read(0, 37, 0, 53)
    assert np.array_equal(whole[~mask], image[~mask] / np.float32(255))
    reference = shifted_stack(
        torch.from_numpy(whole.transpose(2, 0, 1).copy())[None],
        torch.from_numpy(hole_mask.astype(np.float32))[None, None],
        0.3,
    )[0].numpy()
    offsets = shift_offsets((37, 53), 0.3)
    for window in (Box(0, 0, 37, 53), Box(5, 7, 20, 31), Box(30, 40, 37, 53)):
        assert np.array_equal(gather_stack(source, window, offsets), reference[:, window.slices[0], window.slices[1]])


def test_tiles_partition_the_hole_box_with_aligned_windows():
    pairs = tile_windows((100, 90), Box(10, 7, 71, 80), 25, 8, 4)
    cores = np.zeros((100, 90), int)
    for window, core in pairs:
        cores[core.slices] += 1
        assert window.contains(core) and window.top % 4 == 0 and window.left % 4 == 0
        assert core.height <= 25 and core.width <= 25
        assert window.bottom == min(100, core.bottom + 8) and window.top <= max(0, core.top - 8)
    assert len(pairs) == 9 and (cores[10:71, 7:80] == 1).all() and cores.sum() == 61 * 73


def _lift(lifter: ShiftLifter, image: np.ndarray, mask: np.ndarray, working: tuple[int, int]) -> np.ndarray:
    working_mask = downsample_mask(mask, working)
    fill = area_downsample(image.astype(np.float32) / 255, working)
    fill[working_mask] = 0.4
    return lifter.lift(image, mask, FillResult(fill), working_mask)


def test_tiled_equals_untiled(weights):
    image, mask = _photo(48, 64)
    untiled = ShiftLifter(ShiftConfig(weights=str(weights), stage1="upsample", band=0))
    steps = []
    tiled = ShiftLifter(
        ShiftConfig(weights=str(weights), stage1="upsample", band=0, tile=12, overlap=24, max_pixels=100), steps.append
    )
    assert len(tiled.windows(mask.shape, Box(18, 22, 44, 54))) == 9
    whole, pieces = _lift(untiled, image, mask, (24, 32)), _lift(tiled, image, mask, (24, 32))
    assert whole.shape == (48, 64, 3) and whole.dtype == np.float32
    assert len(steps) == 9 and steps[-1].window == steps[-1].windows == 9
    assert np.abs(whole - pieces).max() < 1e-5
    blind = ShiftLifter(
        ShiftConfig(weights=str(weights), stage1="upsample", band=0, tile=12, overlap=0, max_pixels=100)
    )
    assert np.abs(whole - _lift(blind, image, mask, (24, 32))).max() > 1e-3  # without context, tiles differ


@pytest.mark.parametrize("stage1", ["upsample", "cra"])
def test_pipeline_changes_only_the_hole(weights, stage1):
    image, mask = _photo()
    inpainter = Inpainter.from_method("telea+shift", None, {"weights": str(weights), "stage1": stage1}, working_size=16)
    result = inpainter(image, mask)
    assert result.shape == image.shape and result.dtype == np.uint8
    assert np.array_equal(result[~mask], image[~mask]) and result[mask].std() > 0
    other = image.copy()
    other[mask] = 255 - other[mask]
    assert np.array_equal(inpainter(other, mask), result)  # what the hole held never shows
    ungated = {"weights": str(weights), "gate": False}  # the random network's change is kept, to be seen
    native = Inpainter.from_method("telea+shift", None, ungated, working_size=512)(image, mask)
    plain = Inpainter.from_method("telea+upsample", working_size=512)(image, mask)
    assert np.array_equal(native[~mask], image[~mask]) and not np.array_equal(native, plain)  # refined too


def test_options_and_missing_weights_are_readable_errors(tmp_path):
    with pytest.raises(InputError, match="do not exist"):
        LIFTERS.build("shift", weights=str(tmp_path / "none.safetensors"))
    with pytest.raises(InpaintError, match="no option"):
        LIFTERS.build("shift", nope=1)
    for bad in ({"stage1": "lanczos"}, {"shift": 1.5}, {"tile": 0}, {"overlap": -1}):
        with pytest.raises(ValueError):
            ShiftConfig(**bad)
    assert ShiftConfig(max_pixels=1e6).max_pixels == 1_000_000


def test_shift_alone_is_the_default_stage1_with_the_shipped_network():
    assert resolve_method("shift").name == "patchmatch+shift"
    image, mask = _photo()
    inpainter = Inpainter.from_method("shift", working_size=16)
    assert inpainter.lifter.manifest["model"] == "shift" and inpainter.lifter.manifest["training"]["steps"] > 0
    result = inpainter(image, mask)
    assert np.array_equal(result[~mask], image[~mask]) and result[mask].std() > 0


# --- the trainer --------------------------------------------------------------------------------------------------


def _config(**options) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "family": "shift",
            "model": {"width": 4, "depth": 2},
            "options": {"factor": [2], **options},
            "data": {"crop": 32},
            "batch_size": 2,
            "steps": 1000,
            "lr": 1e-2,
            "lr_final": 1e-2,
            "losses": {"gradient_weight": 0.5, "tv_weight": 0.1},
        }
    )


def _batch() -> Batch:
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:32, 0:32]
    base = np.stack([np.sin(rows / 2.0), np.cos(cols / 3.0), np.sin((rows - cols) / 2.5)]) * 0.4 + 0.5
    images = np.stack([base, base[:, ::-1, :]]) + rng.normal(0, 0.02, (2, 3, 32, 32))
    masks = np.zeros((2, 1, 32, 32), np.float32)
    masks[0, :, 8:20, 6:22] = 1.0
    masks[1, :, 12:28, 10:20] = 1.0
    return Batch(torch.from_numpy(images.clip(0, 1).astype(np.float32)), torch.from_numpy(masks))


def test_trainer_steps_reduce_the_loss_and_validate_reports_stage1():
    torch.manual_seed(0)
    trainer = TRAINERS.get("shift")(_config())
    batch = _batch()
    totals = [trainer.step(batch, step)["total"] for step in range(8)]
    assert all(np.isfinite(totals)) and totals[-1] < 0.9 * totals[0]
    named = trainer.step(batch, 8)
    assert {"l1", "tv", "gradient", "total", "lr"} <= set(named)
    items = [ValidationItem(f"p{i}-box", batch.image[i : i + 1], batch.mask[i : i + 1]) for i in range(2)]
    scores = trainer.validate(items)
    assert {"hole_psnr", "hole_l1", "stage1_hole_psnr", "stage1_hole_l1", "box_hole_psnr"} <= set(scores)
    state = trainer.state_dict()
    fresh = ShiftTrainer(_config())
    fresh.load_state_dict(state)
    assert all(
        torch.equal(a, b)
        for a, b in zip(fresh.generator.state_dict().values(), state["generator"].values(), strict=True)
    )


def test_trainer_options_are_checked():
    for options in ({"colour": 1}, {"factor": 0.5}, {"factor": []}, {"hole_range": [0.5, 0.2]}, {"vgg": 3}):
        with pytest.raises(ConfigError, match="shift trainer options"):
            ShiftTrainer(_config(**options))
    with pytest.raises(InputError, match="do not exist"):
        ShiftTrainer(_config(vgg="/no/such/vgg16.pth"))
    assert ShiftTrainer(_config(factor=3, hole_range=[0.2, 0.5])).options.factor == (3.0,)


def test_trainer_refuses_the_settings_it_would_ignore():
    # no critic and no coarse branch: these were silently ignored before the sections
    for section, values in [
        ("critic", {"weight": 0.1}),
        ("critic", {"gan": "hinge"}),
        ("losses", {"coarse_weight": 2.0}),
    ]:
        name, value = next(iter(values.items()))
        with pytest.raises(ConfigError, match=rf"the shift trainer does not use \[{section}\] {name} = {value!r}"):
            ShiftTrainer(_config().replace(**{section: values}))
    ShiftTrainer(_config().replace(losses={"band": 1.0, "hole_weight": 2.0}))  # what it reads is accepted


def test_fit_hole_range_and_stage1():
    rng = np.random.default_rng(0)
    shape = (40, 48)
    empty, full = np.zeros(shape, bool), np.ones(shape, bool)
    small = empty.copy()
    small[3:6, 4:9] = True
    for mask in (empty, full, small):
        fitted = fit_hole_range(mask, 0.1, 0.9, rng)
        assert 0.1 <= fitted.mean() <= 0.9 and fitted is not mask
    assert fit_hole_range(small, 0.1, 0.9, rng)[small].all()  # a small hole only grows
    fine = empty.copy()
    fine[10:30, 10:30] = True
    assert np.array_equal(fit_hole_range(fine, 0.1, 0.9, rng), fine)
    image = rng.random((*shape, 3)).astype(np.float32)
    for factor in (1.0, 2.0, 3.0):
        filled = stage1_fill(image, fine, factor)
        assert filled.dtype == np.float32 and np.array_equal(filled[~fine], image[~fine])
        assert np.isfinite(filled).all() and 0 <= filled.min() and filled.max() <= 1


# --- VGG ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    """A random VGG16 up to pool3 in torchvision's key layout, as .pth (with a classifier key) and .safetensors."""
    from safetensors.torch import save_file

    from hrinpaint.train.vgg import VGG16Features

    torch.manual_seed(1)
    model = VGG16Features(("pool3",))
    state = {f"features.{key}": value for key, value in model.features.state_dict().items()}
    folder = tmp_path_factory.mktemp("vgg")
    torch.save({**state, "classifier.0.weight": torch.zeros(2, 2)}, folder / "vgg16.pth")
    save_file(
        {key[len("features.") :]: value.contiguous() for key, value in state.items()}, folder / "vgg16.safetensors"
    )
    torch.save({"features.0.weight": state["features.0.weight"]}, folder / "broken.pth")
    return folder


def test_vgg_layer_indices_follow_torchvision():
    names = layer_names()
    assert (names["relu1_2"], names["pool1"], names["pool3"], names["relu4_3"], names["pool5"]) == (3, 4, 16, 22, 30)


def test_vgg_losses_zero_for_identical_images_positive_otherwise(vgg_files):
    vgg = load_vgg16(vgg_files / "vgg16.pth")
    same = load_vgg16(vgg_files / "vgg16.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(vgg.state_dict().values(), same.state_dict().values(), strict=True))
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=generator)
    other = torch.rand(2, 3, 32, 32, generator=generator).requires_grad_(True)
    assert float(perceptual_loss(vgg, image, image)) == 0.0 and float(style_loss(vgg, image, image)) == 0.0
    perceptual, style = perceptual_loss(vgg, other, image), style_loss(vgg, other, image)
    assert perceptual.item() > 0 and style.item() > 0
    (perceptual + style).backward()
    assert other.grad is not None and other.grad.abs().sum() > 0
    assert all(not parameter.requires_grad for parameter in vgg.parameters())
    with pytest.raises(InputError, match="lack"):
        load_vgg16(vgg_files / "broken.pth")


def test_gram_matrix_matches_float64_reference():
    features = torch.randn(2, 5, 6, 7, generator=torch.Generator().manual_seed(3))
    flat = features.double().numpy().reshape(2, 5, 42)
    reference = np.einsum("bcn,bdn->bcd", flat, flat) / (5 * 6 * 7)
    assert np.allclose(gram_matrix(features).numpy(), reference, atol=1e-6)


def test_trainer_with_vgg_uses_the_paper_loss(vgg_files):
    torch.manual_seed(0)
    trainer = ShiftTrainer(_config(vgg=str(vgg_files / "vgg16.pth")))
    named = trainer.step(_batch(), 0)
    assert {"l1", "tv", "perceptual", "style"} <= set(named) and "gradient" not in named
    expected = 6 * named["l1"] + 0.1 * named["tv"] + 0.1 * named["perceptual"] + 240 * named["style"]
    assert np.isclose(named["total"], expected, rtol=1e-5)
