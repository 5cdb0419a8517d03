"""Cell: a DAG cell; each edge's branch is built through dispatch (`ctx.branch`)."""

from __future__ import annotations

from torch import nn

from nasforge.searchspace.layers.portable import composite
from nasforge.searchspace.ops.context import BuildCtx
from nasforge.searchspace.plan_ops import Cell


def build(op: Cell, ctx: BuildCtx) -> nn.Module:
    return composite.Cell(op.nodes, {f"{edge.to}_{edge.source}": ctx.branch(edge.branch)
                                     for edge in op.edges})


def check(op: Cell) -> str | None:
    for edge in op.edges:
        if not 0 <= edge.source < edge.to < op.nodes:
            return (f"its edge {edge.to} <- {edge.source} does not run forward between its "
                    f"{op.nodes} nodes; an edge goes from a node to a later one.")
    return None
