"""The registry: lazy entries, duplicates refused, config validated."""

from dataclasses import dataclass

import pytest

from hrinpaint.errors import InpaintError, UnknownNameError
from hrinpaint.fillers import FILLERS
from hrinpaint.lifters import LIFTERS
from hrinpaint.registry import Registry


@dataclass(frozen=True)
class ThingConfig:
    size: int = 3


class Thing:
    Config = ThingConfig

    def __init__(self, config: ThingConfig) -> None:
        self.config = config


def test_register_build_and_list():
    registry: Registry[Thing] = Registry("thing")
    registry.register("b", Thing, help="a thing")
    registry.register("a", "hrinpaint.fillers.opencv:TeleaFiller")  # lazy: imported on first use
    assert registry.names() == ["a", "b"] and list(registry) == ["a", "b"]
    assert registry.build("a", radius=2.0).config.radius == 2.0
    assert registry.build("b").config.size == 3
    assert registry.help("b") == "a thing"


def test_duplicates_and_unknowns_are_refused():
    registry: Registry[Thing] = Registry("thing")
    registry.register("a", Thing)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", Thing)
    with pytest.raises(ValueError, match="module:attribute"):
        registry.register("c", "no_colon")
    with pytest.raises(UnknownNameError, match="unknown thing 'z'; known: a"):
        registry.build("z")
    with pytest.raises(InpaintError, match="has no option colour"):
        registry.build("a", colour=1)
    registry.register("b", Thing)
    with pytest.raises(InpaintError, match="options: size"):
        registry.build("b", colour=1)


def test_builtin_entries_build():
    assert {"telea", "ns"} <= set(FILLERS.names())
    assert "upsample" in LIFTERS
    assert FILLERS.build("telea", radius=3.0).config.radius == 3.0
    with pytest.raises(ValueError, match="radius"):
        FILLERS.build("telea", radius=0)


def test_importing_the_package_loads_no_method():
    import subprocess
    import sys

    code = (
        "import sys, hrinpaint, hrinpaint.cli\n"
        "heavy = {m for m in ('cv2', 'torch', 'numba', 'hrinpaint.pipeline') if m in sys.modules}\n"
        "import hrinpaint.fillers, hrinpaint.lifters\n"
        "heavy |= {m for m in ('torch', 'hrinpaint.fillers.opencv', 'hrinpaint.lifters.upsample') "
        "if m in sys.modules}\n"
        "print(sorted(heavy))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_one_unknown_option_check_for_parts_and_masks():
    from hrinpaint.bounds import check_known
    from hrinpaint.errors import ConfigError
    from hrinpaint.masks import MASKS

    check_known({"b"}, ["a", "b"], "thing")  # known names pass
    with pytest.raises(ConfigError) as error:
        check_known({"z", "c"}, ["b", "a"], "filler 'x'")
    assert str(error.value) == "filler 'x' has no option c, z; options: a, b"
    with pytest.raises(KeyError):
        check_known({"z"}, ["a"], "trainer", KeyError)
    registry: Registry[Thing] = Registry("thing")
    registry.register("a", Thing)
    with pytest.raises(ConfigError, match=r"^thing 'a' has no option nope; options: "):
        registry.build("a", nope=1)
    with pytest.raises(InpaintError, match=r"^mask has no option nope; options: "):
        MASKS.build("thick", nope=1)
