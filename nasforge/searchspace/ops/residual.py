"""Residual: main(x) + shortcut(x); both branches built through dispatch (`ctx.branch`)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.portable import composite
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import Residual


def build(op: Residual, ctx: BuildCtx) -> nn.Module:
    return composite.Residual(ctx.branch(op.main), ctx.branch(op.shortcut))


def check(op: Residual) -> str | None:
    return None
