"""Multiscale feature refinement (the ``refine`` lifter) with LaMa and HiFill on tiny networks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.errors import InpaintError  # noqa: E402
from hrinpaint.eval.metrics import sharpness_ratio  # noqa: E402
from hrinpaint.lifters import LIFTERS  # noqa: E402
from hrinpaint.lifters.refine import (  # noqa: E402
    RefineConfig,
    RefineLifter,
    anchor_low_frequencies,
    downscale,
    pyramid_shapes,
    refine_level,
)
from hrinpaint.methods import resolve_method  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.lama import LamaConfig, LamaGenerator  # noqa: E402
from hrinpaint.nn.weights import save_weights  # noqa: E402
from hrinpaint.ops.regions import bounding_box  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402

TINY_LAMA = LamaConfig(width=4, blocks=1)
TINY_HIFILL = HiFillConfig(width=4, coarse_dilations=(1, 2), refine_dilations=(2,))


def _model(name: str, gain: float = 1.0):
    """A tiny generator; ``gain`` scales its convolutions so that, untrained, its output still depends on its
    features (at the default initialisation, signals fade through the layers)."""
    torch.manual_seed(0)
    model = (LamaGenerator(TINY_LAMA) if name == "lama" else HiFillGenerator(TINY_HIFILL)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.mul_(gain)
    return model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    paths = {}
    for name in ("lama", "hifill"):
        paths[name] = folder / f"{name}.safetensors"
        save_weights(_model(name), name, paths[name], {"resolution": 16}, {})
    return paths


def _photo(height: int = 61, width: int = 75, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([np.sin(rows / 5.0), np.cos(cols / 7.0), np.sin((rows + cols) / 9.0)], axis=2) * 0.4 + 0.5
    image = (image + rng.normal(0, 0.03, image.shape)).clip(0, 1)
    mask = np.zeros((height, width), bool)
    mask[18:44, 22:54] = True
    return (image * 255).round().astype(np.uint8), mask


def test_pyramid_halves_from_the_budgeted_full_size_down_to_about_the_working_size():
    assert pyramid_shapes((2048, 1536), 512, 3, 10**8) == [(512, 384), (1024, 768), (2048, 1536)]
    assert pyramid_shapes((2048, 1536), 512, 2, 10**8) == [(1024, 768), (2048, 1536)]
    assert pyramid_shapes((600, 400), 512, 3, 10**8) == [(300, 200), (600, 400)]  # two for any region above it
    assert pyramid_shapes((500, 400), 512, 3, 10**8) == [(500, 400)]
    # the official count when refining to full size: from the short side after the budget, min_side 512
    assert len(pyramid_shapes((2048, 1536), 256, 3, 1_800_000, min_side=512)) == 2  # 1567 x 1175
    assert len(pyramid_shapes((4096, 4096), 256, 3, 10**8, min_side=512)) == 3
    assert len(pyramid_shapes((1000, 700), 16, 3, 10**8, min_side=512)) == 1
    assert pyramid_shapes((61, 75), 16, 3, 10**8) == [(16, 19), (31, 38), (61, 75)]
    budgeted = pyramid_shapes((4000, 3000), 512, 3, 1_800_000)
    assert budgeted[-1][0] * budgeted[-1][1] <= 1_800_000 and len(budgeted) == 3
    assert math.isclose(budgeted[-1][0] / budgeted[-1][1], 4 / 3, rel_tol=1e-3)


def test_downscale_is_a_5x5_gaussian_then_bilinear():
    rng = np.random.default_rng(1)
    image = rng.random((23, 30, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(image, (5, 5), 1.0, borderType=cv2.BORDER_REFLECT_101)
    expected = cv2.resize(blurred, (15, 12), interpolation=cv2.INTER_LINEAR)
    ours = downscale(torch.from_numpy(image.transpose(2, 0, 1))[None], (12, 15))[0].permute(1, 2, 0).numpy()
    assert np.allclose(ours, expected, atol=1e-5)
    assert torch.allclose(downscale(torch.full((1, 1, 4, 2), 0.3), (2, 1)), torch.tensor(0.3))  # tiny: replicate


def test_hifill_split_reproduces_its_forward():
    model = _model("hifill")
    generator = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 37, 45, generator=generator)
    mask = (torch.rand(1, 1, 37, 45, generator=generator) > 0.7).float()
    with torch.no_grad():
        out = model(image, mask)
        assert torch.equal(model.rear(model.front(image, mask)), out.refined)


@pytest.mark.parametrize("name", ["lama", "hifill"])
def test_refinement_lowers_its_own_loss(name):
    model = _model(name, gain=3.0)
    photo, hole = _photo(32, 40)
    image = torch.from_numpy(photo.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    mask = torch.from_numpy(hole.astype(np.float32))[None, None]
    previous = downscale(image, (16, 20))  # what the coarser level "filled": the true picture, blurred
    target = (downscale(mask, (16, 20)) > 0.99).float()
    config = RefineConfig(lr=0.1, iterations=8)
    steps = []
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    prediction, losses = refine_level(
        model, image, mask, previous, target, config, lambda i, loss: steps.append((i, loss))
    )
    assert prediction.shape == image.shape and len(losses) == 9
    assert losses[-1] < 0.95 * losses[0]
    assert [i for i, _ in steps] == list(range(9)) and [loss for _, loss in steps] == losses
    _, paper = refine_level(model, image, mask, previous, target, RefineConfig(iterations=3))
    assert paper[-1] < paper[0]  # the paper's learning rate, more gently
    recomputed = RefineConfig(lr=0.1, iterations=2, checkpointing=True)
    _, checkpointed = refine_level(model, image, mask, previous, target, recomputed)
    assert np.allclose(checkpointed, losses[:3], rtol=1e-4)  # the same steps, with less memory


@pytest.mark.parametrize("name", ["lama", "hifill"])
def test_pipeline_refines_per_scale_and_keeps_known_pixels_exact(name, weights):
    image, mask = _photo()
    inpainter = Inpainter.from_method(
        f"{name}+refine",
        {"weights": str(weights[name])},
        {"iterations": 3, "max_side": 0, "min_side": 16},
        working_size=16,
    )
    steps = []
    inpainter.lifter.progress = steps.append
    result = inpainter(image, mask)
    assert result.shape == image.shape and result.dtype == np.uint8
    assert np.array_equal(result[~mask], image[~mask])
    assert result[mask].std() > 0
    shapes = sorted({step.shape for step in steps}, key=lambda shape: shape[0] * shape[1])
    assert shapes == [(16, 19), (31, 38), (61, 75)]
    assert [(step.scale, step.iteration) for step in steps] == [(0, 0)] + [(s, i) for s in (1, 2) for i in range(4)]
    assert all(math.isfinite(step.loss) for step in steps[1:])
    other = image.copy()
    other[mask] = 255 - other[mask]
    assert np.array_equal(inpainter(other, mask), result)  # what the hole held never shows


def test_pixel_budget_bounds_every_scale(weights):
    image, mask = _photo()
    inpainter = Inpainter.from_method(
        "hifill+refine", {"weights": str(weights["hifill"])}, {"pixel_budget": 1200, "iterations": 1}, working_size=16
    )
    steps = []
    inpainter.lifter.progress = steps.append
    result = inpainter(image, mask)
    assert steps and max(step.shape[0] * step.shape[1] for step in steps) <= 1200
    assert result.shape == image.shape and np.array_equal(result[~mask], image[~mask])


def test_run_returns_only_the_box_it_is_given(weights):
    from hrinpaint.fillers import FILLERS

    image, mask = _photo(40, 44)
    filler = FILLERS.build("lama", weights=str(weights["lama"]))
    box = bounding_box(mask)
    working = np.zeros((20, 22), bool)
    for side in (0, 30):
        whole = RefineLifter(RefineConfig(iterations=1, max_side=side)).run(image, mask, filler, working)
        out = RefineLifter(RefineConfig(iterations=1, max_side=side)).run(image, mask, filler, working, box)
        assert out.shape == (box.height, box.width, 3) and out.dtype == np.float32
        assert np.array_equal(out, whole[box.slices])


@pytest.mark.parametrize("lift", ["cra", "upsample"])
def test_refinement_stops_at_max_side_and_the_rest_is_lifted(weights, lift):
    image, mask = _photo()
    config = {"iterations": 1, "max_side": 40, "lift": lift}
    inpainter = Inpainter.from_method("hifill+refine", {"weights": str(weights["hifill"])}, config, working_size=16)
    steps = []
    inpainter.lifter.progress = steps.append
    result = inpainter(image, mask)
    assert max(step.shape for step in steps) == (33, 40)  # 61 x 75 with its long side brought to 40
    assert np.array_equal(result[~mask], image[~mask]) and result[mask].std() > 0


def test_cra_brings_back_the_detail_upsampling_loses(weights):
    image, mask = _photo()
    truth = image.astype(np.float32) / 255
    ratios = {}
    for lift in ("cra", "upsample"):
        config = {"iterations": 1, "max_side": 38, "lift": lift}
        filler = {"weights": str(weights["hifill"]), "band": 0}  # the network's whole fill, lifted
        inpainter = Inpainter.from_method("hifill+refine", filler, config, working_size=16)
        ratios[lift] = sharpness_ratio(inpainter(image, mask).astype(np.float32) / 255, truth, mask)
    assert ratios["cra"] > 1.5 * ratios["upsample"]


def test_anchoring_removes_a_colour_drift_and_keeps_the_detail():
    torch.manual_seed(0)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 12), torch.linspace(0, 1, 16), indexing="ij")
    previous = torch.stack([0.2 + 0.5 * ys, 0.7 - 0.4 * xs, 0.3 + 0.3 * ys * xs])[None]  # a smooth coarse fill
    detail = 0.05 * torch.randn(1, 3, 24, 32)
    upsampled = torch.nn.functional.interpolate(previous, size=(24, 32), mode="bilinear", align_corners=False)
    anchored = anchor_low_frequencies(upsampled + detail - 0.1, previous)  # a network that darkens by 0.1
    assert abs(float((anchored - upsampled).mean())) < 0.01
    error = (downscale(anchored, (12, 16)) - previous)[..., 3:-3, 3:-3].abs()
    assert float(error.mean()) < 0.01 and float(error.max()) < 0.05  # it was 0.1 everywhere
    assert float((anchored - upsampled - detail).std()) < 0.5 * float(detail.std())  # much of the detail stays


def test_refine_needs_a_network_with_a_split():
    image, mask = _photo()
    with pytest.raises(InpaintError, match="front/rear split"):
        Inpainter.from_method("telea+refine", working_size=16)(image, mask)
    assert not hasattr(LIFTERS.build("refine"), "lift")  # it needs the filler's network, not only a working fill
    assert resolve_method("refine").name == "hifill+refine"
    with pytest.raises(ValueError):
        RefineConfig(max_scales=0)
    assert RefineConfig(pixel_budget=1.8e6).pixel_budget == 1_800_000


def test_command_line_runs_lama_refine_with_weights(weights, tmp_path, capsys):
    from hrinpaint.cli import main

    image, mask = _photo()
    cv2.imwrite(str(tmp_path / "photo.png"), image[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "mask.png"), mask.astype(np.uint8) * 255)
    out = tmp_path / "out.png"
    argv = ["inpaint", str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "-o", str(out), "-q"]
    assert main([*argv, "-m", "lama+refine", "--weights", str(weights["lama"]), "--working-size", "32"]) == 0
    result = cv2.imread(str(out))[:, :, ::-1]
    assert np.array_equal(result[~mask], image[~mask])
    assert main([*argv[:-1], "-m", "lama+refine"]) == 1  # no weights: says how to get them
    assert "import-lama" in capsys.readouterr().err
