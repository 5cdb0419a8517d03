"""Flatten: (N, C, ...) -> (N, C * ...)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import Flatten


def build(op: Flatten, ctx: BuildCtx) -> nn.Module:
    return nn.Flatten()


def check(op: Flatten) -> str | None:
    return None
