"""Pure array operations on the canonical forms (image: float32 H x W x 3 in [0, 1]; mask: bool H x W, True = hole).

No state, no torch, no files. Submodules: :mod:`resize`, :mod:`pyramid`, :mod:`morphology`, :mod:`regions`,
:mod:`patches`, :mod:`buffers` (scratch arrays reused across a loop). Pasting hole pixels back into the photo is the
pipeline's job (:mod:`hrinpaint.pipeline`, band by band in the photo's own dtype); pixel dtype conversions are in
:mod:`hrinpaint.pixels`.
"""

from hrinpaint.ops.morphology import dilate, erode
from hrinpaint.ops.pyramid import gaussian_pyramid, laplacian_pyramid, reconstruct_laplacian
from hrinpaint.ops.regions import Box, connected_boxes, hole_regions
from hrinpaint.ops.resize import area_downsample, downsample_mask, fit_long_side, resize_bicubic, resize_bilinear

__all__ = [
    "Box",
    "area_downsample",
    "connected_boxes",
    "dilate",
    "downsample_mask",
    "erode",
    "fit_long_side",
    "gaussian_pyramid",
    "hole_regions",
    "laplacian_pyramid",
    "reconstruct_laplacian",
    "resize_bicubic",
    "resize_bilinear",
]
