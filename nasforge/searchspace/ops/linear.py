"""Linear: a fully connected layer, quantization-aware below 32 bits."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.quant import QuantLinear
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import Linear
from nasforge.searchspace.quantization import FLOAT_BITS


def build(op: Linear, ctx: BuildCtx) -> nn.Module:
    if op.weight_bits == op.act_bits == FLOAT_BITS:
        return nn.Linear(op.in_features, op.out_features, bias=op.bias)
    return QuantLinear(op.in_features, op.out_features, bias=op.bias,
                       weight_bits=op.weight_bits, act_bits=op.act_bits,
                       learned_step=op.learned_step)


def check(op: Linear) -> str | None:
    if op.in_features < 1 or op.out_features < 1:
        return (f"it maps {op.in_features} features to {op.out_features}; a linear layer "
                "needs at least one of each.")
    return None
