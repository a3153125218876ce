"""The public Python API: its names and signatures are frozen here, and it takes numpy and PIL images alike."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import hrinpaint
from hrinpaint.errors import InputError
from hrinpaint.methods import DEFAULT_METHOD

# Changing any of these is an API change: update the README and this test together.
PUBLIC_NAMES = ["Inpainter", "__version__", "inpaint", "methods"]
SIGNATURES = {
    "inpaint": "(image: 'Any', mask: 'Any', method: 'str | None' = None, *, filler: 'dict[str, Any] | None' = None, "
    "lifter: 'dict[str, Any] | None' = None, device: 'str' = 'auto', half: 'bool' = False, **options: 'Any') "
    "-> 'Any'",
    "Inpainter.from_method": "(method: 'str | None' = None, filler: 'dict[str, Any] | None' = None, "
    "lifter: 'dict[str, Any] | None' = None, *, device: 'str' = 'auto', half: 'bool' = False, threads: 'int' = 0, "
    "**options: 'Any') -> 'Inpainter'",
    "Inpainter.__call__": "(self, image: 'Any', mask: 'Any', progress: 'ProgressCallback | None' = None) -> 'Any'",
    "methods": "() -> 'list[MethodInfo]'",
}


def test_public_names_and_signatures_are_frozen():
    assert sorted(hrinpaint.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(hrinpaint, name) is not None
    found = {
        "inpaint": inspect.signature(hrinpaint.inpaint),
        "Inpainter.from_method": inspect.signature(hrinpaint.Inpainter.from_method),
        "Inpainter.__call__": inspect.signature(hrinpaint.Inpainter.__call__),
        "methods": inspect.signature(hrinpaint.methods),
    }
    assert {name: str(signature) for name, signature in found.items()} == SIGNATURES


def test_import_loads_no_method_and_no_torch():
    code = "import sys, hrinpaint; print(sorted(m for m in ('torch', 'cv2', 'numba', 'fastapi') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_methods_lists_every_method_with_its_parts_options_and_extra():
    listed = {method.name: method for method in hrinpaint.methods()}
    assert [name for name, method in listed.items() if method.default] == [DEFAULT_METHOD]
    assert listed["refine"].alias_of == "hifill+refine"
    telea = listed["telea+cra"]
    assert telea.needs is None and telea.available
    assert {"radius"} <= {option.name for option in telea.filler.options}
    hifill = listed["hifill+upsample"]
    assert hifill.needs == "nn"
    options = {option.name: option.default for option in hifill.filler.options}
    assert options["device"] == "auto" and options["half"] is False
    assert listed["telea+shift"].needs == "nn"  # the lifter decides


def scene(height: int = 37, width: int = 53) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack([rows * 4, cols * 3, (rows + cols) * 2], axis=2) % 256 + rng.integers(0, 8, (height, width, 3))
    mask = np.zeros((height, width), bool)
    mask[10:20, 15:30] = True
    return np.clip(rgb, 0, 255).astype(np.uint8), mask


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "P", "CMYK"])
def test_pil_in_pil_out_only_the_hole_changes(mode):
    rgb, hole = scene()
    if mode == "RGBA":
        alpha = (np.arange(rgb.shape[1]) * 4 % 256).astype(np.uint8)[None].repeat(rgb.shape[0], 0)
        image = Image.fromarray(np.dstack([rgb, alpha]))
    elif mode == "I;16":
        image = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    else:
        image = Image.fromarray(rgb).convert(mode)
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    result = hrinpaint.inpaint(image, mask, method="telea+upsample")
    expected_mode = {"P": "RGB", "CMYK": "RGB"}.get(mode, mode)
    assert isinstance(result, Image.Image) and result.mode == expected_mode and result.size == image.size
    before = np.asarray(image if mode not in ("P", "CMYK") else image.convert("RGB"))
    after = np.asarray(result)
    assert after.dtype == before.dtype
    assert np.array_equal(after[~hole], before[~hole])
    changed = np.any(after != before, axis=2) if after.ndim == 3 else after != before
    assert changed[hole].mean() > 0.5  # the hole was filled, not copied
    if mode in ("RGBA", "LA"):
        assert np.array_equal(after[..., -1], before[..., -1])  # alpha passed through, hole included


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("layout", ["grey", "grey1", "grey_alpha", "rgba"])
def test_numpy_layouts_come_back_the_same(dtype, layout):
    rgb, hole = scene()
    scale = {np.uint8: 1, np.uint16: 257}.get(dtype)
    rgb = (rgb.astype(np.uint32) * scale).astype(dtype) if scale else (rgb / 255).astype(dtype)
    alpha = rgb[:, :, 1:2][:, ::-1]
    image = {
        "grey": rgb[:, :, 0],
        "grey1": rgb[:, :, :1],
        "grey_alpha": np.concatenate([rgb[:, :, :1], alpha], axis=2),
        "rgba": np.concatenate([rgb, alpha], axis=2),
    }[layout]
    result = hrinpaint.inpaint(image, hole, method="telea+upsample")
    assert result.shape == image.shape and result.dtype == image.dtype
    assert np.array_equal(result[~hole], image[~hole])
    assert not np.array_equal(result[hole], image[hole])
    if layout in ("grey_alpha", "rgba"):
        assert np.array_equal(result[..., -1], image[..., -1])


def test_grey_fill_matches_the_rgb_fill_of_its_three_equal_channels():
    rgb, hole = scene()
    grey = rgb[:, :, 0]
    inpainter = hrinpaint.Inpainter.from_method("telea+upsample")
    as_rgb = inpainter(np.repeat(grey[:, :, None], 3, axis=2), hole)
    expected = np.rint(as_rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
    assert np.array_equal(inpainter(grey, hole), expected)


def test_grown_hole_of_a_grey_image_is_filled_too():
    rgb, hole = scene()
    grey = rgb[:, :, 0]
    result = hrinpaint.inpaint(grey, hole, method="telea+upsample", grow=3)
    band = np.zeros_like(hole)
    band[7:23, 12:33] = True
    band &= ~hole
    assert (result[band] != grey[band]).any()


def test_inpainter_is_reusable_and_takes_part_options():
    inpainter = hrinpaint.Inpainter.from_method("telea+upsample", filler={"radius": 7}, working_size=32)
    assert inpainter.filler.config.radius == 7 and inpainter.options.working_size == 32
    assert inpainter.device is None  # no network
    rgb, hole = scene()
    first, second = inpainter(rgb, hole), inpainter(Image.fromarray(rgb), Image.fromarray(hole))
    assert np.array_equal(first, np.asarray(second))


def test_old_config_keywords_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning, match="filler="):
        inpainter = hrinpaint.Inpainter.from_method("telea+upsample", filler_config={"radius": 2})
    assert inpainter.filler.config.radius == 2


def test_bad_inputs_are_one_line_errors():
    rgb, hole = scene()
    with pytest.raises(InputError, match="numpy array or a PIL image"):
        hrinpaint.inpaint(rgb.tolist(), hole)
    with pytest.raises(InputError, match="got shape"):
        hrinpaint.inpaint(np.zeros((8, 8, 5), np.uint8), np.ones((8, 8), bool))
    with pytest.raises(InputError, match="32-bit"):
        hrinpaint.inpaint(Image.fromarray(rgb[:, :, 0].astype(np.int32) * 1000), Image.fromarray(hole))
    with pytest.raises(InputError, match="does not match"):
        hrinpaint.inpaint(Image.fromarray(rgb), Image.fromarray(hole[:-1]))
