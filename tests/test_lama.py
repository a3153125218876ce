"""The LaMa generator (official Big-LaMa parameter names), importing official-layout checkpoints, the lama filler."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.cli import main  # noqa: E402
from hrinpaint.errors import InputError  # noqa: E402
from hrinpaint.fillers import FILLERS  # noqa: E402
from hrinpaint.nn import MODELS  # noqa: E402
from hrinpaint.nn.convert import import_lama, lama_config_from_state, read_checkpoint  # noqa: E402
from hrinpaint.nn.ffc import FourierUnit  # noqa: E402
from hrinpaint.nn.lama import LamaConfig, LamaGenerator  # noqa: E402
from hrinpaint.nn.weights import load_model, save_weights  # noqa: E402

TINY = LamaConfig(width=4, blocks=2)


def _randomised(config: LamaConfig, seed: int = 0) -> LamaGenerator:
    """A generator whose batch norms have non-trivial statistics, so that eval mode is really exercised."""
    torch.manual_seed(seed)
    model = LamaGenerator(config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
            module.num_batches_tracked.fill_(1000)
    return model.eval()


def _official_checkpoint(model: LamaGenerator, path, **extra) -> None:
    """A checkpoint in the layout of LaMa's Lightning ``best.ckpt``: generator beside other networks."""
    state = {f"generator.{key}": value for key, value in model.state_dict().items()}
    state["discriminator.model0.0.weight"] = torch.randn(8, 3, 4, 4)
    state["discriminator.model0.0.bias"] = torch.randn(8)
    state["loss_resnet_pl.impl.conv1.weight"] = torch.randn(4, 3, 3, 3)
    torch.save({"epoch": 3, "global_step": 1234, "state_dict": state, **extra}, path)


def _inputs(height: int = 37, width: int = 53, seed: int = 1) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, height, width, generator=generator)
    mask = (torch.rand(2, 1, height, width, generator=generator) > 0.7).float()
    return image, mask


def test_big_lama_has_the_official_parameter_names_and_shapes():
    with torch.device("meta"):
        model = LamaGenerator()
    state = model.state_dict()
    assert len(state) == 989 and MODELS.get("lama") is LamaGenerator
    expected = {
        "model.1.ffc.convl2l.weight": (64, 4, 7, 7),
        "model.1.bn_l.running_var": (64,),
        "model.4.ffc.convl2l.weight": (128, 256, 3, 3),
        "model.4.ffc.convl2g.weight": (384, 256, 3, 3),
        "model.4.bn_g.weight": (384,),
        "model.5.conv1.ffc.convg2l.weight": (128, 384, 3, 3),
        "model.5.conv1.ffc.convg2g.conv1.0.weight": (192, 384, 1, 1),
        "model.5.conv1.ffc.convg2g.conv1.1.num_batches_tracked": (),
        "model.5.conv1.ffc.convg2g.fu.conv_layer.weight": (384, 384, 1, 1),
        "model.22.conv2.ffc.convg2g.conv2.weight": (384, 192, 1, 1),
        "model.24.weight": (512, 256, 3, 3),
        "model.31.running_mean": (64,),
        "model.34.weight": (3, 64, 7, 7),
        "model.34.bias": (3,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(key.startswith("model.23.") or key.startswith("model.35.") for key in state)


def test_fourier_unit_matches_its_explicit_form():
    torch.manual_seed(0)
    unit = FourierUnit(2, 3).eval().double()
    x = torch.rand(1, 2, 6, 7, dtype=torch.float64)
    spectrum = torch.fft.rfft2(x, norm="ortho")
    channels = []
    for c in range(2):
        channels += [spectrum.real[:, c], spectrum.imag[:, c]]
    mixed = torch.relu(unit.bn(unit.conv_layer(torch.stack(channels, 1))))
    expected = torch.fft.irfft2(torch.complex(mixed[:, 0::2], mixed[:, 1::2]), s=(6, 7), norm="ortho")
    assert torch.allclose(unit(x), expected, atol=1e-12)


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (5, 3)])
def test_output_keeps_any_size_and_the_known_pixels(size):
    model = _randomised(TINY)
    image, mask = _inputs(*size)
    with torch.no_grad():
        out = model(image, mask)
        features = model.front(image, mask)
        raw = model.rear(features)
    assert out.shape == image.shape and raw.shape == image.shape
    assert features.latent[0].shape[-2:] == features.latent[1].shape[-2:]
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert torch.equal(out, image * (1 - mask) + raw * mask)  # forward is the front/rear composite
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    with torch.no_grad():  # hole content is never seen
        assert torch.equal(model(image + mask, mask), out)


def test_tiny_official_checkpoint_imports_and_reproduces_its_model(tmp_path, capsys):
    model = _randomised(TINY)
    checkpoint = tmp_path / "best.ckpt"
    # a pickled object beyond tensors (Lightning keeps hyper-parameters and callbacks) takes the tolerant path
    _official_checkpoint(model, checkpoint, hyper_parameters=argparse.Namespace(ngf=4))
    output = tmp_path / "out" / "tiny-lama.safetensors"
    assert main(["models", "import-lama", str(checkpoint), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    loaded, manifest = load_model(output)
    assert manifest["model"] == "lama" and manifest["config"] == dataclasses.asdict(TINY)
    assert manifest["training"]["source"] == "best.ckpt" and manifest["training"]["steps"] == 1234
    assert manifest["pad_multiple"] == 8
    assert set(loaded.state_dict()) == set(model.state_dict())  # discriminator and loss tensors left out
    image, mask = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(image, mask), model(image, mask))
    assert main(["models", str(output)]) == 0  # the listing still works, and shows it
    assert "lama" in capsys.readouterr().out


def test_config_is_inferred_from_tensor_shapes(tmp_path):
    config = LamaConfig(width=2, downsamplings=2, blocks=3, max_width=6, global_ratio=0.5)
    model = _randomised(config)
    _official_checkpoint(model, tmp_path / "best.ckpt")
    state = read_checkpoint(tmp_path / "best.ckpt")["state_dict"]
    assert lama_config_from_state({k[10:]: v for k, v in state.items() if k.startswith("generator.")}) == config
    manifest = import_lama(tmp_path / "best.ckpt", tmp_path / "w.safetensors")
    assert manifest["config"]["blocks"] == 3 and manifest["config"]["max_width"] == 6


def test_bad_checkpoints_are_readable_errors(tmp_path, capsys):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    assert main(["models", "import-lama", str(garbage), "-o", str(tmp_path / "x.safetensors")]) == 1
    assert "cannot read checkpoint" in capsys.readouterr().err
    torch.save({"state_dict": {"discriminator.w": torch.zeros(1)}}, tmp_path / "nogen.ckpt")
    with pytest.raises(InputError, match="generator"):
        import_lama(tmp_path / "nogen.ckpt", tmp_path / "x.safetensors")
    assert main(["models", "import-lama", str(tmp_path / "missing.ckpt")]) == 1
    assert "usage" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()


def test_lama_filler_needs_weights_and_fills(tmp_path):
    with pytest.raises(InputError, match="import-lama"):
        FILLERS.build("lama")
    with pytest.raises(InputError, match="do not exist"):
        FILLERS.build("lama", weights=str(tmp_path / "missing.safetensors"))
    path = tmp_path / "tiny.safetensors"
    save_weights(_randomised(TINY), "lama", path, {"source": "test"}, {})
    filler = FILLERS.build("lama", weights=str(path), size=16)
    rng = np.random.default_rng(0)
    image = rng.random((29, 41, 3)).astype(np.float32)
    mask = np.zeros((29, 41), bool)
    mask[8:20, 10:30] = True
    image[mask] = 0.0
    filled = filler.fill(image, mask).image
    assert filled.shape == image.shape and filled.dtype == np.float32
    assert np.array_equal(filled[~mask], image[~mask]) and filled[mask].std() > 0


class _Payload:
    """Pickles as a call that would write a file: the tolerant reader must never make it."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_checkpoints_are_read_without_running_pickled_code(tmp_path):
    model = _randomised(TINY)
    marker = tmp_path / "ran"
    _official_checkpoint(model, tmp_path / "best.ckpt", callbacks={"evil": _Payload(marker)})
    manifest = import_lama(tmp_path / "best.ckpt", tmp_path / "w.safetensors")
    assert manifest["model"] == "lama" and not marker.exists()
