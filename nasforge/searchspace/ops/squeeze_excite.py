"""SqueezeExcite: a per-channel gate from pooled features, (N, C, *s) -> (N, C, *s)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.portable.squeeze_excite import SqueezeExcite as Module
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import SE_GATES, SqueezeExcite


def build(op: SqueezeExcite, ctx: BuildCtx) -> nn.Module:
    return Module(op.channels, op.reduced, op.dims, op.gate)


def check(op: SqueezeExcite) -> str | None:
    if op.dims not in (1, 2):
        return (f"it gates features over {op.dims} spatial axes; squeeze-and-excite needs "
                "sequence (N, C, L) or image (N, C, H, W) features.")
    if op.channels < 1 or op.reduced < 1:
        return (f"it squeezes {op.channels} channels to {op.reduced}; both must be at "
                "least 1.")
    if op.gate not in SE_GATES:
        return f"its gate is {op.gate!r}; use one of {', '.join(SE_GATES)}."
    return None
