"""GlobalPool: the mean over all spatial axes, (N, C, *s) -> (N, C)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.portable.composite import GlobalAvgPool
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import GlobalPool


def build(op: GlobalPool, ctx: BuildCtx) -> nn.Module:
    return GlobalAvgPool(op.dims)


def check(op: GlobalPool) -> str | None:
    if op.dims < 1:
        return "it pools flat (N, C) features, which have no spatial axes; leave it out."
    return None
