"""The lifter interface every lifter really implements, and the typed attention a fill hands to it.

``Lifter`` is a Protocol with one method, ``run``; ``TwoStepLifter`` gives the two-step ``run`` to the lifters that
write only ``lift``. No lifter may hold a method that only raises (the old ``RefineLifter.lift`` did), and a fill's
attention is one of the known kinds, each mapped to its transfer in one place.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from hrinpaint.errors import ConfigError
from hrinpaint.fillers.attention import CellAttention, OffsetField
from hrinpaint.fillers.base import FillResult
from hrinpaint.fillers.opencv import TeleaFiller
from hrinpaint.lifters import LIFTERS
from hrinpaint.lifters.base import (
    Lifter,
    TwoStepLifter,
    checked_box,
    fill_at_native_size,
    fill_at_working_size,
    registered_two_step,
)
from hrinpaint.lifters.cra import CraLifter
from hrinpaint.lifters.octave import OctaveLifter, start_displacements
from hrinpaint.methods import resolve_method
from hrinpaint.ops.resize import downsample_mask
from hrinpaint.pipeline import Inpainter, PipelineOptions

LIFTERS_DIR = Path(__file__).resolve().parent.parent / "hrinpaint" / "lifters"


def _case(height: int = 48, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    image = rng.random((height, width, 3), dtype=np.float32)
    mask = np.zeros((height, width), bool)
    mask[16:30, 20:41] = True
    return image, mask


def test_every_registered_lifter_runs_with_the_protocols_signature():
    expected = list(inspect.signature(Lifter.run).parameters)
    for name in LIFTERS.names():
        run = getattr(LIFTERS.get(name), "run", None)
        assert callable(run), name
        assert list(inspect.signature(run).parameters) == expected, name


def test_every_registered_filler_fills_with_the_protocols_signature():
    from hrinpaint.fillers import FILLERS
    from hrinpaint.fillers.base import Filler

    expected = list(inspect.signature(Filler.fill).parameters)
    for name in FILLERS.names():
        fill = getattr(FILLERS.get(name), "fill", None)
        assert callable(fill), name
        assert list(inspect.signature(fill).parameters) == expected, name


def test_two_step_lifters_write_lift_only():
    two_step = [LIFTERS.get(name) for name in LIFTERS.names() if issubclass(LIFTERS.get(name), TwoStepLifter)]
    assert {cls.__name__ for cls in two_step} >= {"UpsampleLifter", "CraLifter", "OctaveLifter"}
    for cls in two_step:
        assert cls.run is TwoStepLifter.run, f"{cls.__name__} overrides the two-step run"
        assert "lift" in vars(cls), cls.__name__
    for name in ("refine", "shift"):
        assert not issubclass(LIFTERS.get(name), TwoStepLifter), name


def _only_raises(function: ast.FunctionDef) -> bool:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def test_no_lifter_defines_a_method_that_only_raises():
    offenders = []
    for path in sorted(LIFTERS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                offenders += [
                    f"{path.name}:{node.name}.{item.name}"
                    for item in node.body
                    if isinstance(item, ast.FunctionDef) and _only_raises(item)
                ]
    assert offenders == []
    # the check itself sees such a method
    assert _only_raises(ast.parse("def lift(self):\n    'doc'\n    raise ValueError('no')").body[0])


def test_a_lifter_written_against_the_protocol_alone_runs_in_the_pipeline():
    class Flat:  # no base class: the Protocol is structural, as Filler's is
        def run(self, image, mask, filler, working_mask, box=None):
            box = checked_box(box, mask)
            return np.full((*mask.shape, 3), 0.25, np.float32)[box.slices]

    image, mask = _case()
    result = Inpainter(TeleaFiller(), Flat(), PipelineOptions(working_size=16))(image, mask)
    assert np.array_equal(result[~mask], image[~mask])
    assert np.all(result[mask] == np.float32(0.25))


class _Recording:
    """A filler that records what it was given and scribbles on it."""

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult:
        self.seen = image.copy()
        image[mask] = 0.75
        return FillResult(image)


def test_fill_helpers_clear_the_hole_and_leave_the_working_image_to_the_lifter():
    image, mask = _case()
    stored = np.round(image * 255).astype(np.uint8)
    filler = _Recording()
    filled = fill_at_native_size(stored, mask, filler)
    assert filled.image.dtype == np.float32 and np.all(filler.seen[mask] == 0)
    np.testing.assert_array_equal(filler.seen[~mask], stored[~mask] / np.float32(255))

    working_mask = downsample_mask(mask, (12, 16))
    filled, working_image = fill_at_working_size(stored, working_mask, filler)
    assert filled.image.shape == working_image.shape == (12, 16, 3)
    assert np.all(filler.seen[working_mask] == 0) and np.all(filled.image[working_mask] == 0.75)
    assert np.all(working_image[working_mask] == 0), "the filler's scribbles reached the lifter's context"


def test_a_lifter_built_on_another_lift_gets_a_two_step_one():
    assert isinstance(registered_two_step("default"), TwoStepLifter)
    default = resolve_method(None)  # the default method's lifter, however the default is spelt
    assert type(registered_two_step("default")) is type(LIFTERS.build(default.lifter)) is OctaveLifter
    assert isinstance(registered_two_step("cra"), CraLifter)
    with pytest.raises(ConfigError, match="two-step"):
        registered_two_step("refine")


def test_a_fill_refuses_an_attention_of_unknown_kind():
    fill = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(TypeError, match="CellAttention, an OffsetField or None, got dict"):
        FillResult(fill, {"scores": 1})
    field = OffsetField(np.zeros((4, 4, 1, 2), np.int32), np.ones((4, 4, 1), np.float32))
    cells = CellAttention((4, 4), (2, 2), np.array([0]), np.array([3]), np.ones((1, 1), np.float32))
    assert FillResult(fill, field).attention is field and FillResult(fill, cells).attention is cells


def test_each_kind_of_attention_has_its_transfer_and_an_unknown_one_is_an_error():
    image, mask = _case()
    working_mask = downsample_mask(mask, (12, 16))
    fill = np.full((12, 16, 3), 0.5, np.float32)
    positions = np.stack(np.indices((12, 16), dtype=np.int32), axis=-1)
    sources = np.where(working_mask[..., None], positions + np.array([0, -5], np.int32), positions)
    field = OffsetField(sources[:, :, None, :].astype(np.int32), np.ones((12, 16, 1), np.float32))
    hole_cells = np.array([1 * 4 + 1])
    cells = CellAttention((12, 16), (3, 4), hole_cells, np.array([3]), np.ones((1, 1), np.float32))
    lifted = {
        kind: CraLifter().lift(image, mask, FillResult(fill, attention), working_mask)
        for kind, attention in (("field", field), ("cells", cells), ("none", None))
    }
    # three different transfers: the results differ pairwise in the hole
    assert not np.allclose(lifted["field"][mask], lifted["none"][mask])
    assert not np.allclose(lifted["cells"][mask], lifted["none"][mask])
    assert not np.allclose(lifted["field"][mask], lifted["cells"][mask])

    odd = FillResult(fill)
    odd.attention = "a field, honest"  # type: ignore[assignment]  # set after the check, as a buggy filler might
    with pytest.raises(TypeError, match="got str"):
        CraLifter().lift(image, mask, odd, working_mask)
    with pytest.raises(TypeError, match="got str"):
        OctaveLifter().lift(image, mask, odd, working_mask)
    assert start_displacements(FillResult(fill, cells), working_mask) is None
    assert start_displacements(FillResult(fill, field), working_mask)[working_mask].tolist() == [[0, -5]] * int(
        working_mask.sum()
    )
