"""Lifters (the detail step) and their registry. Entries are lazy: nothing here imports a method."""

from hrinpaint.lifters.base import Lifter
from hrinpaint.registry import Registry

LIFTERS: Registry[Lifter] = Registry("lifter")
LIFTERS.register("upsample", "hrinpaint.lifters.upsample:UpsampleLifter", "bicubic upsampling of the fill (baseline)")
LIFTERS.register(
    "cra", "hrinpaint.lifters.cra:CraLifter", "contextual residual aggregation: context detail moved into the hole"
)
LIFTERS.register(
    "octave", "hrinpaint.lifters.octave:OctaveLifter", "PatchMatch carried up octave by octave to full resolution"
)
LIFTERS.register(
    "refine", "hrinpaint.lifters.refine:RefineLifter", "multiscale feature refinement of a network (lama, hifill)"
)
LIFTERS.register(
    "shift", "hrinpaint.lifters.shift:ShiftLifter", "shifted-context U-Net refinement of the upsampled fill"
)

__all__ = ["LIFTERS", "Lifter"]
