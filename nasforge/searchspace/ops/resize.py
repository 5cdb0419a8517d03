"""Resize: the input's spatial axes interpolated to the architecture's resolution
(`layers.portable.resize.Resize`, antialiased, as fixed matrix products)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.portable.resize import Resize as ResizeModule
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import RESIZE_MODES, Resize


def build(op: Resize, ctx: BuildCtx) -> nn.Module:
    return ResizeModule(op.in_size, (op.size,) * op.dims, op.mode)


def check(op: Resize) -> str | None:
    if op.dims not in (1, 2) or len(op.in_size) != op.dims:
        return (f"it resizes {op.dims} spatial axes of an input of spatial size {op.in_size}; "
                "resize (C, L) sequences or (C, H, W) images.")
    if op.mode not in RESIZE_MODES:
        return f"its mode {op.mode!r} is unknown; use {' or '.join(RESIZE_MODES)}."
    if op.size < 1:
        return f"its size {op.size} is below 1 pixel."
    return None
