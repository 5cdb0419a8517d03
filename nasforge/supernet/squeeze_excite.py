"""The elastic rule of the SqueezeExcite op (``nasforge.supernet.squeeze_excite:SQUEEZE_EXCITE``):
its two 1x1 layers share the largest weights of their slot (``<slot>_down``: reduced x
channels, ``<slot>_up``: channels x reduced, with biases); a subnet with fewer channels or
fewer squeezed channels reads the first rows and columns. Both stay float32 (as the op's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.searchspace.layers.portable.squeeze_excite import SqueezeExcite as Module
from nasforge.supernet.rules import SlotShape, Step

if TYPE_CHECKING:
    from nasforge.supernet.model import Supernet

_CONVS = {1: F.conv1d, 2: F.conv2d}


class SqueezeExciteRule:
    role = "se"
    stage = 0

    def slot_shape(self, op: Any, slot: str) -> SlotShape:
        return SlotShape(self, op.channels, op.reduced, 1, op.dims)

    def make(self, net: Supernet, slot: str, shape: SlotShape) -> None:
        if shape.rule is not self:
            return
        reference = Module(shape.out, shape.in_, shape.dims)
        for part in ("down", "up"):
            layer: Any = getattr(reference, part)
            net.weights[f"{slot}_{part}"] = nn.Parameter(layer.weight.detach().clone())
            net.biases[f"{slot}_{part}"] = nn.Parameter(layer.bias.detach().clone())

    def step(self, net: Supernet, op: Any, slot: str) -> Step:
        weights, biases, conv = net.weights, net.biases, _CONVS[op.dims]
        channels, reduced, down, up = op.channels, op.reduced, f"{slot}_down", f"{slot}_up"
        axes = tuple(range(2, 2 + op.dims))
        gate = F.hardsigmoid if op.gate == "hardsigmoid" else torch.sigmoid

        def step(x: torch.Tensor, training: bool) -> torch.Tensor:
            pooled = x.mean(dim=axes, keepdim=True)
            s = F.relu(conv(pooled, weights[down][:reduced, :channels], biases[down][:reduced]))
            return x * gate(conv(s, weights[up][:channels, :reduced], biases[up][:channels]))
        return step

    def modules(self, net: Supernet, op: Any, slot: str) -> tuple[nn.Module, ...]:
        return ()

    @torch.no_grad()
    def copy_into(self, net: Supernet, module: nn.Module, op: Any, slot: str) -> None:
        built: Any = module
        channels, reduced = op.channels, op.reduced
        built.down.weight.copy_(net.weights[f"{slot}_down"][:reduced, :channels])
        built.down.bias.copy_(net.biases[f"{slot}_down"][:reduced])
        built.up.weight.copy_(net.weights[f"{slot}_up"][:channels, :reduced])
        built.up.bias.copy_(net.biases[f"{slot}_up"][:channels])


SQUEEZE_EXCITE = SqueezeExciteRule()
