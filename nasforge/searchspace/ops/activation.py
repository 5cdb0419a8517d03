"""Activation: a layer of the activation registry, built through its `LayerSpec`."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.ops.layer import unsupported
from nasforge.searchspace.plan_ops import Activation
from nasforge.searchspace.specs import ACTIVATIONS


def build(op: Activation, ctx: BuildCtx) -> nn.Module:
    module: nn.Module = ctx.layer("activation", op.kind)(op.channels, op.dims)
    return module


def check(op: Activation) -> str | None:
    return unsupported(ACTIVATIONS.get(op.kind), op.channels, op.dims)
