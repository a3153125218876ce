"""The contract every method keeps, walked over every registered filler x lifter (as timm walks ``list_models()``).

For each combination: known pixels bit-exact, shape and dtype kept, the same output on a second call, odd sizes,
an empty and a one-pixel hole, and a region large enough that the lifter really lifts (working size below the
region). A combination that cannot run refuses in one line with an :class:`InpaintError`; the refusals are listed
here, so a new refusal (or a method that silently stopped importing) fails this test.
"""

from __future__ import annotations

import numpy as np
import pytest

from hrinpaint.errors import InpaintError
from hrinpaint.fillers import FILLERS
from hrinpaint.lifters import LIFTERS
from hrinpaint.methods import available_methods, resolve_method
from hrinpaint.pipeline import Inpainter

torch = pytest.importorskip("torch")

#: Fillers whose generator declares the front/rear split that ``refine`` optimises.
_REFINABLE = {"hifill", "lama"}


@pytest.fixture(scope="module")
def tiny_lama(tmp_path_factory) -> str:
    """Tiny LaMa weights in the shipped safetensors format (no LaMa weights ship with hrinpaint)."""
    from hrinpaint.nn.lama import LamaConfig, LamaGenerator
    from hrinpaint.nn.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lama") / "tiny-lama.safetensors"
    save_weights(LamaGenerator(LamaConfig(width=4, blocks=1)).eval(), "lama", path, {"source": "test"}, {})
    return str(path)


def _build(filler: str, lifter: str, tiny_lama: str, working_size: int = 32) -> Inpainter:
    filler_config = {"weights": tiny_lama, "size": 16} if filler == "lama" else {}
    return Inpainter.from_method(f"{filler}+{lifter}", filler=filler_config, working_size=working_size)


def _photo(height: int, width: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A smooth gradient with texture, so that every filler has structure to continue."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([rows / height, cols / width, 0.5 + 0.3 * np.sin(cols / 3.0)], axis=-1)
    image = np.clip(base + 0.08 * rng.standard_normal((height, width, 3)), 0.0, 1.0).astype(np.float32)
    if dtype == np.uint8:
        return np.round(image * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.round(image * 65535).astype(np.uint16)
    return image.astype(dtype)


COMBINATIONS = [(filler, lifter) for filler in FILLERS.names() for lifter in LIFTERS.names()]


def test_every_registered_part_imports_and_every_listed_method_resolves():
    for name in FILLERS.names():
        assert callable(FILLERS.get(name)), name
    for name in LIFTERS.names():
        assert callable(LIFTERS.get(name)), name
    for name in available_methods():
        spec = resolve_method(name)
        assert spec.filler in FILLERS and spec.lifter in LIFTERS


@pytest.mark.parametrize(("filler", "lifter"), COMBINATIONS, ids=[f"{f}+{l}" for f, l in COMBINATIONS])
def test_every_method_keeps_the_contract(filler, lifter, tiny_lama):
    if lifter == "refine" and filler not in _REFINABLE:
        with pytest.raises(InpaintError, match="front/rear split") as refused:
            _build(filler, lifter, tiny_lama)(_photo(40, 40), np.pad(np.ones((4, 4), bool), 18))
        assert "\n" not in str(refused.value)
        return
    inpainter = _build(filler, lifter, tiny_lama)

    # An odd-sized uint8 photo whose region is larger than the working size: the lifter lifts.
    image = _photo(67, 45)
    mask = np.zeros(image.shape[:2], bool)
    mask[20:41, 12:31] = True
    first = inpainter(image, mask)
    assert first.shape == image.shape and first.dtype == image.dtype
    assert np.array_equal(first[~mask], image[~mask]), "a known pixel changed"
    assert not np.array_equal(first[mask], image[mask]), "the hole was not filled"
    assert np.array_equal(inpainter(image, mask), first), "not deterministic"

    # uint16 and float32 inputs keep their dtype and known pixels.
    for dtype in (np.uint16, np.float32):
        other = _photo(33, 51, dtype, seed=1)
        hole = np.zeros(other.shape[:2], bool)
        hole[10:19, 20:33] = True
        filled = inpainter(other, hole)
        assert filled.dtype == other.dtype and np.array_equal(filled[~hole], other[~hole])
        assert np.isfinite(filled.astype(np.float64)).all()

    # An empty hole returns an equal copy; a one-pixel hole changes at most that pixel.
    assert np.array_equal(inpainter(image, np.zeros(image.shape[:2], bool)), image)
    dot = np.zeros(image.shape[:2], bool)
    dot[33, 22] = True
    filled = inpainter(image, dot)
    assert np.array_equal(filled[~dot], image[~dot])


def test_every_part_config_refuses_bad_values_with_a_config_error():
    """Built directly (not through the registry), a filler's or lifter's config still raises the one error type that
    every front end catches (ConfigError is an InpaintError and a ValueError)."""
    from hrinpaint.errors import ConfigError
    from hrinpaint.fillers.opencv import TeleaFiller
    from hrinpaint.fillers.patchmatch import PatchMatchConfig
    from hrinpaint.lifters.cra import CraConfig
    from hrinpaint.lifters.octave import OctaveConfig
    from hrinpaint.lifters.upsample import UpsampleConfig

    for build in (
        lambda: PatchMatchConfig(patch_size=4),
        lambda: TeleaFiller.Config(radius=-1),
        lambda: CraConfig(cells=0),
        lambda: OctaveConfig(vote="loudest"),
        lambda: UpsampleConfig(interpolation="nearest-ish"),
    ):
        with pytest.raises(ConfigError):
            build()
