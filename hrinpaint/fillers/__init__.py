"""Fillers (the structure step) and their registry. Entries are lazy: nothing here imports a method."""

from hrinpaint.fillers.base import Filler, FillResult
from hrinpaint.registry import Registry

FILLERS: Registry[Filler] = Registry("filler")
FILLERS.register("telea", "hrinpaint.fillers.opencv:TeleaFiller", "OpenCV fast marching (Telea 2004); smooth")
FILLERS.register("ns", "hrinpaint.fillers.opencv:NavierStokesFiller", "OpenCV Navier-Stokes diffusion; smooth")
FILLERS.register(
    "patchmatch",
    "hrinpaint.fillers.patchmatch:PatchMatchFiller",
    "multi-scale PatchMatch completion (Wexler/Barnes); sharp textures, no weights",
)
FILLERS.register(
    "hifill",
    "hrinpaint.fillers.hifill:HiFillFiller",
    "HiFill generator (CRA paper), trained here; its attention drives cra",
)
FILLERS.register("zoom", "hrinpaint.fillers.zoom:ZoomFiller", "Zoom-to-Inpaint: coarse, x2 SR, refine at 2x, zoom out")
FILLERS.register("pyramid", "hrinpaint.fillers.pyramid:PyramidFiller", "Pyramid Generator: structure low, detail high")
FILLERS.register("lama", "hrinpaint.fillers.lama:LamaFiller", "LaMa / Big-LaMa from converted official weights")

__all__ = ["FILLERS", "FillResult", "Filler"]
