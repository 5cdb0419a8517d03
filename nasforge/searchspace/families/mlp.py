"""The `mlp` family: a stack of Linear -> norm -> activation -> dropout blocks and a head."""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import (
    MAX_DEPTH,
    Conditions,
    FamilyView,
    check_ints,
    check_keys,
    per_index_params,
)
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.quantization import layer_bits
from nasforge.searchspace.space import When

DEFAULTS: dict[str, object] = {
    "depth": {"low": 1, "high": 3},
    "width": [32, 64, 128, 256],
    "per_layer_width": False,
}


class MLPFamily:
    """Hidden layers ``mlp.depth`` of width ``mlp.width`` (or ``mlp.width.i`` per layer)."""

    name = "mlp"
    layer_count_key = "depth"  # per-layer bit widths: one per hidden layer

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        depth = param_from_spec(merged["depth"], "mlp.depth")
        check_ints(depth, "mlp.depth", low=0, high=MAX_DEPTH)  # 0: a linear model
        width = param_from_spec(merged["width"], "mlp.width")
        check_ints(width, "mlp.width")
        per_layer = merged["per_layer_width"]
        if not isinstance(per_layer, bool):
            raise SpaceError("[space.mlp] per_layer_width must be true or false.")
        if not per_layer:
            hidden = tuple(d for d in depth.values() if int(d) >= 1)
            if not hidden:  # a linear model has no width
                return {"depth": depth}, {}
            # without hidden layers the width means nothing: it exists only when depth >= 1
            conditions: Conditions = (
                {"width": (When("depth", hidden),)} if 0 in depth.values() else {})
            return {"depth": depth, "width": width}, conditions
        widths, conditions = per_index_params("width", width, "depth", depth)
        return {"depth": depth, **widths}, conditions

    def canonicalizer(self, spec: Mapping[str, object]) -> None:
        return None  # every assignment is its own canonical form

    def check_data(self, data: DataSpec) -> None:
        return None  # an MLP flattens any input

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        view = FamilyView(self.name, arch)
        plan = PlanBuilder(self.name, data.input_shape).flatten()
        norm, activation = str(view["norm"]), view.activation
        dropout = float(view.get("dropout", 0.0))
        depth = int(view["depth"])
        for i in range(depth):
            bits = layer_bits(view.get, i, first=i == 0, last=False)
            plan.linear(int(view.per_index("width", i)), bias=norm == "none", bits=bits)
            plan.norm_activation(norm, activation)
            plan.dropout(dropout)
        bits = layer_bits(view.get, None, first=depth == 0, last=True)
        return plan.linear(data.num_outputs, bits=bits).build()
