"""Network methods start from the default's fill and change only its low band: untrained, they are the default."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrinpaint.fillers.network import band_merge  # noqa: E402
from hrinpaint.lifters.refine import RefineConfig  # noqa: E402
from hrinpaint.nn.hifill import HiFillConfig, HiFillGenerator  # noqa: E402
from hrinpaint.nn.pyramid import PyramidConfig, PyramidGenerator  # noqa: E402
from hrinpaint.nn.shift import ShiftUNet, ShiftUNetConfig  # noqa: E402
from hrinpaint.nn.weights import save_weights  # noqa: E402
from hrinpaint.pipeline import Inpainter  # noqa: E402


def _silenced(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its output layers zeroed: a prefilled network that changes nothing (as one that learned
    nothing yet would, at the limit)."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "to_rgb" in name:
                parameter.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def silent(tmp_path_factory):
    folder = tmp_path_factory.mktemp("silent")
    torch.manual_seed(0)
    models = {
        "hifill": HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1,), refine_dilations=(2,), prefill="telea")),
        "pyramid": PyramidGenerator(
            PyramidConfig(width=4, bottom_dilations=(2, 3), upper_dilations=(2,), prefill="telea")
        ),
        "shift": ShiftUNet(ShiftUNetConfig(width=4, depth=2)),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = folder / f"{name}.safetensors"
        save_weights(_silenced(model), name, paths[name], {"resolution": 32}, {})
    return paths


def _photo(height: int = 90, width: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of random colour with grain over them (edges and texture for PatchMatch to continue), and a box."""
    rng = np.random.default_rng(5)
    tiles = rng.random((height // 15 + 1, width // 15 + 1, 3))
    picture = np.kron(tiles, np.ones((15, 15, 1)))[:height, :width] * 0.7 + rng.random((height, width, 3)) * 0.3
    hole = np.zeros((height, width), bool)
    hole[30:62, 40:85] = True
    return (picture * 255).round().astype(np.uint8), hole


def test_band_merge_keeps_the_base_texture_and_takes_the_change_below_the_gaussian():
    rng = np.random.default_rng(0)
    base = rng.random((80, 80, 3), dtype=np.float32) * 0.5 + 0.25
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    checker = (np.indices((80, 80)).sum(axis=0) % 2 * 0.2 - 0.1).astype(np.float32)[..., None]
    change = np.where(mask[..., None], 0.1 + checker, 0.0).repeat(3, axis=2).astype(np.float32)  # brighter, grain
    merged = band_merge(base, change, mask, 3.0)
    assert np.array_equal(merged[~mask], base[~mask])
    inner = (slice(32, 48), slice(32, 48))
    np.testing.assert_allclose((merged - base)[inner], 0.1, atol=0.01)  # the low band is taken
    # a change given at half the size comes back bilinearly, then low-passed the same way
    half = band_merge(base, change.reshape(40, 2, 40, 2, 3).mean(axis=(1, 3)), mask, 3.0)
    np.testing.assert_allclose((half - base)[inner], 0.1, atol=0.03)
    # sigma 0 is refused by the filler's config, not here; a wide Gaussian fades the change near the border
    assert np.abs(band_merge(base, change, mask, 12.0) - base)[inner].mean() < 0.1


@pytest.mark.parametrize("route", [{"low_band": "change"}, {"prefill": "patchmatch"}, {"gate": False, "weight": 0.0}])
@pytest.mark.parametrize(
    ("method", "filler", "lifter"),
    [
        ("hifill", "hifill", {}),
        ("pyramid", "pyramid", {}),
        ("shift", None, "shift"),
        ("hifill+refine", "hifill", {"iterations": 2, "max_side": 0, "min_side": 16}),
    ],
)
def test_a_network_that_changes_nothing_gives_exactly_the_default(silent, method, filler, lifter, route):
    """Zero correction is the default, pixel for pixel: a silent network measured against its own prefill, a
    silent network on the default's fill, or any network at weight 0."""
    image, mask = _photo()
    default = Inpainter.from_method(None, working_size=32)(image, mask)
    if lifter == "shift":
        if "prefill" in route:
            route = {"network_stage1": "stage1"}
        filler_config, lifter_config = {}, {"weights": str(silent["shift"]), **route}
        if "weight" in route:  # the lifter has no weight option: its gate closes on a silent network instead
            lifter_config = {"weights": str(silent["shift"]), "low_band": "change"}
    else:
        filler_config, lifter_config = {"weights": str(silent[filler]), **route}, lifter
    out = Inpainter.from_method(method, filler_config, lifter_config, working_size=32)(image, mask)
    assert np.array_equal(out, default)


def test_the_network_runs_on_the_prefill_its_weights_were_trained_on_and_its_low_band_replaces_the_default(silent):
    from hrinpaint.fillers.hifill import HiFillFiller, HiFillFillerConfig
    from hrinpaint.fillers.network import default_fill, low_band
    from hrinpaint.fillers.opencv import telea_prefill
    from hrinpaint.pixels import to_float

    picture, hole = _photo(48, 64)
    hole[:] = False
    hole[14:34, 20:44] = True
    image = np.where(hole[..., None], 0.0, to_float(picture)).astype(np.float32)
    config = {"weights": str(silent["hifill"]), "size": 0, "gate": False}
    filler = HiFillFiller(HiFillFillerConfig(**config))
    assert filler.prefill == "telea"  # the manifest's model config: what the weights were trained on
    assert HiFillFiller(HiFillFillerConfig(**config, prefill="patchmatch")).prefill == "patchmatch"
    filled = filler.fill(image, hole)
    base = default_fill(image, hole).image
    assert np.array_equal(filled.image, base)  # the default's fill is the base, lifted as the default lifts it
    # a silent network returns its Telea prefill, whose low band then replaces the default's
    band = HiFillFillerConfig().band
    expected = low_band(np.where(hole[..., None], telea_prefill(image, hole) - base, 0.0), hole, band)
    np.testing.assert_allclose(filled.correction, expected, atol=1e-5)
    assert np.abs(expected).max() > 0.01
    halved = HiFillFiller(HiFillFillerConfig(**config, weight=0.5)).fill(image, hole).correction
    np.testing.assert_allclose(halved, 0.5 * expected, atol=1e-5)
    changed = HiFillFiller(HiFillFillerConfig(**config, low_band="change")).fill(image, hole).correction
    assert np.abs(changed).max() < 1e-6, np.abs(changed).max()  # against its own prefill: nothing changed


def test_shift_refines_the_stage1_its_weights_were_trained_on(silent, tmp_path):
    import json

    from hrinpaint.lifters.shift import ShiftConfig, ShiftLifter

    assert ShiftLifter(ShiftConfig(weights=str(silent["shift"]))).network_stage1 == "telea"  # no record: Telea's
    manifest = json.loads(silent["shift"].with_suffix(".json").read_text())
    manifest["training"]["prefill"] = "default"
    (tmp_path / "shift.json").write_text(json.dumps(manifest))
    (tmp_path / "shift.safetensors").write_bytes(silent["shift"].read_bytes())
    assert ShiftLifter(ShiftConfig(weights=str(tmp_path / "shift.safetensors"))).network_stage1 == "stage1"
    overridden = ShiftConfig(weights=str(silent["shift"]), network_stage1="stage1")
    assert ShiftLifter(overridden).network_stage1 == "stage1"
    image, mask = _photo()
    default = Inpainter.from_method(None, working_size=32)(image, mask)
    replaced = Inpainter.from_method("shift", None, {"weights": str(silent["shift"]), "gate": False}, working_size=32)
    out = replaced(image, mask)  # the silent network returns Telea's stage 1, whose low band replaces the default's
    assert np.array_equal(out[~mask], image[~mask]) and not np.array_equal(out, default)


def test_a_network_that_changes_something_changes_the_hole_only(tmp_path):
    image, mask = _photo()
    default = Inpainter.from_method(None, working_size=32)(image, mask)
    torch.manual_seed(3)
    model = HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1,), refine_dilations=(2,), prefill="telea"))
    with torch.no_grad():  # a clearly non-zero change: the output layer's bias lifts every channel
        for name, parameter in model.named_parameters():
            if "to_rgb" in name and name.endswith("bias"):
                parameter.fill_(0.5)
    path = tmp_path / "loud.safetensors"
    save_weights(model.eval(), "hifill", path, {"resolution": 32}, {})
    for options in ({"band": 0, "gate": False}, {"gate": False}):
        changed = Inpainter.from_method("hifill", {"weights": str(path), **options}, working_size=32)(image, mask)
        assert np.array_equal(changed[~mask], image[~mask])
        assert not np.array_equal(changed[mask], default[mask]), options


def test_refine_optimises_at_least_two_levels_on_a_2048_px_photo(silent, tmp_path):
    torch.manual_seed(0)
    model = HiFillGenerator(HiFillConfig(width=4, coarse_dilations=(1,), refine_dilations=(2,), prefill="telea"))
    path = tmp_path / "hifill256.safetensors"
    save_weights(model.eval(), "hifill", path, {"resolution": 256}, {})
    rng = np.random.default_rng(1)
    image = (rng.random((1536, 2048, 3)) * 255).astype(np.uint8)
    mask = np.zeros((1536, 2048), bool)
    mask[500:1100, 700:1400] = True
    assert RefineConfig().max_side == 1024 and RefineConfig().iterations == 15  # the defaults this test relies on
    inpainter = Inpainter.from_method("hifill+refine", {"weights": str(path)}, {"iterations": 1})
    steps = []
    inpainter.lifter.progress = steps.append
    out = inpainter(image, mask)
    optimised = sorted({step.shape for step in steps if step.iteration > 0})
    assert len(optimised) >= 2 and optimised[-1] == (768, 1024)
    assert np.array_equal(out[~mask], image[~mask])


def test_a_level_one_pixel_off_the_working_size_takes_the_working_fill():
    from hrinpaint.fillers.network import on_hole

    rng = np.random.default_rng(0)
    fill = rng.random((463, 512, 3), dtype=np.float32)  # the working fill
    level = rng.random((464, 512, 3), dtype=np.float32)  # a level whose rounding differs by one row
    mask = np.zeros((464, 512), bool)
    mask[100:200, 100:200] = True
    out = on_hole(fill, level, mask)
    assert out.shape == level.shape and np.array_equal(out[~mask], level[~mask])
    assert np.abs(out[mask] - fill[100:200, 100:200].reshape(-1, 3)).mean() < 0.3


def test_a_fill_correction_is_added_after_lifting_whatever_the_lifter(silent):
    from hrinpaint.fillers.base import FillResult
    from hrinpaint.fillers.patchmatch import PatchMatchFiller
    from hrinpaint.lifters.cra import CraLifter
    from hrinpaint.lifters.shift import ShiftConfig, ShiftLifter
    from hrinpaint.lifters.upsample import UpsampleLifter
    from hrinpaint.pipeline import PipelineOptions

    class Brighter:  # the default's fill, corrected by +0.1 in the hole
        def fill(self, image, mask):
            filled = PatchMatchFiller().fill(image, mask)
            return FillResult(filled.image, filled.attention, np.where(mask[..., None], 0.1, 0.0).astype(np.float32))

    image, mask = _photo()
    options = PipelineOptions(working_size=32)
    # shift with a silent network on its stage 1: the correction is in stage 1 once, not added again after refining
    # (stage 1 by cra: octave puts the correction under its band restoration, tested in test_octave.py)
    shift = ShiftLifter(ShiftConfig(weights=str(silent["shift"]), stage1="cra", network_stage1="stage1", gate=False))
    for lifter in (CraLifter(), UpsampleLifter(), shift):
        plain = Inpainter(PatchMatchFiller(), lifter, options)(image, mask).astype(np.float64)
        brighter = Inpainter(Brighter(), lifter, options)(image, mask).astype(np.float64)
        inner = np.zeros_like(mask)
        inner[36:56, 48:78] = True  # away from the border, where the bilinear step of the correction fades
        lifted = (brighter - plain)[inner & (plain.max(axis=2) < 220)]
        assert np.abs(lifted - 25.5).max() <= 1.0  # +0.1 on every channel, in 8-bit levels
        assert np.array_equal(brighter[~mask], image[~mask])


def test_the_gate_keeps_a_correction_as_far_as_it_helps_on_the_known_ring():
    from hrinpaint.fillers.gate import gate_ring, ring_gain

    rng = np.random.default_rng(0)
    missing = rng.normal(0, 0.05, (500, 3))
    assert ring_gain(missing, missing) == pytest.approx(1.0)  # exactly what is missing: kept whole
    assert ring_gain(0.5 * missing, missing) == pytest.approx(1.0)  # too weak a correction is not amplified
    assert ring_gain(2.0 * missing, missing) == pytest.approx(0.5)
    assert ring_gain(-missing, missing) == 0.0  # a harmful one is dropped
    assert ring_gain(rng.normal(0, 0.05, (500, 3)), missing) < 0.01  # one unrelated to the truth nearly so
    noise = rng.normal(0, 0.05, (500, 3))
    assert 0.2 < ring_gain(missing + noise, missing) < 0.6  # half of it noise: shrunk by the share explained
    assert ring_gain(np.zeros((5, 3)), missing[:5]) == 0.0
    mask = np.zeros((100, 100), bool)
    mask[30:70, 20:80] = True  # inscribed radius 20: a ring of 5
    ring, grown = gate_ring(mask)
    assert not (ring & mask).any() and np.array_equal(grown, ring | mask)
    assert grown[25, 50] and not grown[23, 50]
    assert not gate_ring(np.ones((10, 10), bool) ^ np.eye(10, dtype=bool))[0].any()  # nothing known would be left


def test_a_lifters_gate_ring_is_as_wide_as_the_fillers_at_the_working_size():
    from hrinpaint.fillers.gate import gate_masks, gate_ring
    from hrinpaint.ops.morphology import dilate
    from hrinpaint.ops.resize import downsample_mask

    mask = np.zeros((800, 800), bool)
    mask[200:600, 240:560] = True  # inscribed radius 160 px, 20 at the working size (1/8): a ring of 5 there
    working = downsample_mask(mask, (100, 100))
    _, grown_working = gate_ring(working)
    ring, grown, grown_at_working = gate_masks(mask, working)
    assert grown_working[50, 25] and not grown_working[50, 24]  # 5 working px left of column 30
    assert grown[400, 200] and not grown[400, 199]  # 40 px at full size (16 at most there until session 33)
    assert np.array_equal(grown, ring | mask) and not (ring & mask).any()
    assert np.array_equal(grown_at_working, downsample_mask(grown, (100, 100)))
    assert np.array_equal(gate_ring(mask)[1], dilate(mask, 16))  # at its own size: 16 px at most


def test_a_gated_network_whose_change_does_not_help_gives_the_default(silent, monkeypatch):
    from hrinpaint.fillers.base import FillResult
    from hrinpaint.fillers.network import GeneratorFiller

    original = GeneratorFiller.fill_on

    def darker(self, image, mask, base, sigma=None):  # a correction that darkens whatever the truth
        filled = original(self, image, mask, base, sigma)
        return FillResult(filled.image, filled.attention, np.where(mask[..., None], -0.2, 0.0).astype(np.float32))

    monkeypatch.setattr(GeneratorFiller, "fill_on", darker)
    image, mask = _photo()
    default = Inpainter.from_method(None, working_size=32)(image, mask)
    gated = Inpainter.from_method("hifill", {"weights": str(silent["hifill"])}, working_size=32)(image, mask)
    trusted = Inpainter.from_method("hifill", {"weights": str(silent["hifill"]), "gate": False}, working_size=32)
    assert np.array_equal(gated, default)
    assert trusted(image, mask)[mask].astype(int).mean() < default[mask].astype(int).mean() - 30


def test_a_gain_field_keeps_a_correction_only_near_the_side_of_the_ring_where_it_helps():
    from hrinpaint.fillers.gate import gain_field, gate_ring, ring_gain

    mask = np.zeros((60, 120), bool)
    mask[20:40, 20:100] = True
    ring, _ = gate_ring(mask)
    missing = np.full((60, 120, 3), 0.1, np.float32)  # the default's fill is 0.1 too dark everywhere
    correction = np.where((np.arange(120) < 60)[None, :, None], 0.1, -0.1).astype(np.float32)  # right on the left only
    correction = np.broadcast_to(correction, (60, 120, 3))
    field = gain_field(correction, missing, ring, 8.0, cap=False)
    assert field.shape == mask.shape and field.dtype == np.float32
    assert field[30, 25] > 0.95 and field[30, 95] == 0.0  # kept where it helps, dropped where it hurts
    assert 0.0 <= field.min() and field.max() <= 1.0
    assert not gain_field(np.zeros_like(correction), missing, ring, 8.0).any()  # no correction: nothing kept
    # capped (the default), never more than the whole ring's one gain: here help and harm cancel, nothing is kept
    assert gain_field(correction, missing, ring, 8.0).max() <= ring_gain(correction[ring], missing[ring]) + 1e-6


def test_a_capped_gain_field_keeps_no_more_than_one_gain_where_the_local_fit_is_better():
    from hrinpaint.fillers.gate import gain_field, gate_ring, ring_gain

    mask = np.zeros((60, 120), bool)
    mask[20:40, 20:100] = True
    ring, _ = gate_ring(mask)
    missing = np.full((60, 120, 3), 0.1, np.float32)
    correction = np.where((np.arange(120) < 60)[None, :, None], 0.1, 0.0).astype(np.float32)  # right, left only
    correction = np.ascontiguousarray(np.broadcast_to(correction, (60, 120, 3)))
    whole = ring_gain(correction[ring], missing[ring])
    assert 0.3 < whole < 0.7  # it explains half of what is missing on the whole ring
    assert gain_field(correction, missing, ring, 8.0, cap=False)[30, 25] > 0.9  # all of it near the left side
    capped = gain_field(correction, missing, ring, 8.0)
    assert abs(capped[30, 25] - whole) < 1e-3 and capped.max() <= whole + 1e-6


def test_a_gain_field_falls_back_on_the_whole_ring_deep_in_a_large_hole():
    from hrinpaint.fillers.gate import gain_field, gate_ring, ring_gain

    mask = np.zeros((300, 300), bool)
    mask[60:240, 60:240] = True  # far larger than the Gaussian's reach: its centre sees no ring
    ring, _ = gate_ring(mask)
    rng = np.random.default_rng(0)
    missing = rng.normal(0.0, 0.1, (300, 300, 3)).astype(np.float32)
    correction = (0.5 * missing + rng.normal(0.0, 0.05, missing.shape)).astype(np.float32)
    field = gain_field(correction, missing, ring, 4.0)
    whole = ring_gain(correction[ring], missing[ring])
    assert whole > 0.3
    assert abs(field[150, 150] - whole) < 0.02  # not 0: the correction is kept where the ring gives no local fit
    assert not field[:40].any() and not field[:, :40].any()  # 0 off the ring's box
    assert abs(field[50, 150] - whole) < 0.1  # on the ring, the local fit: the same here, the correction is uniform


def test_the_gate_sigma_option_gives_a_gain_field_and_zero_correction_stays_the_default(silent):
    from hrinpaint.errors import ConfigError
    from hrinpaint.fillers.hifill import HiFillFillerConfig

    with pytest.raises(ConfigError, match="gate_sigma"):
        HiFillFillerConfig(gate_sigma=-1)
    image, mask = _photo()
    default = Inpainter.from_method(None, working_size=32)(image, mask)
    options = {"weights": str(silent["hifill"]), "gate_sigma": 8.0}
    changed = Inpainter.from_method("hifill", {**options, "low_band": "change"}, working_size=32)(image, mask)
    assert np.array_equal(changed, default)
    replaced = Inpainter.from_method("hifill", options, working_size=32)(image, mask)
    assert np.array_equal(replaced[~mask], image[~mask])


def test_shift_keeps_the_detail_of_its_stage1_when_its_network_smooths(silent, monkeypatch):
    import cv2

    from hrinpaint.errors import ConfigError
    from hrinpaint.eval.metrics import band_energy
    from hrinpaint.lifters.shift import ShiftConfig, ShiftLifter

    image, mask = _photo(120, 160)
    truth = image.astype(np.float32) / 255.0

    def smoothing(self, source, hole):  # a network whose output is its input blurred: it takes detail away
        lifted = source.read(hole.top, hole.bottom, hole.left, hole.right)[0]
        return cv2.GaussianBlur(lifted, (0, 0), 3.0)

    monkeypatch.setattr(ShiftLifter, "refine", smoothing)
    config = {"weights": str(silent["shift"]), "gate": False, "band": 0.3, "network_stage1": "stage1"}
    runs = {
        keep: Inpainter.from_method("shift", None, {**config, "keep_bands": keep}, working_size=40)(image, mask)
        for keep in (0, 5)
    }
    runs["s1"] = Inpainter.from_method(None, working_size=40)(image, mask)
    energy = {name: band_energy(out.astype(np.float32) / 255.0, truth, mask) for name, out in runs.items()}
    assert all(np.array_equal(out[~mask], image[~mask]) for out in runs.values())
    assert energy[0][1] < 0.5 * energy["s1"][1]  # the smoothing network took detail away
    # and it is back: at stage 1's level where the gain cap (3) allows it, much of it in band 1 (blurred flattest)
    assert all(energy[5][band] > 0.97 * energy["s1"][band] for band in (0, 2, 3)), energy
    assert energy[5][1] > 1.5 * energy[0][1], energy
    with pytest.raises(ConfigError):
        ShiftConfig(keep_bands=-1)


def test_refine_keeps_the_detail_of_the_default_when_its_correction_smooths(silent, monkeypatch):
    import cv2

    from hrinpaint.errors import ConfigError
    from hrinpaint.eval.metrics import band_energy
    from hrinpaint.lifters.refine import RefineLifter

    image, mask = _photo(120, 160)
    truth = image.astype(np.float32) / 255.0
    banded = RefineLifter._banded

    def smoothing(self, *args):  # a refined correction that blurs the default's output: it takes detail away
        hole, default, _ = banded(self, *args)
        return hole, default, cv2.GaussianBlur(default, (0, 0), 1.5) - default

    monkeypatch.setattr(RefineLifter, "_banded", smoothing)
    options = {"weights": str(silent["hifill"]), "gate": False}
    runs = {
        keep: Inpainter.from_method("hifill+refine", options, {"iterations": 1, "keep_bands": keep}, working_size=40)(
            image, mask
        )
        for keep in (0, 5)
    }
    runs["default"] = Inpainter.from_method(None, working_size=40)(image, mask)
    energy = {name: band_energy(out.astype(np.float32) / 255.0, truth, mask) for name, out in runs.items()}
    assert all(np.array_equal(out[~mask], image[~mask]) for out in runs.values())
    assert energy[0][0] < 0.1 * energy["default"][0] and energy[0][1] < 0.6 * energy["default"][1]  # detail taken
    # and it is back: at the default's level where the gain cap (3) allows it, the finest band (flattest) in part
    assert all(energy[5][band] > 0.97 * energy["default"][band] for band in (1, 2, 3)), energy
    assert energy[5][0] > 2.0 * energy[0][0], energy
    with pytest.raises(ConfigError):
        RefineConfig(keep_bands=-1)


def test_refine_with_the_fillers_gain_field_keeps_its_correction_only_on_the_side_where_it_helps(silent, monkeypatch):
    from hrinpaint.lifters.refine import RefineLifter

    image, mask = _photo(120, 160)
    truth = image.astype(np.float32) / 255.0
    banded = RefineLifter._banded

    def half_right(self, image_, mask_, *args):  # halfway to the truth left of column 62, away from it right of it
        hole, default, _ = banded(self, image_, mask_, *args)
        side = np.where(np.arange(hole.left, hole.right) < 62, 0.5, -0.5).astype(np.float32)[None, :, None]
        change = side * (truth[hole.slices] - default)
        return hole, default, np.where(mask_[hole.slices][..., None], change, 0.0).astype(np.float32)

    monkeypatch.setattr(RefineLifter, "_banded", half_right)
    lift = {"iterations": 1, "keep_bands": 0}
    runs = {
        sigma: Inpainter.from_method(
            "hifill+refine",
            {"weights": str(silent["hifill"]), "gate_sigma": sigma, "gate_cap": False},
            lift,
            working_size=40,
        )(image, mask)
        for sigma in (0.0, 4.0)
    }
    runs["default"] = Inpainter.from_method(None, working_size=40)(image, mask)
    left, right = mask.copy(), mask.copy()
    left[:, 62:], right[:, :62] = False, False

    def error(name: str, where: np.ndarray) -> float:
        return float(np.abs(runs[name].astype(np.float32) / 255.0 - truth)[where].mean())

    assert all(np.array_equal(out[~mask], image[~mask]) for out in runs.values())
    # one gain for both sides: the help and the harm cancel on the ring, and it keeps (almost) none of either
    assert error(0.0, left) > 0.97 * error("default", left)
    assert error(4.0, left) < 0.9 * error(0.0, left)  # the field keeps the help on the left (measured 0.229 / 0.276)
    assert error(4.0, right) < error("default", right) + 0.002  # and drops the harm on the right


def _recorded_gate(monkeypatch) -> tuple[np.ndarray, np.ndarray, list]:
    """A 60 x 80 photo as floats, a box hole, and the ``(sigma, cap)`` of every gain field a gate makes."""
    from hrinpaint.fillers import gate

    image, _ = _photo(60, 80)
    mask = np.zeros((60, 80), bool)
    mask[18:42, 20:60] = True
    seen, field = [], gate.gain_field

    def recording(correction, missing, ring, sigma, cap=True):
        seen.append((sigma, cap))
        return field(correction, missing, ring, sigma, cap)

    monkeypatch.setattr(gate, "gain_field", recording)
    return image.astype(np.float32) / 255.0, mask, seen


def test_a_network_fillers_gate_is_by_default_a_gain_field_capped_by_its_one_gain(silent, monkeypatch):
    image, mask, seen = _recorded_gate(monkeypatch)

    def gain(**options):
        filler = Inpainter.from_method("hifill", {"weights": str(silent["hifill"]), **options}, working_size=80).filler
        return filler.gate_gain(image, mask)

    assert isinstance(gain(gate_sigma=0.0), float) and not seen  # one gain: no field
    assert gain().shape == mask.shape and seen == [(16.0, True)]  # the default: a field of 16 px, capped
    gain(gate_cap=False)
    assert seen[-1] == (16.0, False)


def test_shifts_gate_is_by_default_a_gain_field_over_the_box_capped_by_its_one_gain(silent, monkeypatch):
    from hrinpaint.errors import ConfigError
    from hrinpaint.lifters import shift
    from hrinpaint.ops.regions import Box

    image, mask, seen = _recorded_gate(monkeypatch)

    def gain(box=None, **options):
        method = Inpainter.from_method("shift", None, {"weights": str(silent["shift"]), **options}, working_size=40)
        return method.lifter.gate_gain(image, mask, method.filler, mask[::2, ::2], box)

    assert isinstance(gain(gate_sigma=0.0), float) and not seen  # one gain: no field
    field = gain()
    assert field.shape == mask.shape and seen == [(32.0, True)]  # 16 working px, at full size (x2), capped
    assert 0.0 <= field.min() and field.max() <= 1.0
    box = Box(10, 15, 50, 70)
    assert np.allclose(gain(box), field[box.slices], atol=1e-5)  # over the box asked for, the same gains
    method = Inpainter.from_method("shift", None, {"weights": str(silent["shift"])}, working_size=40)
    whole, boxed = (
        method.lifter._gate(image, mask, method.filler, mask[::2, ::2], b)[1] for b in (Box(0, 0, 60, 80), box)
    )
    assert np.abs(whole).max() > 1e-3 and np.allclose(boxed, whole[box.slices], atol=1e-5)  # the grown run's change too
    with pytest.raises(ConfigError, match="gate_sigma"):
        shift.ShiftConfig(gate_sigma=-1.0)


def test_shift_keeps_only_the_change_its_grown_holes_run_agrees_with(silent, monkeypatch):
    from hrinpaint.fillers.gate import agreed as agree
    from hrinpaint.lifters import shift

    agreed = agree(np.float32([0.2, -0.1, 0.3, -0.2]), np.float32([0.1, 0.2, 0.5, -0.4]))
    assert np.allclose(agreed, [0.1, 0.0, 0.3, -0.2])  # the smaller where the signs agree, else nothing
    image, mask = _photo()
    options = {"weights": str(silent["shift"]), "gate_agree": True}
    method = Inpainter.from_method("shift", None, options, working_size=60)
    monkeypatch.setattr(  # the grown hole's run changed nothing: nothing of the real run's change is agreed on
        shift.ShiftLifter, "_gate", lambda self, image, mask, filler, working, box: (1.0, np.zeros((*box.shape, 3)))
    )
    default = Inpainter.from_method(None, working_size=60)(image, mask)
    assert np.abs(method(image, mask) - default).max() < 1e-6
    assert (
        np.abs(
            Inpainter.from_method("shift", None, {**options, "gate_agree": False}, working_size=60)(image, mask)
            - default
        ).max()
        > 1e-3
    )  # without it the (ungated, gain 1) change is kept


def test_refine_keeps_only_the_correction_its_grown_holes_refinement_agrees_with(silent, monkeypatch):
    from hrinpaint.lifters.refine import RefineLifter
    from hrinpaint.ops.regions import bounding_box

    image, mask = _photo(120, 160)
    banded = RefineLifter._banded

    def constant(self, image_, mask_, *args):  # every refinement lightens its hole by 0.1
        hole, default, _ = banded(self, image_, mask_, *args)
        return hole, default, np.where(mask_[hole.slices][..., None], 0.1, 0.0).astype(np.float32)

    def gate(self, image_, mask_, *args):  # the grown hole's refinement: the same on the left, darker on the right
        hole = bounding_box(mask_)
        right = np.arange(hole.left, hole.right) >= 62
        return 1.0, hole, np.where(right[None, :, None], -0.1, 0.1) * mask_[hole.slices][..., None]

    monkeypatch.setattr(RefineLifter, "_banded", constant)
    monkeypatch.setattr(RefineLifter, "_gate_gain", gate)
    options, lift = {"weights": str(silent["hifill"])}, {"iterations": 1, "keep_bands": 0}
    runs = {
        agree: Inpainter.from_method("hifill+refine", options, {**lift, "gate_agree": agree}, working_size=40)(
            image, mask
        ).astype(int)
        for agree in (False, True)
    }
    default = Inpainter.from_method(None, working_size=40)(image, mask).astype(int)
    left, right = mask.copy(), mask.copy()
    left[:, 62:], right[:, :62] = False, False
    assert np.abs(runs[False] - default)[mask].mean() > 20  # the whole correction (0.1: about 25 levels)
    assert np.array_equal(runs[True][left], runs[False][left])  # agreed on the left: kept
    assert np.array_equal(runs[True][right], default[right])  # not on the right: the default's
