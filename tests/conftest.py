"""Shared fixtures: torch on one thread for every test (tiny networks, small CI machines), a slow test filler."""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest


class SlowFiller:
    """A filler that takes ``seconds`` in short sleeps (test only): a job that can only end by being stopped.

    ``running`` counts fills in progress, so a test can tell a stopped job from an abandoned one.
    """

    running = 0
    started = threading.Event()
    _lock = threading.Lock()

    @dataclass(frozen=True)
    class Config:
        """Attributes:
        seconds: how long a fill takes.
        """

        seconds: float = 60.0

    def __init__(self, config: SlowFiller.Config | None = None) -> None:
        self.config = config or SlowFiller.Config()

    def fill(self, image: np.ndarray, mask: np.ndarray):
        from hrinpaint.fillers.base import FillResult

        with SlowFiller._lock:
            SlowFiller.running += 1
        SlowFiller.started.set()
        try:
            end = time.monotonic() + self.config.seconds
            while time.monotonic() < end:
                time.sleep(0.005)
            return FillResult(image.copy())
        finally:
            with SlowFiller._lock:
                SlowFiller.running -= 1


@pytest.fixture(scope="module")
def slow_method():
    """Registers the ``slowtest`` filler while one test module runs; yields the method name."""
    from hrinpaint.fillers import FILLERS

    FILLERS.register("slowtest", SlowFiller, "test only: a fill that takes a minute")
    try:
        yield "slowtest+upsample"
    finally:
        FILLERS._entries.pop("slowtest", None)
        FILLERS._help.pop("slowtest", None)


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
