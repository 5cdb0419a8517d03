"""The `mbconv` family: MobileNetV2/V3-style inverted-residual networks.

Stem (3x3 conv, stride 1 for inputs up to 32 px, else 2) -> norm -> activation; then
``mbconv.stages`` stages of ``depth`` inverted-residual blocks each:

    1x1 expansion conv to in x ``expand`` channels (left out when ``expand`` is 1) -> norm/act
    -> depthwise ``kernel`` x ``kernel`` conv (the stage's stride on its first block) -> norm/act
    -> squeeze-and-excite (``se``) -> 1x1 projection to ``width`` channels -> norm,

with an identity shortcut wherever the block keeps its input shape. Head: a 1x1 conv to
``head_channels`` (0: none) -> norm/act, global average pooling, dropout, an optional hidden
linear layer (``head_width``), the classifier. Works on images (C, H, W) and sequences (C, L).
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import (
    MAX_DEPTH,
    MAX_STAGES,
    Conditions,
    FamilyView,
    check_ints,
    check_keys,
    dense_head,
    require_spatial,
)
from nasforge.searchspace.families.stages import (
    AutoStrides,
    check_choices,
    check_kernels,
    kernel_too_large,
    largest_kernels,
    reduced_channels,
    stage_maps,
    stage_strides,
    staged_params,
    stem_stride,
)
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder
from nasforge.searchspace.plan_ops import SqueezeExcite
from nasforge.searchspace.quantization import LayerBits, layer_bits
from nasforge.searchspace.space import SearchSpace
from nasforge.searchspace.specs import NORMS, norm_activations

KERNELS = (3, 5, 7, 9)
MAX_EXPAND = 8
#: "auto" strides: every stage halves the map while it keeps at least 7 pixels (MobileNetV3
#: ends on a 7x7 map, and every default kernel fits it): 28 px -> 14, 7, 7, ...
AUTO = AutoStrides(floor=7, first=0)
PER_STAGE_KEYS = ("depth", "expand", "kernel", "width", "se")

DEFAULTS: dict[str, object] = {
    "stages": {"low": 2, "high": 4},
    "depth": [1, 2],
    "expand": [1, 3, 4, 6],
    "kernel": [3, 5],
    "width": [16, 24, 40, 48],
    "se": [False, True],
    "per_stage": True,
    "strides": "auto",
    "stem": 16,
    "head_channels": 128,
    "head_width": 0,
    "se_ratio": 0.25,
    "se_gate": "hardsigmoid",
}


class MBConvFamily:
    """MobileNetV2/V3-style inverted-residual blocks (expand, depthwise conv, squeeze-and-excite,
    project) in stages with per-stage depth, expansion, kernel, width and SE."""

    name = "mbconv"
    layer_count_key = "stages"  # per-layer bit widths: one per stage

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        raw = {key: param_from_spec(merged[key], f"{self.name}.{key}")
               for key in ("stages", *PER_STAGE_KEYS, "stem", "head_channels", "head_width")}
        check_ints(raw["stages"], "mbconv.stages", high=MAX_STAGES)
        check_ints(raw["depth"], "mbconv.depth", high=MAX_DEPTH)
        check_ints(raw["expand"], "mbconv.expand", high=MAX_EXPAND)
        check_ints(raw["width"], "mbconv.width")
        check_ints(raw["stem"], "mbconv.stem")
        check_ints(raw["head_channels"], "mbconv.head_channels", low=0)  # 0: no head conv
        check_ints(raw["head_width"], "mbconv.head_width", low=0)  # 0: no hidden layer
        check_choices(self.name, "kernel", raw["kernel"], KERNELS)
        check_choices(self.name, "se", raw["se"], (False, True))
        fixed = {key: raw[key] for key in ("stages", "stem", "head_channels", "head_width")}
        return staged_params(self.name, merged, raw, PER_STAGE_KEYS, fixed)

    def canonicalizer(self, spec: Mapping[str, object]) -> None:
        return None  # every assignment is its own canonical form

    def check_data(self, data: DataSpec) -> None:
        require_spatial(self.name, data)

    def check_space(self, space: SearchSpace, data: DataSpec) -> None:
        """Refuse a space with a stage kernel larger than that stage's feature map, or a
        hidden head layer after which a norm-activation layer cannot run (it takes the
        head's place of an activation on (N, C) features)."""
        self.check_data(data)
        most = max(int(s) for s in space.params[f"{self.name}.stages"].values())
        check_kernels(self.name, space, data, AUTO, largest_kernels(self.name, space, most))
        heads = [int(w) for w in space.params[f"{self.name}.head_width"].values()]
        norms = space.params["norm"].values() if "norm" in space.params else []
        flat_less = sorted({str(n) for n in norms if str(n) in norm_activations()
                            and 0 not in NORMS.get(str(n)).dims})
        if max(heads) > 0 and flat_less:
            raise SpaceError(
                f"[space.{self.name}] head_width allows a hidden head layer, after which the "
                f"norm-activation layer(s) {', '.join(flat_less)} would run on flat (N, C) "
                "features, which they do not support; set head_width = 0 or use another norm.")

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        self.check_data(data)
        view = FamilyView(self.name, arch)
        norm, activation = str(view["norm"]), view.activation
        stages = int(view["stages"])
        strides = stage_strides(view, data.input_shape, stages, AUTO)
        maps = stage_maps(data.input_shape, strides)
        plan = PlanBuilder(self.name, data.input_shape)
        plan.conv(int(view["stem"]), 3, stem_stride(data.input_shape), bias=norm == "none",
                  bits=layer_bits(view.get, None, first=True, last=False))
        plan.norm_activation(norm, activation)
        block = _Block(norm, activation, str(view.get("se_gate", "sigmoid")),
                       float(view.get("se_ratio", 0.25)))
        for stage in range(stages):
            kernel = int(view.per_index("kernel", stage))
            if kernel > maps[stage]:
                key = "kernel" if view.get(f"kernel.{stage}", None) is None else f"kernel.{stage}"
                raise kernel_too_large(self.name, f"{key} = {kernel}", stage, kernel,
                                       maps[stage], data.input_shape, strides)
            bits = layer_bits(view.get, stage, first=False, last=False)
            for i in range(int(view.per_index("depth", stage))):
                block.add(plan, int(view.per_index("width", stage)),
                          int(view.per_index("expand", stage)), kernel,
                          strides[stage] if i == 0 else 1, bool(view.per_index("se", stage)),
                          bits)
        head_channels = int(view["head_channels"])
        if head_channels:
            plan.conv(head_channels, 1, bias=norm == "none",
                      bits=layer_bits(view.get, None, first=False, last=False))
            plan.norm_activation(norm, activation)
        plan.global_pool().dropout(float(view.get("dropout", 0.0)))
        return dense_head(plan, view, norm, activation, data.num_outputs)


class _Block:
    """Appends inverted-residual blocks with one norm, activation and SE setting."""

    def __init__(self, norm: str, activation: str | None, gate: str, se_ratio: float) -> None:
        self.norm, self.activation = norm, activation
        self.gate, self.se_ratio = gate, se_ratio

    def add(self, plan: PlanBuilder, out: int, expand: int, kernel: int, stride: int,
            se: bool, bits: LayerBits) -> None:
        channels = plan.shape[0]
        residual = stride == 1 and channels == out
        body = plan.sub() if residual else plan
        hidden = channels * expand
        bias = self.norm == "none"
        if expand != 1:
            body.conv(hidden, 1, bias=bias, bits=bits).norm_activation(self.norm, self.activation)
        body.conv(hidden, kernel, stride, bias=bias, groups=hidden, bits=bits)
        body.norm_activation(self.norm, self.activation)
        if se:
            op = SqueezeExcite(hidden, reduced_channels(hidden, self.se_ratio),
                               len(body.shape) - 1, self.gate)
            body.add(op, body.shape)
        body.conv(out, 1, bias=bias, bits=bits)
        if self.norm != "none":
            body.norm(self.norm)  # a linear bottleneck: no activation after the projection
        if residual:
            plan.residual(body)

