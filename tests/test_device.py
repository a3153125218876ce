"""Devices: selection (auto = CUDA, then MPS, then CPU), half precision only off the CPU, threads scoped to a call,
networks loaded once per device in a bounded cache; and, where a CUDA GPU is present, every network method on it."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint import device as devices  # noqa: E402
from hrinpaint.cli import main  # noqa: E402
from hrinpaint.errors import ConfigError, InputError  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.weights import save_weights  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402

TINY = HiFillConfig(width=4, coarse_dilations=(1, 2), refine_dilations=(2,))


@pytest.fixture
def tiny_weights(tmp_path):
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        path = tmp_path / f"tiny{seed}.safetensors"
        save_weights(HiFillGenerator(TINY), "hifill", path, {"resolution": 32, "steps": 0}, {})
        paths.append(path)
    return paths


def case(height: int = 41, width: int = 57) -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    mask = np.zeros((height, width), bool)
    mask[12:30, 20:40] = True
    return image, mask


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "mps", "cuda:0", "cuda:12"])
def test_device_names_accepted(name):
    assert devices.check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:x", "cpu:0", "mps:1", ""])
def test_unknown_device_names_are_one_line_errors(name):
    with pytest.raises(ConfigError, match="unknown device"):
        devices.check_device_name(name)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda _: False)
    assert devices.resolve_device("auto").type == "cpu"
    assert devices.describe_device("auto") == "device: cpu (auto: no CUDA or MPS device found)"
    monkeypatch.setattr(devices, "_mps_available", lambda _: True)
    assert devices.resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto").type == "cuda"
    assert devices.resolve_device("cpu").type == "cpu"


def test_a_missing_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda _: False)
    with pytest.raises(InputError, match="sees no CUDA GPU"):
        devices.resolve_device("cuda")
    with pytest.raises(InputError, match="no Apple GPU"):
        devices.resolve_device("mps")


def test_half_precision_only_off_the_cpu():
    assert not devices.half_precision(torch.device("cpu"), True)
    assert devices.half_precision(torch.device("cuda"), True)
    assert not devices.half_precision(torch.device("cuda"), False)


def test_threads_are_scoped_to_the_call():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with devices.torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), devices.torch_threads(target):
        raise RuntimeError("the setting comes back on errors too")
    assert torch.get_num_threads() == before


def test_a_network_fill_leaves_the_host_thread_setting_alone(tiny_weights):
    before = torch.get_num_threads()
    threads = 1 if before != 1 else 2
    inpainter = Inpainter.from_method("hifill+upsample", {"weights": str(tiny_weights[0])}, threads=threads)
    assert inpainter.filler.config.threads == threads
    inpainter(*case())
    assert torch.get_num_threads() == before


def test_cache_loads_once_per_device_and_stays_bounded(tiny_weights):
    cache = devices.ModelCache(size=2)
    first, _ = cache.load(tiny_weights[0], "hifill", "cpu")
    assert cache.load(tiny_weights[0], "hifill", "cpu")[0] is first
    assert cache.load(tiny_weights[0], "hifill", "cpu", half=True)[0] is first  # half is off on the CPU
    assert next(first.parameters()).dtype == torch.float32
    cache.load(tiny_weights[1], "hifill", "cpu")
    cache.load(tiny_weights[2], "hifill", "cpu")
    assert len(cache) == 2 and str(tiny_weights[0].resolve()) not in {key[0] for key in cache.keys()}
    assert cache.load(tiny_weights[0], "hifill", "cpu")[0] is not first  # evicted, loaded again
    with pytest.raises(InputError, match="not zoom"):
        cache.load(tiny_weights[0], "zoom", "cpu")


def test_cache_loads_a_weights_file_again_when_it_is_rewritten(tiny_weights, tmp_path):
    import os
    import shutil

    cache = devices.ModelCache(size=2)
    path = tmp_path / "exported.safetensors"
    shutil.copy(tiny_weights[0], path)
    shutil.copy(tiny_weights[0].with_suffix(".json"), path.with_suffix(".json"))
    first, _ = cache.load(path, "hifill", "cpu")
    assert cache.load(path, "hifill", "cpu")[0] is first
    shutil.copy(tiny_weights[1], path)  # exported again at the same path
    shutil.copy(tiny_weights[1].with_suffix(".json"), path.with_suffix(".json"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again, _ = cache.load(path, "hifill", "cpu")
    assert again is not first and len(cache) == 1


def test_inpainters_share_the_loaded_network(tiny_weights):
    config = {"weights": str(tiny_weights[0])}
    first = Inpainter.from_method("hifill+upsample", config, device="cpu")
    second = Inpainter.from_method("hifill+cra", config, device="cpu")
    assert first.filler.model is second.filler.model


def test_from_method_passes_the_device_down(tiny_weights, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda _: False)
    inpainter = Inpainter.from_method("hifill+refine", {"weights": str(tiny_weights[0])}, device="auto", half=True)
    assert inpainter.device == "cpu" and inpainter.filler.config.device == "cpu"
    assert inpainter.filler.config.half is False  # refine optimises the filler's features in float32
    assert next(inpainter.filler.model.parameters()).device.type == "cpu"
    plain = Inpainter.from_method("telea+upsample", device="cuda")  # no network: the device is not looked at
    assert plain.device is None
    with pytest.raises(InputError, match="sees no CUDA GPU"):
        Inpainter.from_method("hifill+upsample", {"weights": str(tiny_weights[0])}, device="cuda")


def test_cli_verbose_says_auto_picked_the_cpu(tmp_path, capsys, monkeypatch):
    from hrinpaint import io

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda _: False)
    image, mask = case()
    io.write_image(tmp_path / "photo.png", (image * 255).astype(np.uint8), io.ImageInfo())
    io.write_image(tmp_path / "mask.png", np.repeat(mask[..., None] * np.uint8(255), 3, axis=2), io.ImageInfo())
    args = [str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "-o", str(tmp_path / "out.png")]
    assert main(["inpaint", *args, "--method", "pyramid", "--device", "auto", "--verbose"]) == 0
    from hrinpaint.methods import resolve_method

    name = resolve_method("pyramid").name  # a network filler takes the default's lifter
    assert f"{name}: device cpu (auto: no CUDA or MPS device found), float32" in capsys.readouterr().err
    assert main(["inpaint", *args, "--overwrite", "--device", "cuda", "--method", "hifill"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line


GPU_METHODS = ["hifill+cra", "zoom+cra", "pyramid+cra", "telea+shift", "hifill+refine"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
@pytest.mark.parametrize("method", GPU_METHODS)
def test_network_methods_on_cuda_match_the_cpu(method):
    """Each shipped network method on CUDA (float32 and float16) against the CPU: known pixels exact, the hole
    within 35 dB of the CPU's fill; prints the times."""
    rng = np.random.default_rng(1)
    image = rng.random((768, 1024, 3), dtype=np.float32)
    image = np.clip(image * 0.2 + np.linspace(0, 0.8, 1024, dtype=np.float32)[None, :, None], 0, 1)
    mask = np.zeros(image.shape[:2], bool)
    mask[200:500, 300:700] = True
    reference = Inpainter.from_method(method, device="cpu")(image, mask)
    for half in (False, True):
        inpainter = Inpainter.from_method(method, device="cuda", half=half)
        assert inpainter.device == "cuda"
        inpainter(image, mask)  # warm-up: kernels, caches
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = inpainter(image, mask)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        assert np.array_equal(result[~mask], image[~mask])
        error = float(np.mean((result[mask] - reference[mask]) ** 2))
        psnr = 10 * np.log10(1 / max(error, 1e-12))
        print(f"{method} cuda half={half}: {seconds:.3f} s, hole PSNR against the CPU {psnr:.1f} dB")
        assert psnr > 35
