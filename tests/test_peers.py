"""Benchmark peers: the canonical contract, a flat fill, and the optional packages' import and error path."""

import subprocess
import sys
import types

import numpy as np
import pytest

from hrinpaint.errors import InputError
from hrinpaint.eval import peers
from hrinpaint.eval.peers import PEERS

#: Peers from optional packages (the ``bench`` extra): peer name -> the module it imports.
OPTIONAL_MODULES = {"pypatchmatch": "patchmatch", "patchmatch-cython": "patchmatch_cython"}

FLAT = np.array([0.2, 0.5, 0.8], np.float32)


def require(name: str) -> None:
    if name in OPTIONAL_MODULES:
        pytest.importorskip(OPTIONAL_MODULES[name])


def flat_with_hole(height: int = 37, width: int = 53) -> tuple[np.ndarray, np.ndarray]:
    """A flat image whose hole is zeroed, as the benchmark hands it to a peer."""
    image = np.broadcast_to(FLAT, (height, width, 3)).copy()
    hole = np.zeros((height, width), bool)
    hole[12:25, 20:34] = True
    image[hole] = 0.0
    return image, hole


def test_peers_is_a_plain_dict_of_functions_with_the_patchmatch_peers():
    assert type(PEERS) is dict
    assert {"pypatchmatch", "patchmatch-cython"} <= set(PEERS)
    assert all(callable(fn) for fn in PEERS.values())


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_keeps_shape_dtype_and_range(name):
    require(name)
    rng = np.random.default_rng(0)
    image = rng.random((37, 53, 3), dtype=np.float32)
    hole = np.zeros((37, 53), bool)
    hole[10:21, 15:30] = True
    image[hole] = 0.0
    result = PEERS[name](image, hole)
    assert result.shape == image.shape
    assert result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_fills_a_flat_image_with_its_colour(name):
    require(name)
    image, hole = flat_with_hole()
    result = PEERS[name](image, hole)
    np.testing.assert_allclose(result[hole].mean(axis=0), FLAT, atol=0.02)
    assert np.abs(result[hole] - FLAT).max() < 0.05


def test_importing_peers_does_not_import_the_optional_packages():
    modules = ", ".join(repr(module) for module in OPTIONAL_MODULES.values())
    code = f"import sys, hrinpaint.eval.peers; print([m for m in ({modules},) if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", sorted(OPTIONAL_MODULES))
def test_missing_package_is_an_input_error_that_says_how_to_install(name, monkeypatch):
    monkeypatch.setitem(sys.modules, OPTIONAL_MODULES[name], None)  # None in sys.modules makes the import fail
    image, hole = flat_with_hole()
    with pytest.raises(InputError) as caught:
        PEERS[name](image, hole)
    assert str(caught.value) == f"peer '{name}' needs the package '{name}' (pip install -e \".[bench]\")"


def test_pypatchmatch_without_its_native_library_is_an_input_error(monkeypatch):
    # the real package imports without its library and only logs a warning; this stands in for that state
    monkeypatch.setitem(sys.modules, "patchmatch", types.SimpleNamespace(patchmatch_available=False))
    image, hole = flat_with_hole()
    with pytest.raises(InputError, match="native library"):
        peers.pypatchmatch(image, hole)
