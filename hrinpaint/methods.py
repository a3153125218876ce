"""Method names: ``filler+lifter`` (``telea+upsample``), a bare filler (with its default lifter) or an alias.

The table of aliases and the default live here, in one place, so that adding a method is one line and never an
if-chain over names elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from hrinpaint.errors import UnknownNameError
from hrinpaint.fillers import FILLERS
from hrinpaint.lifters import LIFTERS

#: The method used when none is named: PatchMatch with exemplar detail at every octave, measured on ``hrinpaint
#: bench`` with object holes against the former default ``patchmatch+cra`` (``docs/methods/patchmatch.md``).
DEFAULT_METHOD = "patchmatch+octave"

#: The lifter used with a bare filler name: ``cra`` adds the context's detail that ``upsample`` cannot.
DEFAULT_LIFTER = "cra"

#: Short names for composite methods, ``alias -> "filler+lifter"``. ``refine`` is the paper's refinement on the
#: best-measuring shipped network that declares a front/rear split; ``shift`` the shift refinement after the filler
#: that measured best with it (Kodak at 512 px, hole PSNR: telea 18.09, hifill 18.05, patchmatch 17.68).
ALIASES: dict[str, str] = {"refine": "hifill+refine", "shift": "telea+shift"}


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
    lifter = lifter or DEFAULT_LIFTER
    if filler not in FILLERS or lifter not in LIFTERS:
        raise UnknownNameError(f"unknown method {name!r}; known: {', '.join(available_methods())}")
    return MethodSpec(filler, lifter)


def available_methods() -> list[str]:
    """Every ``filler+lifter`` combination and alias."""
    combos = [f"{filler}+{lifter}" for filler in FILLERS.names() for lifter in LIFTERS.names()]
    return sorted(ALIASES) + combos
