"""Fixtures shared by test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Torch on one CPU thread for the test (restored after): tiny networks run no faster on more, and the
    machine is shared."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
