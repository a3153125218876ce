"""Method names: ``filler+lifter`` (``telea+upsample``), a bare filler (with its default lifter) or an alias.

The table of aliases and the default live here, in one place, so that adding a method is one line and never an
if-chain over names elsewhere. ``hrinpaint.methods()`` (this module, called) lists every method with its parts'
options and the extra each needs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from dataclasses import dataclass
from typing import Any

from hrinpaint.errors import ConfigError, UnknownNameError
from hrinpaint.extras import EXTRA_OF_MODULE, extra_installed
from hrinpaint.fillers import FILLERS
from hrinpaint.lifters import LIFTERS
from hrinpaint.registry import Registry

#: The method used when none is named: PatchMatch with exemplar detail at every octave, measured on ``hrinpaint
#: bench`` with object holes against the former default ``patchmatch+cra`` (``docs/methods/patchmatch.md``).
DEFAULT_METHOD = "patchmatch+octave"

#: The lifter used with a bare filler name: ``cra`` adds the context's detail that ``upsample`` cannot.
DEFAULT_LIFTER = "cra"

#: Fillers whose network corrects the default's fill (docs/methods/networks.md): a bare name gets the default
#: method's lifter, so that the default's fill is lifted exactly as the default lifts it and a network that
#: changes nothing gives the default.
CORRECTING_FILLERS = ("hifill", "zoom", "pyramid")

#: Short names for composite methods, ``alias -> "filler+lifter"``. ``refine`` is the paper's refinement on the
#: best-measuring shipped network that declares a front/rear split; ``shift`` the shift refinement on the default's
#: stage 1 (its output, which the network's band-limited change corrects; docs/methods/shift.md).
ALIASES: dict[str, str] = {"refine": "hifill+refine", "shift": "patchmatch+shift"}


@dataclass(frozen=True)
class MethodSpec:
    """A resolved method: which filler and which lifter, by registry name."""

    filler: str
    lifter: str

    @property
    def name(self) -> str:
        return f"{self.filler}+{self.lifter}"


def resolve_method(name: str | None) -> MethodSpec:
    """Parses a method name; unknown parts raise :class:`UnknownNameError` listing what is available."""
    name = (name or DEFAULT_METHOD).strip()
    name = ALIASES.get(name, name)
    filler, _, lifter = name.partition("+")
    if not lifter and filler in CORRECTING_FILLERS:
        lifter = DEFAULT_METHOD.partition("+")[2]
    lifter = lifter or DEFAULT_LIFTER
    if filler not in FILLERS or lifter not in LIFTERS:
        raise UnknownNameError(f"unknown method {name!r}; known: {', '.join(available_methods())}")
    return MethodSpec(filler, lifter)


def split_options(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A method named with options, ``METHOD[:key=value...]`` (``patchmatch+cra:texture_weight=0``, or
    ``patchmatch+octave:lifter.low_weight=0.5:seed=3``): the method and its filler and lifter options (keys
    starting with ``lifter.`` go to the lifter); values are read as JSON where they parse (``0``, ``false``) and as
    text otherwise. The options are checked as the parts would check them (:class:`ConfigError`, one line)."""
    name, *items = text.split(":")
    spec = resolve_method(name)
    options: dict[str, dict[str, Any]] = {"filler": {}, "lifter": {}}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ConfigError(f"method option {item!r} in {text!r} is not key=value")
        part = "lifter" if key.startswith("lifter.") else "filler"
        try:
            options[part][key.removeprefix("lifter.")] = json.loads(value)
        except json.JSONDecodeError:
            options[part][key.removeprefix("lifter.")] = value
    FILLERS.checked_config(spec.filler, **options["filler"])
    LIFTERS.checked_config(spec.lifter, **options["lifter"])
    return name, options["filler"], options["lifter"]


def available_methods() -> list[str]:
    """Every ``filler+lifter`` combination and alias."""
    combos = [f"{filler}+{lifter}" for filler in FILLERS.names() for lifter in LIFTERS.names()]
    return sorted(ALIASES) + combos


@dataclass(frozen=True)
class OptionInfo:
    """One option of a part: its name, type (as written in the config) and default."""

    name: str
    type: str
    default: Any


@dataclass(frozen=True)
class PartInfo:
    """A filler or lifter: its help line, its options (empty when it cannot be imported here) and the extra it
    needs (``"nn"`` for a network part, None for the core)."""

    kind: str
    name: str
    help: str
    options: tuple[OptionInfo, ...]
    needs: str | None
    available: bool


@dataclass(frozen=True)
class MethodInfo:
    """A method as ``hrinpaint.methods()`` lists it; ``alias_of`` names the method an alias stands for."""

    name: str
    filler: PartInfo
    lifter: PartInfo
    default: bool
    alias_of: str | None = None

    @property
    def available(self) -> bool:
        """Whether both parts can be imported with the extras installed here."""
        return self.filler.available and self.lifter.available

    @property
    def needs(self) -> str | None:
        """The extra this method needs, None for the core."""
        return self.filler.needs or self.lifter.needs


def part_info(registry: Registry, name: str) -> PartInfo:
    """What :func:`list_methods` says about one registered part; importing it may load its module."""
    from hrinpaint.extras import missing_extra

    try:
        config = getattr(registry.get(name), "Config", None)
    except ImportError as error:
        raised = missing_extra(error, name)
        if raised is None:
            raise
        return PartInfo(registry.kind, name, registry.help(name), (), EXTRA_OF_MODULE[raised.module], False)
    options: tuple[OptionInfo, ...] = ()
    if config is not None and dataclasses.is_dataclass(config):
        options = tuple(
            OptionInfo(f.name, str(f.type), f.default if f.default is not dataclasses.MISSING else None)
            for f in dataclasses.fields(config)
        )
    needs = "nn" if any(option.name == "device" for option in options) else None
    return PartInfo(registry.kind, name, registry.help(name), options, needs, needs is None or extra_installed(needs))


def list_methods() -> list[MethodInfo]:
    """Every method (aliases first, then each ``filler+lifter``) with its parts' options and extras."""
    parts = {(registry.kind, name): part_info(registry, name) for registry in (FILLERS, LIFTERS) for name in registry}
    listed = []
    for name in available_methods():
        spec = resolve_method(name)
        alias_of = spec.name if name in ALIASES else None
        filler, lifter = parts[("filler", spec.filler)], parts[("lifter", spec.lifter)]
        listed.append(MethodInfo(name, filler, lifter, spec.name == DEFAULT_METHOD and alias_of is None, alias_of))
    return listed


class _CallableModule(types.ModuleType):
    """``hrinpaint.methods()`` lists the methods while ``hrinpaint.methods`` stays this module, whose names
    (``resolve_method``, ``DEFAULT_METHOD``) the rest of the package imports."""

    def __call__(self) -> list[MethodInfo]:
        return list_methods()


sys.modules[__name__].__class__ = _CallableModule
