"""The `cnn` family: convolutional stages (conv -> norm -> activation, then pooling) and a head.

Works on sequences (C, L) with 1-D convolutions and images (C, H, W) with 2-D convolutions.
The readout is global average pooling or flattening, then an optional hidden linear layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import (
    MAX_KERNEL,
    MAX_STAGES,
    Conditions,
    FamilyView,
    check_ints,
    check_keys,
    dense_head,
    per_index_params,
    require_spatial,
)
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.quantization import layer_bits

POOLS = ("max", "avg", "none")
READOUTS = ("global_avg", "flatten")

DEFAULTS: dict[str, object] = {
    "stages": {"low": 1, "high": 3},
    "channels": [16, 32, 64],
    "per_stage_channels": True,
    "convs_per_stage": 1,
    "kernel": [3, 5],
    "pool": ["max", "avg"],
    "readout": ["global_avg", "flatten"],
    "head_width": [0, 64],
}


class CNNFamily:
    """``cnn.stages`` stages of ``cnn.convs_per_stage`` convolutions with ``cnn.channels``
    (or ``cnn.channels.i`` per stage) output channels and ``cnn.kernel`` kernels."""

    name = "cnn"
    layer_count_key = "stages"  # per-layer bit widths: one per stage

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        params: dict[str, Param] = {}
        for key in ("stages", "convs_per_stage", "kernel", "head_width"):
            params[key] = param_from_spec(merged[key], f"cnn.{key}")
        check_ints(params["stages"], "cnn.stages", high=MAX_STAGES)
        check_ints(params["convs_per_stage"], "cnn.convs_per_stage", high=MAX_STAGES)
        check_ints(params["kernel"], "cnn.kernel", high=MAX_KERNEL)
        check_ints(params["head_width"], "cnn.head_width", low=0)  # 0: no hidden layer
        if any(int(k) % 2 == 0 for k in params["kernel"].values()):
            raise SpaceError("[space.cnn] kernel sizes must be odd (3, 5, 7, ...) so that "
                             "'same' padding keeps the shape.")
        for key, allowed in (("pool", POOLS), ("readout", READOUTS)):
            params[key] = param_from_spec(merged[key], f"cnn.{key}")
            bad = [v for v in params[key].values() if v not in allowed]
            if bad:
                raise SpaceError(f"[space.cnn] {key} value(s) {bad} are not allowed; use some "
                                 f"of {', '.join(allowed)}.")
        channels = param_from_spec(merged["channels"], "cnn.channels")
        check_ints(channels, "cnn.channels")
        per_stage = merged["per_stage_channels"]
        if not isinstance(per_stage, bool):
            raise SpaceError("[space.cnn] per_stage_channels must be true or false.")
        if not per_stage:
            return {**params, "channels": channels}, {}
        per_stage, conditions = per_index_params("channels", channels, "stages", params["stages"])
        return {**params, **per_stage}, conditions

    def canonicalizer(self, spec: Mapping[str, object]) -> None:
        return None  # every assignment is its own canonical form

    def check_data(self, data: DataSpec) -> None:
        require_spatial(self.name, data)

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        self.check_data(data)
        view = FamilyView(self.name, arch)
        norm, activation = str(view["norm"]), view.activation
        kernel, pool = int(view["kernel"]), str(view["pool"])
        plan = PlanBuilder(self.name, data.input_shape)
        for stage in range(int(view["stages"])):
            for conv in range(int(view["convs_per_stage"])):
                bits = layer_bits(view.get, stage, first=stage == conv == 0, last=False)
                plan.conv(int(view.per_index("channels", stage)), kernel, bias=norm == "none",
                          bits=bits)
                plan.norm_activation(norm, activation)
            if pool != "none" and min(plan.shape[1:]) >= 2:
                plan.pool(pool, 2)
        if view["readout"] == "global_avg":
            plan.global_pool()
        else:
            plan.flatten()
        plan.dropout(float(view.get("dropout", 0.0)))
        return dense_head(plan, view, norm, activation, data.num_outputs)
