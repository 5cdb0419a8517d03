"""Pool: max or average pooling; stride 0 is non-overlapping, a smaller stride pads 'same'
(`pool_padding`) and leaves the padding out of averages."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.ops.padding import pool_padding
from nasforge.searchspace.plan_ops import Pool

POOLS: Mapping[tuple[str, int], Callable[..., nn.Module]] = {
    ("max", 1): nn.MaxPool1d,
    ("max", 2): nn.MaxPool2d,
    ("avg", 1): nn.AvgPool1d,
    ("avg", 2): nn.AvgPool2d,
}


def build(op: Pool, ctx: BuildCtx) -> nn.Module:
    pool = POOLS[op.kind, op.dims]
    if not op.stride:
        return pool(kernel_size=op.size, stride=op.size)
    extra = {"count_include_pad": False} if op.kind == "avg" else {}
    return pool(kernel_size=op.size, stride=op.stride,
                padding=pool_padding(op.size, op.stride), **extra)


def check(op: Pool) -> str | None:
    if (op.kind, op.dims) not in POOLS:
        return (f"it is a {op.kind!r} pool over {op.dims} spatial axes; pools are 'max' or "
                "'avg' over 1 or 2 axes.")
    if op.size < 1 or op.stride < 0:
        return f"it has window {op.size} and stride {op.stride}; use a window of at least 1."
    if op.stride and op.size % 2 == 0:
        return f"an overlapping {op.kind} pool needs an odd window, got {op.size}."
    return None
