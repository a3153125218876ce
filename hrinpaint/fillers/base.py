"""The structure step: fill a hole at the working resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeAlias

import numpy as np

from hrinpaint.fillers.attention import CellAttention, OffsetField

#: What a filler can tell a lifter about where its fill came from (see :mod:`hrinpaint.fillers.attention`).
Attention: TypeAlias = CellAttention | OffsetField


@dataclass
class FillResult:
    """What a filler returns.

    Attributes:
        image: ``h x w x 3`` float32 in [0, 1] at the working resolution; known pixels equal the input's.
        attention: which context each hole location draws from, if the filler knows: a network's attention
            scores (:class:`CellAttention`) or a PatchMatch nearest-neighbour field (:class:`OffsetField`); None
            when it does not. Any other value is refused here. ``cra`` maps each kind to its transfer
            (``CraLifter.transfer``), ``octave`` starts from an offset field; other lifters ignore it.
        correction: optional ``h x w x 3`` float32, zero outside the hole: a smooth change to ``image`` that the
            lifter adds after lifting (brought up bilinearly), so that it survives any lifter (a network's
            low-band correction of the default's fill: ``image`` is the default's fill itself, lifted exactly as
            the default lifts it). :meth:`corrected` is the fill with it.
    """

    image: np.ndarray
    attention: Attention | None = None
    correction: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.attention is not None and not isinstance(self.attention, (CellAttention, OffsetField)):
            unknown_attention(self.attention)

    def corrected(self) -> np.ndarray:
        """``image`` with ``correction`` added (clipped to [0, 1]); ``image`` itself without one."""
        if self.correction is None:
            return self.image
        return np.clip(self.image + self.correction, 0.0, 1.0).astype(np.float32)


def unknown_attention(attention: object) -> NoReturn:
    """Raises the one error for an attention that is none of the known kinds (a filler's bug, not the user's)."""
    raise TypeError(
        f"a fill's attention must be a CellAttention, an OffsetField or None, got {type(attention).__name__}"
    )


class Filler(Protocol):
    """Fills ``image`` where ``mask`` is True; the input's hole pixels are zero and must not be trusted.

    Shape:
        image: ``h x w x 3`` float32 in [0, 1]; mask: ``h x w`` bool (True = hole).
    """

    def fill(self, image: np.ndarray, mask: np.ndarray) -> FillResult: ...


def check_fill_input(image: np.ndarray, mask: np.ndarray) -> None:
    """Raises ``ValueError`` with a readable message when a filler gets non-canonical input."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.float32:
        raise ValueError(f"filler expects float32 h x w x 3, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2] or mask.dtype != bool:
        raise ValueError(f"filler expects a bool mask of shape {image.shape[:2]}, got {mask.dtype} {mask.shape}")
