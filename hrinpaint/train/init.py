"""Data-dependent initialisation: scale each layer so that its output has unit spread on a real batch.

Deep gated stacks with PyTorch's default initialisation shrink the signal at every layer (the gate halves it, ELU
and the default weight scale shrink it further): after the HiFill coarse branch's 25 layers almost nothing is
left. A network trained from scratch escapes through its biases; a residual network that starts at its prefill
cannot, and stays there. Layer-sequential unit-variance scaling (LSUV, Mishkin and Matas 2016) fixes the spread.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hrinpaint.nn.layers import GatedConv2d


@torch.no_grad()
def unit_variance_init(
    model: nn.Module, run: Callable[[], object], target_std: float = 1.0, rounds: int = 2, skip: tuple = ()
) -> dict[str, float]:
    """Rescales the feature weights of every activated :class:`GatedConv2d` in ``model``, in registration order.

    Args:
        model: the network.
        run: runs one forward pass of ``model`` on a fixed batch.
        target_std: the spread each layer's pre-activation features should have.
        rounds: passes per layer (the nonlinearity makes one pass approximate).
        skip: layers left as they are.

    Returns:
        The final pre-activation spread of each layer, by name.
    """
    spreads: dict[str, float] = {}
    for name, layer in model.named_modules():
        if not isinstance(layer, GatedConv2d) or not layer.activation or layer in skip:
            continue
        seen: list[float] = []
        hook = layer.conv.register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(float(out.std())))
        try:
            for _ in range(rounds):
                seen.clear()
                run()
                if not seen or seen[0] < 1e-12:
                    break
                layer.conv.weight.mul_(target_std / seen[0])
            seen.clear()
            run()
            spreads[name] = seen[0] if seen else 0.0
        finally:
            hook.remove()
    return spreads
