"""The `cell` family: NAS-Bench-201-style DAG cells stacked into a macro network.

A cell has ``nodes`` nodes (``[space.cell] nodes``, default 4): node 0 is the cell's input,
node j the sum of one operation (`cell_ops.CELL_OPS`) applied to every earlier node, the
last node its output. Edge j <- i is the parameter ``cell.edge_j_i``, a choice over
``[space.cell] ops`` (default: NAS-Bench-201's five, so the tabular evaluator reads the same
encoding). Every cell of a network shares the one searched cell, as in NAS-Bench-201.

The macro network (NAS-Bench-201's, with the searched activation, norm and bit widths):
stem 3x3 conv + norm -> ``cell.stages`` stages of ``cell.cells_per_stage`` cells, the channels
``cell.channels`` doubling at each stage through a residual reduction block (act-conv3x3/2-
norm-act-conv3x3-norm, shortcut 1x1 conv/2) -> norm + act -> global average pool -> linear.

Cells that compute the same function share one architecture: the space canonicalises every
candidate (`cells.canonical_cell`: dead edges become "none", isomorphic cells one
representative), so they get the same ``arch_id`` and are never evaluated twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.cells import (
    NB201_OPS,
    CellCanonicalizer,
    cell_edges,
    cell_graph,
)
from nasforge.searchspace.families.base import (
    MAX_STAGES,
    Conditions,
    FamilyView,
    check_ints,
    check_keys,
    require_spatial,
)
from nasforge.searchspace.families.cell_ops import CELL_OPS, NONE, EdgeContext
from nasforge.searchspace.params import Choice, Param, param_from_spec
from nasforge.searchspace.plan import CellEdge, DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.quantization import layer_bits

NAME = "cell"
MIN_NODES, MAX_NODES = 2, 6

DEFAULTS: dict[str, object] = {
    "nodes": 4,
    "ops": list(NB201_OPS),
    "channels": [8, 16],
    "stages": 3,
    "cells_per_stage": [1, 2],
}

_EDGE_PREFIX = f"{NAME}.edge_"


class CellFamily:
    """DAG cells over (C, L) sequences and (C, H, W) images."""

    name = NAME
    layer_count_key = None  # one cell shared by the whole network: no per-layer widths

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        nodes = _spec_nodes(spec)
        ops = merged["ops"]
        if not isinstance(ops, list) or not ops or len(set(map(str, ops))) != len(ops):
            raise SpaceError("[space.cell] ops must be a non-empty list of distinct operation "
                             f"names from: {', '.join(CELL_OPS.names())}.")
        for op in ops:
            if op not in CELL_OPS:
                raise SpaceError(f"[space.cell] ops: {CELL_OPS.unknown_message(op)}")
        if all(op == NONE for op in ops):
            raise SpaceError('[space.cell] ops = ["none"] gives cells without edges, networks '
                             'that ignore their input; add operations such as "nor_conv_3x3".')
        params: dict[str, Param] = {}
        for key in ("channels", "stages", "cells_per_stage"):
            params[key] = param_from_spec(merged[key], f"cell.{key}")
        check_ints(params["channels"], "cell.channels")
        check_ints(params["stages"], "cell.stages", high=MAX_STAGES)
        check_ints(params["cells_per_stage"], "cell.cells_per_stage", high=MAX_STAGES)
        edges = {f"edge_{to}_{source}": Choice(tuple(ops))
                 for to, source in cell_edges(nodes)}
        return {**params, **edges}, {}

    def check_data(self, data: DataSpec) -> None:
        require_spatial(self.name, data)

    def canonicalizer(self, spec: Mapping[str, object]) -> CellCanonicalizer:
        """Maps every cell of the space to its canonical form (other families untouched)."""
        return CellCanonicalizer(_spec_nodes(spec), NAME)

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        self.check_data(data)
        nodes = _nodes(arch)
        if nodes is None:
            raise SpaceError("Architecture of family 'cell' has no cell.edge_j_i parameters; "
                             "it does not come from a cell space.")
        live = cell_graph(arch, nodes, NAME, pruned=True)  # edges on input -> output paths
        view = FamilyView(self.name, arch)
        norm, activation = str(view["norm"]), view.activation
        ctx = EdgeContext(activation, norm, layer_bits(view.get, None, first=False, last=False))
        channels = int(view["channels"])
        plan = PlanBuilder(self.name, data.input_shape)
        plan.conv(channels, 3, bias=norm == "none",
                  bits=layer_bits(view.get, None, first=True, last=False))
        if norm != "none":
            plan.norm(norm)
        for stage in range(int(view["stages"])):
            if stage:
                channels *= 2
                _reduction(plan, channels, ctx)
            for _ in range(int(view["cells_per_stage"])):
                edges = tuple(
                    CellEdge(to, source, op, CELL_OPS.get(op)(plan.sub(), ctx).branch())
                    for to, source in cell_edges(nodes) if live.has_edge(source, to)
                    and (op := live.edges[source, to]["op"]) != NONE)
                plan.cell(nodes, edges)
        plan.norm_activation(norm, activation).global_pool()
        plan.dropout(float(view.get("dropout", 0.0)))
        return plan.linear(data.num_outputs,
                           bits=layer_bits(view.get, None, first=False, last=True)).build()


def _reduction(plan: PlanBuilder, channels: int, ctx: EdgeContext) -> None:
    """NAS-Bench-201's residual reduction block: spatial size halved, `channels` out."""
    bias = ctx.norm == "none"
    main = plan.sub()
    for stride in (2, 1):
        if ctx.activation is not None:
            main.activation(ctx.activation)
        main.conv(channels, 3, stride, bias=bias, bits=ctx.bits)
        if ctx.norm != "none":
            main.norm(ctx.norm)
    plan.residual(main, plan.sub().conv(channels, 1, 2, bias=False, bits=ctx.bits))


def _spec_nodes(spec: Mapping[str, object]) -> int:
    """``[space.cell] nodes`` (default 4), checked."""
    nodes = spec.get("nodes", DEFAULTS["nodes"])
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not (
            MIN_NODES <= nodes <= MAX_NODES):
        raise SpaceError(f"[space.cell] nodes = {nodes!r}: a cell has a whole number of "
                         f"nodes from {MIN_NODES} to {MAX_NODES} (input and output "
                         "included; NAS-Bench-201 has 4).")
    return nodes


def _nodes(values: Mapping[str, Scalar]) -> int | None:
    """The number of nodes of the cell in `values` (from its edge names), None without one."""
    targets = [int(key[len(_EDGE_PREFIX):].split("_")[0]) for key in values
               if key.startswith(_EDGE_PREFIX)]
    return max(targets) + 1 if targets else None
