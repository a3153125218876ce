"""The residual transfer of :mod:`hrinpaint.lifters.cra`: the context's high frequencies, computed where they are
read, moved into the hole (by cell, see :mod:`hrinpaint.lifters.cra_cells`, or along an offset field) and summed
onto the upsampled fill with their contrast restored."""

from __future__ import annotations

import cv2
import numpy as np

from hrinpaint.fillers.attention import OffsetField
from hrinpaint.ops.buffers import Buffers, _smooth, scale_channels, squared_norm
from hrinpaint.ops.patches import bilinear_columns, bilinear_points, resample_rows
from hrinpaint.ops.regions import Box
from hrinpaint.ops.resize import area_downsample, area_downsample_pixels, resize_bilinear
from hrinpaint.pixels import to_float

# Hole pixels handled per step of the offset-field transfer; bounds its temporaries to a few tens of MB.
_OFFSET_CHUNK_PIXELS = 1 << 18
# Pixels per band when the summed detail is added to the base: its buffers (about 40 bytes a pixel) are reused
# band after band, and a few megabytes of them are cheaper than fresh memory the size of the hole.
_BAND_PIXELS = 1 << 19
# Blending n independent patches loses a factor sqrt(n) of contrast; a gain above this would only amplify noise
# in the local energy estimates.
_MAX_GAIN = 3.0


def contextual_residual(image: np.ndarray, working_shape: tuple[int, int]) -> np.ndarray:
    """The high frequencies that the working resolution loses: ``image - bilinear(area_downsample(image))``.

    The reference definition over a whole image; :class:`ContextResidual` computes the same values only where
    they are read. Meaningful only where the bilinear kernel saw no hole pixel (:meth:`CellGrid.clean_cells`).

    Shape:
        image: ``H x W x 3`` float32. Returns ``H x W x 3`` float32, roughly in [-1, 1].
    """
    low = resize_bilinear(area_downsample(image, working_shape), image.shape[:2])
    np.subtract(image, low, out=low)
    return low


class ContextResidual:
    """:func:`contextual_residual` of ``image``, computed on demand for a window or for scattered pixels.

    Keeps the area-downsampled image and its horizontal bilinear pass (``h x W``, small), so a window costs its
    own pixels, not the region's; ``image`` stays in its stored dtype and only the pixels read are converted.

    Args:
        image: ``H x W x 3`` uint8, uint16, or float in [0, 1].
        working_shape: ``(h, w)``.
        low: ``image`` area-downsampled to ``working_shape`` (float32), when the caller has it. Its working hole
            pixels may hold anything (the lifter's working image has them cleared): the residual is only read
            where the bilinear kernel sees no working hole pixel.
    """

    def __init__(self, image: np.ndarray, working_shape: tuple[int, int], low: np.ndarray | None = None) -> None:
        self.image = image
        self.shape = image.shape[:2]
        if low is None:
            low = area_downsample_pixels(image, working_shape)
        elif low.shape != (*working_shape, 3):
            raise ValueError(f"the working image {low.shape} does not match the working shape {working_shape}")
        self.low = low
        self.wide = resize_bilinear(self.low, (working_shape[0], self.shape[1]))
        self.scale = (self.shape[0] / working_shape[0], self.shape[1] / working_shape[1])
        self._buffers = Buffers()

    def window(self, top: int, bottom: int, left: int, right: int, out: np.ndarray | None = None) -> np.ndarray:
        """The residual over rows ``[top, bottom)`` and columns ``[left, right)``: ``h x w x 3`` float32.

        ``out`` (``h x w x 3`` float32), when given, receives the residual and is returned.
        """
        low = resample_rows(self.wide[:, left:right], self.shape[0], (top, bottom), out=out)
        pixels = self.image[top:bottom, left:right]
        return np.subtract(to_float(pixels, out=self._buffers.get("pixels", pixels.shape)), low, out=low)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The residual at pixels ``(rows, cols)`` (int arrays of one shape ``S``): ``S x 3`` float32."""
        flat_rows, flat_cols = rows.reshape(-1), cols.reshape(-1)
        low = bilinear_points(self.low, self.shape, flat_rows, flat_cols)
        values = np.subtract(to_float(self.image[flat_rows, flat_cols]), low, out=low)
        return values.reshape(*rows.shape, 3)


class DetailSum:
    """Sums the detail moved into the hole onto the base, and the energy that detail had where it came from.

    Blending independent residual patches (window ramps, soft attention) averages their detail away: two
    patches mixed half and half keep half their energy, which shows as a grid of soft lines along cell borders.
    Blending identical patches loses nothing. So :meth:`finish` can rescale the sum by
    ``sqrt(source energy / energy of the sum)``, both averaged locally: 1 where the blended patches agree, up to
    ``sqrt(n)`` where ``n`` independent ones are mixed. The result keeps the contrast of the detail it copies and
    never amplifies coherent detail (a gain > 1 on identical patches would show as bright lines instead).

    The detail and its energy are summed over the hole's bounding box only (four floats a pixel), and the base
    is computed band by band when the sum is finished: nothing here grows with the region around the hole.
    """

    def __init__(self, mask: np.ndarray, box: Box) -> None:
        self.mask = mask
        self.box = box
        self.detail = np.zeros((*box.shape, 3), dtype=np.float32)
        self.energy = np.zeros(box.shape, dtype=np.float32)
        self._buffers = Buffers()

    def add(self, top: int, left: int, window: np.ndarray, patch: np.ndarray, energy: np.ndarray) -> None:
        """Adds ``window * patch`` and ``window * energy`` at ``(top, left)``; ``window`` is 0 off the hole.

        ``patch`` and ``energy`` are scaled by ``window`` in place (the caller's buffers, reused per cell).
        """
        box = self.box
        # the window is 0 outside the hole, so clipping to the hole's bounding box loses nothing
        clip_top, clip_left = max(top, box.top), max(left, box.left)
        clip_bottom = min(top + window.shape[0], box.bottom)
        clip_right = min(left + window.shape[1], box.right)
        if clip_top >= clip_bottom or clip_left >= clip_right:
            return
        inner = (slice(clip_top - top, clip_bottom - top), slice(clip_left - left, clip_right - left))
        target = (slice(clip_top - box.top, clip_bottom - box.top), slice(clip_left - box.left, clip_right - box.left))
        weights = window[inner]
        patch, energy = patch[inner], energy[inner]
        scale_channels(patch, weights, self._buffers)
        energy *= weights
        self.detail[target] += patch
        self.energy[target] += energy

    def add_pixels(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, energy: np.ndarray) -> None:
        """Adds per-pixel detail ``(n, 3)`` and energy ``(n,)`` at distinct hole pixels ``(rows, cols)``."""
        self.detail[rows - self.box.top, cols - self.box.left] += values
        self.energy[rows - self.box.top, cols - self.box.left] += energy

    def finish(self, fill: np.ndarray, radius: int | None) -> np.ndarray:
        """The base plus the energy-matched detail (with a ``radius``, see the class doc), clipped to [0, 1].

        Args:
            fill: the working-resolution fill, whose bilinear upsampling is the base under the detail.
            radius: half-size in pixels of the box filter (applied twice) that averages the energies; ``None``
                adds the detail as it is.

        Returns:
            ``box.height x box.width x 3`` float32, written over the summed detail (which is then gone).
        """
        box, full_shape = self.box, self.mask.shape
        wide_fill = bilinear_columns(fill, full_shape[1], (box.left, box.right))
        pad = 0 if radius is None else 2 * radius
        band_rows = max(1, _BAND_PIXELS // box.width)
        buffers = Buffers()
        # A band's smoothing reads ``pad`` rows above it, which the band before has overwritten with its result
        # by then: the squared norms of their detail are carried over from before the overwrite.
        carried = 0
        for top in range(0, box.height, band_rows):
            bottom = min(box.height, top + band_rows)
            detail = self.detail[top:bottom]
            base = resample_rows(
                wide_fill, full_shape[0], (box.top + top, box.top + bottom), out=buffers.get("base", detail.shape)
            )
            if radius is not None:
                outer_top, outer_bottom = top - carried, min(box.height, bottom + pad)
                squared = buffers.get("squared", (outer_bottom - outer_top, box.width))
                if carried:
                    squared[:carried] = buffers.get("above", (carried, box.width))
                squared_norm(self.detail[top:outer_bottom], out=squared[carried:])
                carried = min(pad, bottom)
                above = squared[bottom - carried - outer_top : bottom - outer_top]
                buffers.get("above", (carried, box.width))[...] = above
                size = (2 * radius + 1, 2 * radius + 1)
                summed = _smooth(squared, size, buffers)
                gain = _smooth(self.energy[outer_top:outer_bottom], size, buffers, "source")
                # gain = sqrt(source / summed), clipped to [1, _MAX_GAIN], and 1 where there is no summed energy
                np.maximum(gain, 0.0, out=gain)
                no_energy = summed <= 1e-12
                np.maximum(summed, 1e-12, out=summed)
                np.divide(gain, summed, out=gain)
                np.sqrt(gain, out=gain)
                np.clip(gain, 1.0, _MAX_GAIN, out=gain)
                gain[no_energy] = 1.0
                scale_channels(detail, gain[top - outer_top : bottom - outer_top], buffers)
            detail += base
            np.clip(detail, 0.0, 1.0, out=detail)
        return self.detail


def transfer_offsets(
    residual: ContextResidual, mask: np.ndarray, working_mask: np.ndarray, field: OffsetField, detail: DetailSum
) -> None:
    """Adds to ``detail`` residuals moved along a working-resolution offset field.

    A full-resolution hole pixel ``p`` lies among 4 working pixels ``q``; each brings ``k`` sources with
    weights. Source ``s`` of ``q`` moves ``p`` by ``round((s - q) * scale)`` full-resolution pixels (so ``p``
    keeps its place inside the working pixel) and the residual there is taken; the 4 neighbours are blended
    bilinearly, so the detail changes smoothly where the field does. Sources outside the image or on
    hole-contaminated residual (within one working pixel of the working hole) are dropped and the rest
    renormalised; a pixel left with none gets no detail.

    Shape:
        mask ``H x W``; working_mask ``h x w``; ``field.sources`` ``(h, w, k, 2)``.
    """
    working_shape = working_mask.shape
    if field.sources.shape[:2] != working_shape:
        raise ValueError(f"offset field {field.sources.shape[:2]} does not match the working image {working_shape}")
    height, width = mask.shape
    scale_y, scale_x = residual.scale
    # A residual pixel is clean when no working hole pixel is under its bilinear kernel.
    clean = cv2.dilate(working_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    sources = field.sources.astype(np.int64)
    source_weights = field.weights.astype(np.float32)
    band_rows = max(1, _OFFSET_CHUNK_PIXELS // width)
    for band_top in range(0, height, band_rows):
        hole_y, hole_x = np.nonzero(mask[band_top : band_top + band_rows])
        if hole_y.size == 0:
            continue
        hole_y += band_top
        total = np.zeros(hole_y.size, dtype=np.float32)
        aggregated = np.zeros((hole_y.size, 3), dtype=np.float32)
        energy = np.zeros(hole_y.size, dtype=np.float32)
        for near_y, weight_y in _bilinear_neighbours(hole_y, scale_y, working_shape[0]):
            for near_x, weight_x in _bilinear_neighbours(hole_x, scale_x, working_shape[1]):
                source = sources[near_y, near_x]  # (n, k, 2)
                shift_y = np.rint((source[..., 0] - near_y[:, None]) * scale_y).astype(np.int64)
                shift_x = np.rint((source[..., 1] - near_x[:, None]) * scale_x).astype(np.int64)
                target_y, target_x = hole_y[:, None] + shift_y, hole_x[:, None] + shift_x
                inside = (target_y >= 0) & (target_y < height) & (target_x >= 0) & (target_x < width)
                target_y, target_x = np.where(inside, target_y, 0), np.where(inside, target_x, 0)
                working_y = np.minimum(((target_y + 0.5) / scale_y).astype(np.int64), working_shape[0] - 1)
                working_x = np.minimum(((target_x + 0.5) / scale_x).astype(np.int64), working_shape[1] - 1)
                usable = inside & clean[working_y, working_x]
                corner = (weight_y * weight_x)[:, None] * source_weights[near_y, near_x]
                term = np.where(usable, corner, 0.0).astype(np.float32)
                samples = residual.at(target_y, target_x)
                total += term.sum(axis=1)
                aggregated += np.einsum("nk,nkc->nc", term, samples)
                energy += np.einsum("nk,nkc,nkc->n", term, samples, samples)
        covered = total > 1e-6
        scale = np.where(covered, 1.0 / np.maximum(total, 1e-6), 0.0).astype(np.float32)
        detail.add_pixels(hole_y, hole_x, aggregated * scale[:, None], energy * scale)


def _bilinear_neighbours(positions: np.ndarray, scale: float, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two working pixels around each full-resolution position along one axis, with bilinear weights."""
    coordinate = (positions + 0.5) / scale - 0.5
    lower = np.floor(coordinate).astype(np.int64)
    fraction = (coordinate - lower).astype(np.float32)
    # past the first or last centre both neighbours clip to the same border pixel, so the split does not matter
    return [(np.clip(lower, 0, size - 1), 1.0 - fraction), (np.clip(lower + 1, 0, size - 1), fraction)]
