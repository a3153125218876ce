"""Network layers, generator families and their registry. Entries are lazy: importing this does not import torch.

``MODELS.build("hifill", width=16)`` builds a generator from its typed config; :mod:`hrinpaint.nn.weights`
loads shipped or trained weights with their manifest.
"""

from hrinpaint.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("hifill", "hrinpaint.nn.hifill:HiFillGenerator", "HiFill coarse-to-fine generator, shared attention")
MODELS.register("shift", "hrinpaint.nn.shift:ShiftUNet", "shifted-context refinement U-Net (20-channel input)")
MODELS.register("zoom", "hrinpaint.nn.zoom:ZoomGenerator", "Zoom-to-Inpaint: coarse, x2 SR, high-resolution refine")
MODELS.register("pyramid", "hrinpaint.nn.pyramid:PyramidGenerator", "Pyramid Generator: DeepFill v2-style levels")
MODELS.register("lama", "hrinpaint.nn.lama:LamaGenerator", "LaMa / Big-LaMa Fourier-convolution ResNet (official keys)")

__all__ = ["MODELS"]
