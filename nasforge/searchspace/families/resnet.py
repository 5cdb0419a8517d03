"""The `resnet` family: residual networks of basic or bottleneck blocks (He et al. 2016).

Stem (3x3 conv, stride 1 for inputs up to 32 px, else 2) -> norm -> activation; then
``resnet.stages`` stages of ``depth`` blocks of ``width`` channels:

- ``basic``: 3x3 conv (the stage's stride on its first block) -> norm/act -> 3x3 conv -> norm;
  ``width`` output channels;
- ``bottleneck``: 1x1 conv to ``width`` -> norm/act -> 3x3 conv (stride) -> norm/act -> 1x1
  conv to 4 x ``width`` -> norm (torchvision's expansion 4);

then squeeze-and-excite (``se``), the sum with the shortcut (the identity where the shape is
kept, else a projection: 1x1 conv with the stride -> norm), and the activation. Head: global
average pooling, dropout, the classifier. Works on images (C, H, W) and sequences (C, L).
"""

from __future__ import annotations

from collections.abc import Mapping

from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families.base import (
    MAX_DEPTH,
    MAX_STAGES,
    Conditions,
    FamilyView,
    check_ints,
    check_keys,
    require_spatial,
)
from nasforge.searchspace.families.stages import (
    AutoStrides,
    check_choices,
    check_kernels,
    kernel_too_large,
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

BLOCKS = ("basic", "bottleneck")
EXPANSION = 4  # a bottleneck block's output channels per `width`
KERNEL = 3
#: "auto" strides: stage 0 keeps the stem's map, each later stage halves it while it keeps
#: at least 4 pixels (a CIFAR ResNet: 32 px -> 32, 16, 8, 4).
AUTO = AutoStrides(floor=4, first=1)
PER_STAGE_KEYS = ("depth", "width", "se")
_WHAT = "the 3x3 convolutions (kernel 3)"

DEFAULTS: dict[str, object] = {
    "stages": {"low": 2, "high": 4},
    "depth": [1, 2],
    "width": [16, 32, 64],
    "block": ["basic", "bottleneck"],
    "se": [False, True],
    "per_stage": True,
    "strides": "auto",
    "stem": 16,
    "se_ratio": 0.25,
    "se_gate": "sigmoid",
}


class ResNetFamily:
    """Residual networks of basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) blocks with
    per-stage depth, width and squeeze-and-excite, and projection shortcuts."""

    name = "resnet"
    layer_count_key = "stages"  # per-layer bit widths: one per stage

    def params(self, spec: Mapping[str, object]) -> tuple[dict[str, Param], Conditions]:
        check_keys(self.name, spec, tuple(DEFAULTS))
        merged = {**DEFAULTS, **spec}
        raw = {key: param_from_spec(merged[key], f"{self.name}.{key}")
               for key in ("stages", *PER_STAGE_KEYS, "stem", "block")}
        check_ints(raw["stages"], "resnet.stages", high=MAX_STAGES)
        check_ints(raw["depth"], "resnet.depth", high=MAX_DEPTH)
        check_ints(raw["width"], "resnet.width")
        check_ints(raw["stem"], "resnet.stem")
        check_choices(self.name, "block", raw["block"], BLOCKS)
        check_choices(self.name, "se", raw["se"], (False, True))
        fixed = {key: raw[key] for key in ("stages", "stem", "block")}
        return staged_params(self.name, merged, raw, PER_STAGE_KEYS, fixed)

    def canonicalizer(self, spec: Mapping[str, object]) -> None:
        return None  # every assignment is its own canonical form

    def check_data(self, data: DataSpec) -> None:
        require_spatial(self.name, data)

    def check_space(self, space: SearchSpace, data: DataSpec) -> None:
        """Refuse a space whose 3x3 convolutions meet a feature map smaller than 3."""
        self.check_data(data)
        most = max(int(s) for s in space.params[f"{self.name}.stages"].values())
        kernels = {stage: (_WHAT, KERNEL) for stage in range(most)}
        check_kernels(self.name, space, data, AUTO, kernels, searched=False)

    def plan(self, arch: Architecture, data: DataSpec) -> NetworkPlan:
        self.check_data(data)
        view = FamilyView(self.name, arch)
        norm, activation = str(view["norm"]), view.activation
        stages = int(view["stages"])
        strides = stage_strides(view, data.input_shape, stages, AUTO)
        maps = stage_maps(data.input_shape, strides)
        plan = PlanBuilder(self.name, data.input_shape)
        plan.conv(int(view["stem"]), KERNEL, stem_stride(data.input_shape), bias=norm == "none",
                  bits=layer_bits(view.get, None, first=True, last=False))
        plan.norm_activation(norm, activation)
        block = _Block(str(view["block"]), norm, activation, str(view.get("se_gate", "sigmoid")),
                       float(view.get("se_ratio", 0.25)))
        for stage in range(stages):
            if KERNEL > maps[stage]:
                raise kernel_too_large(self.name, _WHAT, stage, KERNEL, maps[stage],
                                       data.input_shape, strides, searched=False)
            bits = layer_bits(view.get, stage, first=False, last=False)
            for i in range(int(view.per_index("depth", stage))):
                block.add(plan, int(view.per_index("width", stage)),
                          strides[stage] if i == 0 else 1, bool(view.per_index("se", stage)),
                          bits)
        plan.global_pool().dropout(float(view.get("dropout", 0.0)))
        bits = layer_bits(view.get, None, first=False, last=True)
        return plan.linear(data.num_outputs, bits=bits).build()


class _Block:
    """Appends residual blocks of one kind with one norm, activation and SE setting."""

    def __init__(self, kind: str, norm: str, activation: str | None, gate: str,
                 se_ratio: float) -> None:
        self.kind, self.norm, self.activation = kind, norm, activation
        self.gate, self.se_ratio = gate, se_ratio

    def add(self, plan: PlanBuilder, width: int, stride: int, se: bool,
            bits: LayerBits) -> None:
        bias = self.norm == "none"
        main = plan.sub()
        if self.kind == "basic":
            out = width
            main.conv(width, KERNEL, stride, bias=bias, bits=bits)
        else:
            out = EXPANSION * width
            main.conv(width, 1, bias=bias, bits=bits).norm_activation(self.norm, self.activation)
            main.conv(width, KERNEL, stride, bias=bias, bits=bits)
        main.norm_activation(self.norm, self.activation)
        main.conv(out, KERNEL if self.kind == "basic" else 1, bias=bias, bits=bits)
        self._norm(main)
        if se:
            op = SqueezeExcite(out, reduced_channels(out, self.se_ratio), len(main.shape) - 1,
                               self.gate)
            main.add(op, main.shape)
        shortcut = None
        if stride != 1 or plan.shape[0] != out:
            shortcut = plan.sub().conv(out, 1, stride, bias=bias, bits=bits)
            self._norm(shortcut)
        plan.residual(main, shortcut)
        if self.activation is not None:
            plan.activation(self.activation)

    def _norm(self, branch: PlanBuilder) -> None:
        if self.norm != "none":
            branch.norm(self.norm)
