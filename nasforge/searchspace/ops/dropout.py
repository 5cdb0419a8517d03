"""Dropout with rate p (0 <= p < 1)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import Dropout


def build(op: Dropout, ctx: BuildCtx) -> nn.Module:
    return nn.Dropout(op.p)


def check(op: Dropout) -> str | None:
    if not 0.0 <= op.p < 1.0:
        return f"it has dropout p={op.p}; use 0 <= p < 1."
    return None
