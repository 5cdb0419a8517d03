"""Norm: a layer of the norm registry, built through its `LayerSpec`."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.ops.layer import unsupported
from nasforge.searchspace.plan_ops import Norm
from nasforge.searchspace.specs import NORMS


def build(op: Norm, ctx: BuildCtx) -> nn.Module:
    module: nn.Module = ctx.layer("norm", op.kind)(op.channels, op.dims)
    return module


def check(op: Norm) -> str | None:
    return unsupported(NORMS.get(op.kind), op.channels, op.dims)
