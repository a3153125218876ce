"""Mask-size schedules for training: holes that grow with the training step.

Large holes are hard to learn from scratch; Zoom-to-Inpaint and the Pyramid Generator both start on small
holes and move on to large ones. :class:`ProgressiveSchedule` scales every stroke width, stroke length and
box side of the chosen kinds by a factor that ramps linearly from ``start_scale`` to ``end_scale``; a ramp of
zero steps is Zoom-to-Inpaint's switch (small masks before ``switch_step``, the full ones after), built by
:meth:`ProgressiveSchedule.switch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrinpaint.errors import InpaintError
from hrinpaint.masks import MASKS


@dataclass(frozen=True)
class ProgressiveSchedule:
    """Scales mask sizes linearly with the training step.

    The scale is ``start_scale`` up to ``start_step``, then moves linearly to ``end_scale`` over
    ``ramp_steps`` steps and stays there; with ``ramp_steps == 0`` it jumps at ``start_step``.

    Attributes:
        start_scale: size factor at the start (1 = the kind's full parameters).
        end_scale: size factor at the end of the ramp.
        ramp_steps: steps the ramp takes; 0 for a switch.
        kinds: registered mask kinds, one chosen uniformly per mask.
        start_step: step at which the ramp (or switch) begins.
    """

    start_scale: float
    end_scale: float
    ramp_steps: int
    kinds: tuple[str, ...]
    start_step: int = 0

    def __post_init__(self) -> None:
        if self.start_scale <= 0 or self.end_scale <= 0:
            raise InpaintError(f"schedule scales must be positive, got {self.start_scale}, {self.end_scale}")
        if self.ramp_steps < 0 or self.start_step < 0:
            raise InpaintError("ramp_steps and start_step must be non-negative")
        if not self.kinds:
            raise InpaintError("a schedule needs at least one mask kind")
        for kind in self.kinds:
            MASKS.get(kind)  # an unknown kind fails here, not thousands of steps into training

    @classmethod
    def switch(
        cls, switch_step: int, kinds: tuple[str, ...], small_scale: float = 0.5, large_scale: float = 1.0
    ) -> ProgressiveSchedule:
        """Zoom-to-Inpaint's two stages: ``small_scale`` before ``switch_step``, ``large_scale`` from then."""
        return cls(small_scale, large_scale, ramp_steps=0, kinds=kinds, start_step=switch_step)

    def scale(self, step: int) -> float:
        """The size factor at training ``step``."""
        if self.ramp_steps == 0:
            return self.end_scale if step >= self.start_step else self.start_scale
        progress = min(max((step - self.start_step) / self.ramp_steps, 0.0), 1.0)
        return self.start_scale + (self.end_scale - self.start_scale) * progress

    def mask(self, shape: tuple[int, int], step: int, rng: np.random.Generator) -> np.ndarray:
        """Draws one mask for ``step``: a kind chosen with ``rng``, its sizes scaled by :meth:`scale`.

        Returns:
            bool ``H x W``, True = hole.
        """
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        return MASKS.build(kind).scaled(self.scale(step))(shape, rng)
