"""The cell-operation registry: name -> how an edge of a cell is planned (torch-free).

An operation keeps the shape (channels, *spatial) of its input. It receives a `PlanBuilder`
started at the edge's input shape and the layer choices of the architecture (`EdgeContext`),
and appends its ops; the searched activation and norm are used where NAS-Bench-201 has ReLU
and batch norm, so cells compose with activation and norm search. The names follow
NAS-Bench-201 (`nasforge.searchspace.cells.NB201_OPS`), so the cell family and the tabular
NAS-Bench-201 evaluator share one encoding.

==============  =========================================================================
name            ops (``act`` / ``norm`` are the architecture's; with a norm-activation
                layer such as EvoNorm there is no separate ``act``)
==============  =========================================================================
none            no edge (a zero contribution)
skip_connect    identity
nor_conv_1x1    act, 1x1 conv, norm
nor_conv_3x3    act, 3x3 conv, norm
sep_conv_3x3    act, 3x3 depthwise conv, 1x1 pointwise conv, norm (DARTS' separable conv,
                one repeat)
dil_conv_3x3    act, 3x3 depthwise conv with dilation 2, 1x1 pointwise conv, norm
avg_pool_3x3    3x3 average pooling, stride 1 (padding left out of the average)
max_pool_3x3    3x3 max pooling, stride 1
==============  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nasforge.registry import Registry
from nasforge.searchspace.plan import PlanBuilder
from nasforge.searchspace.quantization import FLOAT, LayerBits


@dataclass(frozen=True, slots=True)
class EdgeContext:
    """The layer choices a cell operation uses; `activation` is None under a norm-activation
    layer."""

    activation: str | None
    norm: str
    bits: LayerBits = FLOAT


CellOp = Callable[[PlanBuilder, EdgeContext], PlanBuilder]

CELL_OPS: Registry[CellOp] = Registry("cell op")
NONE = "none"


def _conv(b: PlanBuilder, ctx: EdgeContext, kernel: int, *, separable: bool = False,
          dilation: int = 1) -> PlanBuilder:
    channels = b.shape[0]
    bias = ctx.norm == "none"
    if ctx.activation is not None:
        b.activation(ctx.activation)
    if separable:
        b.conv(channels, kernel, groups=channels, dilation=dilation, bias=False, bits=ctx.bits)
        b.conv(channels, 1, bias=bias, bits=ctx.bits)
    else:
        b.conv(channels, kernel, dilation=dilation, bias=bias, bits=ctx.bits)
    return b.norm(ctx.norm) if ctx.norm != "none" else b


@CELL_OPS.register(NONE)
def none(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """No edge: the family leaves it out of the cell; planning it adds nothing."""
    return b


@CELL_OPS.register("skip_connect")
def skip_connect(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """Identity."""
    return b


@CELL_OPS.register("nor_conv_1x1")
def nor_conv_1x1(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """act, 1x1 conv, norm."""
    return _conv(b, ctx, 1)


@CELL_OPS.register("nor_conv_3x3")
def nor_conv_3x3(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """act, 3x3 conv, norm."""
    return _conv(b, ctx, 3)


@CELL_OPS.register("sep_conv_3x3")
def sep_conv_3x3(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """act, 3x3 depthwise conv, 1x1 pointwise conv, norm."""
    return _conv(b, ctx, 3, separable=True)


@CELL_OPS.register("dil_conv_3x3")
def dil_conv_3x3(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """act, 3x3 depthwise conv (dilation 2), 1x1 pointwise conv, norm."""
    return _conv(b, ctx, 3, separable=True, dilation=2)


@CELL_OPS.register("avg_pool_3x3")
def avg_pool_3x3(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """3x3 average pooling, stride 1."""
    return b.pool("avg", 3, stride=1)


@CELL_OPS.register("max_pool_3x3")
def max_pool_3x3(b: PlanBuilder, ctx: EdgeContext) -> PlanBuilder:
    """3x3 max pooling, stride 1."""
    return b.pool("max", 3, stride=1)
