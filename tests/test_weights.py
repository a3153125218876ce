"""Weights with manifests, the hifill filler, and the train/export/models commands on tiny networks."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.cli import main  # noqa: E402
from hrinpaint.errors import InputError  # noqa: E402
from hrinpaint.fillers.attention import CellAttention  # noqa: E402
from hrinpaint.fillers.hifill import HiFillFiller, shipped_weights  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.weights import load_model, manifest_path, read_manifest, save_weights, sha256_of  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402

TINY = HiFillConfig(width=4, coarse_dilations=(1, 2), refine_dilations=(2,))


@pytest.fixture
def tiny_weights(tmp_path):
    torch.manual_seed(0)
    model = HiFillGenerator(TINY)
    path = tmp_path / "tiny.safetensors"
    save_weights(model, "hifill", path, {"resolution": 32, "steps": 0}, {"hole_psnr": 1.0})
    return path, model


def test_save_then_load_rebuilds_the_same_model(tiny_weights):
    path, model = tiny_weights
    loaded, manifest = load_model(path)
    assert manifest["config"]["width"] == 4 and manifest["mask_polarity"] == "1 = hole"
    assert manifest["sha256"] == sha256_of(path) and manifest["pad_multiple"] == 16
    assert manifest["parameters"] == sum(p.numel() for p in model.parameters())
    image, mask = torch.rand(1, 3, 21, 34), (torch.rand(1, 1, 21, 34) > 0.6).float()
    with torch.no_grad():
        assert torch.equal(model.eval()(image, mask).image, loaded(image, mask).image)


def test_damaged_weights_and_missing_manifest_are_readable_errors(tiny_weights):
    path, _ = tiny_weights
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        load_model(path)
    manifest_path(path).unlink()
    with pytest.raises(InputError, match="manifest"):
        read_manifest(path)
    with pytest.raises(InputError, match="do not exist"):
        load_model(path.with_name("nothing.safetensors"))


def test_weights_that_do_not_fit_the_described_model_are_refused(tiny_weights):
    path, _ = tiny_weights
    manifest = json.loads(manifest_path(path).read_text())
    manifest["config"]["width"] = 8
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="do not fit"):
        load_model(path)


def test_filler_keeps_known_pixels_and_returns_network_attention(tiny_weights):
    from hrinpaint.fillers.attention import OffsetField

    path, _ = tiny_weights
    rng = np.random.default_rng(0)
    image = rng.random((45, 70, 3), dtype=np.float32)
    mask = np.zeros((45, 70), bool)
    mask[10:30, 20:45] = True
    image[mask] = 0
    # by default cra lifts along the default's (PatchMatch's) offset field, as the default does
    assert isinstance(
        HiFillFiller(HiFillFiller.Config(weights=str(path), size=0)).fill(image, mask).attention, OffsetField
    )
    result = HiFillFiller(HiFillFiller.Config(weights=str(path), size=0, attention=True)).fill(image, mask)
    assert result.image.shape == image.shape and result.image.dtype == np.float32
    assert np.array_equal(result.image[~mask], image[~mask])
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    attention = result.attention
    assert isinstance(attention, CellAttention) and attention.image_shape == (45, 70)
    assert attention.grid_shape == (3, 5)  # padded to 48 x 80, one cell per 16 px
    np.testing.assert_allclose(attention.weights.sum(axis=1), 1.0, rtol=1e-5)
    assert not set(attention.context_cells) & set(attention.hole_cells)


def test_filler_runs_the_network_at_its_training_resolution(tiny_weights):
    path, _ = tiny_weights
    image = np.full((64, 96, 3), 0.5, np.float32)
    mask = np.zeros((64, 96), bool)
    mask[20:40, 30:60] = True
    filler = HiFillFiller(HiFillFiller.Config(weights=str(path)))
    assert filler.network_size == 32  # from the manifest's training resolution
    assert HiFillFiller(HiFillFiller.Config(weights=str(path), size=0)).network_size is None
    result = filler.fill(image, mask)
    assert result.image.shape == image.shape
    assert np.array_equal(result.image[~mask], image[~mask])


def test_hifill_cra_through_the_pipeline_changes_only_the_hole(tiny_weights):
    path, _ = tiny_weights
    rng = np.random.default_rng(1)
    image = (rng.random((130, 150, 3)) * 255).astype(np.uint8)
    mask = np.zeros((130, 150), bool)
    mask[40:90, 50:100] = True
    inpainter = Inpainter.from_method("hifill+cra", filler={"weights": str(path)}, working_size=64)
    out = inpainter(image, mask)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])


def test_shipped_weights_load_and_say_how_they_measured():
    path = shipped_weights()
    if not path.exists():
        pytest.skip("no shipped hifill weights in this checkout")
    model, manifest = load_model(path)
    assert manifest["model"] == "hifill"
    assert manifest["training"]["steps"] > 0 and manifest["training"]["resolution"] > 0
    assert "hole_psnr" in manifest["validation"]
    assert path.stat().st_size < 20 * 2**20


def _photos(folder, count=3):
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(2)
    for index in range(count):
        ramp = np.linspace(0, 255, 48, dtype=np.float32)[None, :, None] * np.ones((40, 1, 3), np.float32)
        photo = np.clip(ramp + rng.normal(0, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"p{index}.png"), photo)
    return folder


def test_train_export_and_models_commands(tmp_path, capsys):
    data = _photos(tmp_path / "photos")
    config = tmp_path / "tiny.toml"
    config.write_text(
        "\n".join(
            [
                "batch_size = 2",
                "steps = 2",
                "val_every = 2",
                "checkpoint_every = 1",
                "threads = 1",
                "model = { width = 4, coarse_dilations = [1], refine_dilations = [2] }",
                f'data = {{ folder = "{data}", val_folder = "{data}", crop = 32, val_size = 32 }}',
            ]
        )
    )
    run, weights = tmp_path / "run", tmp_path / "out" / "w.safetensors"
    assert main(["train", str(config), "--run", str(run), "--export", str(weights)]) == 0
    printed = capsys.readouterr().out
    assert "step 2" in printed and "validation" in printed
    manifest = read_manifest(weights)
    assert manifest["training"]["steps"] == 2 and "hole_psnr" in manifest["validation"]
    assert main(["train", str(config), "--run", str(run), "--steps", "3", "--resume", "-q"]) == 0
    assert main(["export", str(run), "-o", str(weights), "-q"]) == 0
    assert read_manifest(weights)["training"]["steps"] == 3
    assert main(["models", str(weights)]) == 0
    assert "3 steps" in capsys.readouterr().out
    # a second fresh run into the same folder would overwrite the checkpoint: refused
    assert main(["train", str(config), "--run", str(run), "-q"]) == 1
    # an unknown key in any section: one line and exit 2, before any work
    config.write_text(config.read_text() + "\n[losses]\nhole_wieght = 2.0\n")
    capsys.readouterr()
    assert main(["train", str(config), "--run", str(tmp_path / "other"), "-q"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "training config [losses] has no option hole_wieght; options:" in error
    assert not (tmp_path / "other").exists()


def test_prefilled_generator_starts_as_the_diffusion_fill_and_needs_its_prefill(tmp_path):
    from hrinpaint.fillers.opencv import telea_prefill
    from hrinpaint.train.hifill import batch_prefill

    torch.manual_seed(0)
    model = HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1,), refine_dilations=(2,), prefill="telea"))
    image, mask = torch.rand(2, 3, 37, 53), (torch.rand(2, 1, 37, 53) > 0.7).float()
    prefill = batch_prefill(image, mask, "telea")
    with torch.no_grad():
        out = model(image, mask, prefill)
    # small output layers: an untrained residual network returns about its prefill in the hole
    start = image * (1 - mask) + prefill * mask
    assert 0 < (out.image - start).abs().max() < 0.2
    assert torch.equal(out.image * (1 - mask), image * (1 - mask))
    with pytest.raises(ValueError, match="prefill"):
        model(image, mask)
    # the filler computes the same prefill itself, so hifill+cra with such weights is a Telea fill plus residuals
    path = tmp_path / "prefilled.safetensors"
    save_weights(model, "hifill", path, {"resolution": 0}, {})
    rng = np.random.default_rng(3)
    picture = rng.random((40, 50, 3), dtype=np.float32)
    hole = np.zeros((40, 50), bool)
    hole[10:25, 12:30] = True
    picture[hole] = 0
    config = HiFillFiller.Config(weights=str(path), size=0, prefill="telea", band=0)
    filled = HiFillFiller(config).fill(picture, hole).image
    assert np.abs(filled - telea_prefill(picture, hole)).max() < 0.2
    with pytest.raises(InputError, match="telea prefill"):
        HiFillFiller(HiFillFiller.Config(weights=str(path), prefill="none"))


def test_residual_lift_brings_back_only_the_change_a_prefilled_network_makes(tmp_path):
    from hrinpaint.fillers.network import fill_at_size
    from hrinpaint.fillers.opencv import telea_prefill

    rng = np.random.default_rng(4)
    ys, xs = np.mgrid[0:64, 0:96] / 64.0
    image = np.stack([np.sin(9 * xs), np.cos(7 * ys), xs * ys], -1).astype(np.float32) * 0.4 + 0.5
    image = np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)
    mask = np.zeros((64, 96), bool)
    mask[20:44, 30:66] = True

    def identity(net_image, net_mask):  # a network that changes nothing on its prefill
        return telea_prefill(net_image, net_mask)

    lifted = fill_at_size(image, mask, 32, identity, prefill=telea_prefill)
    np.testing.assert_allclose(lifted[mask], telea_prefill(image, mask)[mask], atol=1e-5)  # Telea at full size
    upsampled = fill_at_size(image, mask, 32, identity)
    assert np.abs(upsampled - lifted)[mask].mean() > 0.01  # upsampling the small fill loses its detail

    def brighter(net_image, net_mask):  # a change the network makes comes back, upsampled
        return np.clip(telea_prefill(net_image, net_mask) + 0.1 * net_mask[..., None], 0, 1)

    changed = fill_at_size(image, mask, 32, brighter, prefill=telea_prefill)
    inner = np.zeros_like(mask)
    inner[24:40, 34:62] = True  # away from the blurred border of the upsampled change
    np.testing.assert_allclose((changed - lifted)[inner], 0.1, atol=0.02)
    assert np.array_equal(changed[~mask], image[~mask]) and changed.max() <= 1.0

    # the filler does it for telea-prefilled weights unless residual_lift is off
    torch.manual_seed(0)
    model = HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1,), refine_dilations=(2,), prefill="telea"))
    path = tmp_path / "prefilled.safetensors"
    save_weights(model, "hifill", path, {"resolution": 32}, {})
    holed = np.where(mask[..., None], 0.0, image).astype(np.float32)
    options = {"weights": str(path), "prefill": "telea", "band": 0}
    default = HiFillFiller(HiFillFiller.Config(**options)).fill(holed, mask).image
    plain = HiFillFiller(HiFillFiller.Config(**options, residual_lift=False)).fill(holed, mask).image
    telea_full = telea_prefill(holed, mask)
    assert np.abs(default - telea_full)[mask].mean() < np.abs(plain - telea_full)[mask].mean() / 2
