"""Contextual attention with shared scores (HiFill's attention computing and attention transfer modules).

Scores are computed once, on a high-level feature map whose every position is one *cell* of a grid laid over
the image, and then reused to move content at several levels (finer feature maps, and at full resolution the
``cra`` lifter's residuals): a hole cell becomes the weighted sum of context cells. The functions below are the
single formula; :class:`ContextualAttention` is a thin module around them.

Conventions: ``hole`` is ``B x 1 x h x w`` float with 1 = a cell touched by the hole; scores are ``B x N x N`` with
``N = h * w`` (row = receiving cell, column = source cell, flat index ``r * w + c``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cell_mask(mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Marks each grid cell that contains any hole pixel.

    Shape:
        mask: ``B x 1 x H x W`` with 1 = hole, ``H`` and ``W`` multiples of the grid; returns ``B x 1 x rows x cols``.
    """
    rows, cols = grid
    if mask.ndim != 4 or mask.shape[-2] % rows or mask.shape[-1] % cols:
        raise ValueError(f"mask {tuple(mask.shape)} is not B x 1 x H x W with H, W multiples of the grid {rows}x{cols}")
    return F.adaptive_max_pool2d(mask, grid)


def context_cells(hole: torch.Tensor, patch_size: int = 3) -> torch.Tensor:
    """Cells that may be attended to: their whole ``patch_size`` neighbourhood is free of hole.

    Returns ``B x N`` bool. Where an image has no such cell, any cell outside the hole is allowed instead, so that
    a hole that nearly covers the image still has somewhere to draw from.
    """
    near_hole = F.max_pool2d(hole, patch_size, stride=1, padding=patch_size // 2) > 0
    valid = ~near_hole.flatten(1)
    fallback = hole.flatten(1) == 0
    has_valid = valid.any(dim=1, keepdim=True)
    return torch.where(has_valid, valid, fallback)


def attention_scores(
    features: torch.Tensor, valid: torch.Tensor, temperature: float = 10.0, patch_size: int = 3
) -> torch.Tensor:
    """Softmax over valid source cells of the cosine similarity of ``patch_size`` neighbourhoods.

    Args:
        features: ``B x C x h x w`` feature map, one position per cell.
        valid: ``B x N`` bool, the cells that may be sources (see :func:`context_cells`).
        temperature: multiplies the cosine before the softmax (larger = closer to a hard choice).

    Returns:
        ``B x N x N`` float; each row sums to 1 and is zero on invalid sources. An image with no valid source
        gets the identity.
    """
    batch, _, rows, cols = features.shape
    if valid.shape != (batch, rows * cols):
        raise ValueError(f"valid must be B x N = {batch} x {rows * cols} for features {tuple(features.shape)}")
    patches = F.unfold(features, patch_size, padding=patch_size // 2)  # B x C*k*k x N
    patches = F.normalize(patches, dim=1, eps=1e-6)
    cosine = torch.bmm(patches.transpose(1, 2), patches)  # B x N x N
    logits = (temperature * cosine).masked_fill(~valid[:, None, :], float("-inf"))
    none_valid = ~valid.any(dim=1)
    if bool(none_valid.any()):
        eye = torch.eye(logits.shape[1], dtype=logits.dtype, device=logits.device)
        identity_logits = torch.where(eye > 0, 0.0, float("-inf"))
        logits = torch.where(none_valid[:, None, None], identity_logits, logits)
    return torch.softmax(logits, dim=2)


def attention_transfer(features: torch.Tensor, scores: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Replaces every hole cell of ``features`` by the score-weighted sum of the source cells.

    Shape:
        features: ``B x C x H x W`` with ``H = rows * k`` and ``W = cols * k`` for a whole ``k``;
        scores: ``B x N x N``; hole: ``B x 1 x rows x cols``. Returns ``B x C x H x W``.
    """
    batch, channels, height, width = features.shape
    rows, cols = hole.shape[-2:]
    cells_count = rows * cols
    if hole.shape[:2] != (batch, 1) or scores.shape != (batch, cells_count, cells_count):
        raise ValueError(
            f"for features {tuple(features.shape)} expected hole B x 1 x rows x cols and scores B x N x N, "
            f"got {tuple(hole.shape)} and {tuple(scores.shape)}"
        )
    if height % rows or width % cols or height // rows != width // cols:
        raise ValueError(f"features {height}x{width} are not a whole number of {rows}x{cols} square cells")
    k = height // rows
    cells = F.unfold(features, k, stride=k)  # B x C*k*k x N
    moved = torch.bmm(cells, scores.transpose(1, 2))  # column i = sum_j scores[i, j] * cell j
    receive = hole.flatten(1)[:, None, :] > 0
    cells = torch.where(receive, moved, cells)
    return F.fold(cells, (height, width), k, stride=k)


class ContextualAttention(nn.Module):
    """Computes scores once (:meth:`forward`) for reuse with :func:`attention_transfer` at any level."""

    def __init__(self, temperature: float = 10.0, patch_size: int = 3) -> None:
        super().__init__()
        self.temperature = temperature
        self.patch_size = patch_size

    def forward(self, features: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        valid = context_cells(hole, self.patch_size)
        return attention_scores(features, valid, self.temperature, self.patch_size)
