"""Shared test set-up: torch works on one thread (the networks in the tests are tiny, and CI machines are small)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Every test runs torch on one thread; the host's setting is restored at the end. Skipped without torch."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tile_photos(tmp_path_factory):
    """Three small photos of coloured tiles with grain (edges and texture for PatchMatch to continue)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("tiles")
    rng = np.random.default_rng(0)
    for index in range(3):
        tiles = rng.integers(0, 255, (6, 8, 3))
        pixels = np.kron(tiles, np.ones((16, 16, 1))) * 0.8 + rng.integers(0, 50, (96, 128, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"p{index}.png")
    return folder
