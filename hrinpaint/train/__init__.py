"""Training: datasets, losses, one thin trainer per generator family, the loop, and export to safetensors.

Entries are lazy; importing this package does not import torch.
"""

from hrinpaint.registry import Registry

TRAINERS: Registry = Registry("trainer")
TRAINERS.register("hifill", "hrinpaint.train.hifill:HiFillTrainer", "HiFill coarse-to-fine generator (CRA paper)")

__all__ = ["TRAINERS"]
