"""The `resmlp` family: a residual MLP. Torch-free, like every family: it declares its space
parameters and turns an architecture into a network plan; nasforge builds, trains, exports
and costs the plan.

    stem Linear(width) -> blocks x [x + Linear(norm_act(x))] -> norm_act -> Linear(outputs)
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import Conditions, FamilyView, check_ints, check_keys
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder

DEFAULTS: dict[str, object] = {"blocks": {"low": 1, "high": 3}, "width": [32, 64, 128]}


class ResMLPFamily:
    """Residual MLP: a stem, `blocks` pre-norm residual blocks of one width, and a head."""

    name = "resmlp"
    layer_count_key = None  # no per-layer bit widths

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        blocks = param_from_spec(merged["blocks"], "resmlp.blocks")
        check_ints(blocks, "resmlp.blocks", low=1, high=32)
        width = param_from_spec(merged["width"], "resmlp.width")
        check_ints(width, "resmlp.width")
        return {"blocks": blocks, "width": width}, {}

    def canonicalizer(self, spec: Mapping[str, object]) -> None:
        return None  # every assignment is a distinct network

    def check_data(self, data: DataSpec) -> None:
        return None  # flattens any input

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        view = FamilyView(self.name, arch)
        norm, activation = str(view["norm"]), view.activation
        width = int(view["width"])
        plan = PlanBuilder(self.name, data.input_shape).flatten().linear(width)
        for _ in range(int(view["blocks"])):
            plan.residual(plan.sub().norm_activation(norm, activation).linear(width))
        plan.norm_activation(norm, activation)
        return plan.linear(data.num_outputs).build()
