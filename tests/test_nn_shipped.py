"""The shipped networks load with the keys they were saved with and fill as they did when they were exported.

``EXPECTED`` holds values the four shipped generators computed on a fixed input before their code was
restructured (issue 19: shared stages in ``nn/blocks.py``, HiFill's input from ``network_input``). A change that
renames a parameter fails the load; one that changes what a layer computes moves these values by far more than
the tolerance, which only absorbs how float32 kernels round on other CPUs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hrinpaint  # noqa: E402
from hrinpaint.nn.weights import load_model  # noqa: E402

WEIGHTS = Path(hrinpaint.__file__).parent / "weights"
NETWORKS = ("hifill", "zoom", "pyramid", "shift")

#: Pixels sampled from each output (rows, columns), all inside the hole.
SAMPLES = ((10, 17), (14, 30), (21, 22), (27, 38), (12, 41), (25, 15), (6, 50), (7, 55))

#: Per network: the sum of the output over the hole (float64) and the sampled pixels' RGB, computed by the code
#: before the issue-19 restructuring.
EXPECTED = {
    "hifill": (
        1321.1230188310146,
        [
            [0.668678, 0.757878, 0.921318],
            [0.53852, 0.555483, 0.603334],
            [0.650944, 0.776294, 0.295996],
            [0.215896, 0.362736, 0.3217],
            [0.196222, 0.385708, 0.250895],
            [0.585955, 0.75741, 0.702889],
            [0.231925, 0.252287, 0.15216],
            [0.345568, 0.378224, 0.147562],
        ],
    ),
    "zoom": (
        1321.4105286141858,
        [
            [0.679243, 0.73452, 0.878342],
            [0.578742, 0.573416, 0.599148],
            [0.656632, 0.706533, 0.327494],
            [0.264593, 0.359432, 0.317294],
            [0.194218, 0.320686, 0.280642],
            [0.592318, 0.730234, 0.704291],
            [0.208693, 0.213064, 0.172553],
            [0.282837, 0.34178, 0.185292],
        ],
    ),
    "pyramid": (
        1267.339050129056,
        [
            [0.491291, 0.493777, 0.49477],
            [0.48192, 0.482102, 0.483251],
            [0.495009, 0.497555, 0.497618],
            [0.462306, 0.465317, 0.461736],
            [0.4688, 0.464474, 0.469735],
            [0.522555, 0.527381, 0.515662],
            [0.488092, 0.482549, 0.474845],
            [0.443216, 0.442332, 0.438762],
        ],
    ),
    "shift": (
        1326.9147887901636,
        [
            [0.650918, 0.740272, 0.90818],
            [0.541965, 0.557122, 0.6071],
            [0.645026, 0.763439, 0.287966],
            [0.231048, 0.37731, 0.33245],
            [0.210579, 0.396909, 0.263627],
            [0.576691, 0.745954, 0.694098],
            [0.232418, 0.249373, 0.150696],
            [0.338422, 0.374723, 0.1455],
        ],
    ),
}


def fixed_input() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 45 x 61 noisy gradient with its hole zeroed, a mask of two boxes (1 = hole) and a prefill: the whole
    gradient mirrored left to right."""
    rng = np.random.default_rng(19)
    ramp = np.linspace(0.1, 0.9, 61, dtype=np.float32)[None, :, None] * np.ones((45, 1, 3), np.float32)
    image = np.clip(ramp + rng.normal(0.0, 0.15, (45, 61, 3)).astype(np.float32), 0.0, 1.0)
    mask = np.zeros((45, 61), np.float32)
    mask[5:30, 12:45] = 1.0
    mask[4:9, 48:58] = 1.0
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    mask_t = torch.from_numpy(mask)[None, None]
    return image_t * (1.0 - mask_t), mask_t, image_t.flip(-1)


def fill(name: str, model: torch.nn.Module) -> torch.Tensor:
    """The network's ``B x 3 x H x W`` output on :func:`fixed_input`."""
    image, mask, prefill = fixed_input()
    with torch.no_grad():
        if name == "pyramid":
            return model(image, mask, lambda level, level_mask: level + 0.5 * level_mask).image  # grey at every level
        if name == "shift":
            return model.refine(image * (1.0 - mask) + prefill * mask, mask)
        return model(image, mask, prefill).image


def digest(name: str) -> tuple[float, list[list[float]]]:
    """What ``EXPECTED`` records for network ``name``, computed by the code in this checkout."""
    model, _ = load_model(WEIGHTS / f"{name}.safetensors")
    out = fill(name, model)[0].permute(1, 2, 0).double().numpy()
    hole = fixed_input()[1][0, 0].numpy() > 0.5
    return float(out[hole].sum()), [[round(float(v), 6) for v in out[r, c]] for r, c in SAMPLES]


@pytest.mark.parametrize("name", NETWORKS)
def test_shipped_weights_have_exactly_the_keys_of_the_model_they_describe(name):
    from safetensors import safe_open

    model, manifest = load_model(WEIGHTS / f"{name}.safetensors")
    with safe_open(str(WEIGHTS / f"{name}.safetensors"), "pt") as handle:
        stored = set(handle.keys())
    assert manifest["model"] == name
    assert stored == set(model.state_dict())


@pytest.mark.parametrize("name", NETWORKS)
def test_shipped_networks_fill_as_they_did_before_the_restructuring(name):
    total, pixels = digest(name)
    expected_total, expected_pixels = EXPECTED[name]
    hole = fixed_input()[1][0, 0]
    assert all(hole[r, c] > 0.5 for r, c in SAMPLES)
    np.testing.assert_allclose(pixels, expected_pixels, rtol=0, atol=2e-5)
    assert total == pytest.approx(expected_total, abs=2e-3)  # 875 hole pixels x 3 channels
