"""Training: datasets, losses, one trainer per generator family (a :class:`~hrinpaint.train.base.Trainer`), the
loop, and export to safetensors.

Entries are lazy; importing this package does not import torch.
"""

from hrinpaint.registry import Registry

TRAINERS: Registry = Registry("trainer")
TRAINERS.register("hifill", "hrinpaint.train.hifill:HiFillTrainer", "HiFill coarse-to-fine generator (CRA paper)")
TRAINERS.register("zoom", "hrinpaint.train.zoom:ZoomTrainer", "Zoom-to-Inpaint: coarse, SR, refine; then jointly")
TRAINERS.register("pyramid", "hrinpaint.train.pyramid:PyramidTrainer", "Pyramid Generator: all levels jointly")
TRAINERS.register("shift", "hrinpaint.train.shift:ShiftTrainer", "shifted-context refinement U-Net")

__all__ = ["TRAINERS"]
