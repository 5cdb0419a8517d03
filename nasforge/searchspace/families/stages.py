"""What the staged convolutional families (`mbconv`, `resnet`) share: stride schedules, the
feature-map size at each stage, the kernel-versus-map check, per-stage parameters and
squeeze-and-excite settings.

A stage's stride applies on its first block; stage i's feature map is the input after the
stem and the strides of stages 0..i ('same' padding: ceil division). ``strides = "auto"``
halves the map at each stage (from a family's first strided stage on) while it keeps at least
a family's floor of pixels (`AutoStrides`); a list gives stage i the stride ``strides[i]`` (an
entry may itself be a list: a searched choice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nasforge.errors import SpaceError
from nasforge.searchspace.families.base import (
    Conditions,
    FamilyView,
    check_ints,
    per_index_params,
)
from nasforge.searchspace.params import Param, param_from_spec
from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.plan_ops import SE_GATES
from nasforge.searchspace.space import SearchSpace

#: The stem keeps the input size up to this many pixels (CIFAR / MNIST sized inputs), and
#: halves larger inputs.
STEM_STRIDE_ABOVE = 32
MAX_STRIDE = 4


def stem_stride(input_shape: tuple[int, ...]) -> int:
    return 2 if max(input_shape[1:]) > STEM_STRIDE_ABOVE else 1


def _down(size: int, stride: int) -> int:
    return -(-size // stride)


def auto_strides(size: int, stages: int, floor: int, first: int) -> tuple[int, ...]:
    """Each stage from stage `first` on halves a map of `size` pixels (after the stem) while
    the result keeps at least `floor` pixels; the others keep stride 1."""
    strides = []
    for stage in range(stages):
        stride = 2 if stage >= first and _down(size, 2) >= floor else 1
        strides.append(stride)
        size = _down(size, stride)
    return tuple(strides)


@dataclass(frozen=True, slots=True)
class AutoStrides:
    """The "auto" schedule of a family: halve from stage `first` on while the map keeps at
    least `floor` pixels."""

    floor: int
    first: int

    def of(self, input_shape: tuple[int, ...], stages: int) -> tuple[int, ...]:
        size = _down(min(input_shape[1:]), stem_stride(input_shape))
        return auto_strides(size, stages, self.floor, self.first)


def stage_strides(view: FamilyView, input_shape: tuple[int, ...], stages: int,
                  auto: AutoStrides) -> tuple[int, ...]:
    """Each stage's stride for an architecture: its ``stride.i`` values, else automatic."""
    if view.get("stride.0", None) is None:
        return auto.of(input_shape, stages)
    return tuple(int(view["stride." + str(i)]) for i in range(stages))


def stage_maps(input_shape: tuple[int, ...], strides: Sequence[int]) -> tuple[int, ...]:
    """The smallest side of each stage's feature map (after the stem and its stride)."""
    size = _down(min(input_shape[1:]), stem_stride(input_shape))
    maps = []
    for stride in strides:
        size = _down(size, stride)
        maps.append(size)
    return tuple(maps)


def describe_map(input_shape: tuple[int, ...], side: int) -> str:
    return "x".join([str(side)] * (len(input_shape) - 1))


def kernel_too_large(family: str, what: str, stage: int, kernel: int, side: int,
                     input_shape: tuple[int, ...], strides: Sequence[int], *,
                     searched: bool = True) -> SpaceError:
    """`what` names the kernel's parameter (``kernel.2 allows 5``); `searched`: the kernel is
    a [space] choice (the fix may be a smaller one)."""
    size = "x".join(map(str, input_shape[1:]))
    return SpaceError(
        f"[space.{family}] {what} at stage {stage}, whose feature map is "
        f"only {describe_map(input_shape, side)} (input {size} after the stem and strides "
        f"{', '.join(map(str, strides[:stage + 1]))}): such a kernel sees mostly padding. Use "
        + (f"kernels <= {side} there, " if searched else "")
        + f"fewer stride-2 stages ([space.{family}] strides) or larger inputs.")


def strides_params(family: str, strides: object, stages: Param
                   ) -> tuple[dict[str, Param], Conditions]:
    """``stride.i`` parameters from an explicit list (none for "auto")."""
    if strides == "auto":
        return {}, {}
    most = max(int(s) for s in stages.values())
    if not isinstance(strides, list) or len(strides) < most:
        raise SpaceError(
            f"[space.{family}] strides must be \"auto\" or a list of one stride per stage "
            f"(at least {most}, since stages reaches {most}), e.g. "
            f"{[1] + [2] * (most - 1)}; got {strides!r}.")
    params: dict[str, Param] = {}
    conditions: Conditions = {}
    for i, value in enumerate(strides[:most]):
        param = param_from_spec(value, f"{family}.strides[{i}]")
        check_ints(param, f"{family}.strides[{i}]", high=MAX_STRIDE)
        one, condition = per_index_params("stride", param, "stages", stages)
        params[f"stride.{i}"] = one[f"stride.{i}"]
        if f"stride.{i}" in condition:
            conditions[f"stride.{i}"] = condition[f"stride.{i}"]
    return params, conditions


def per_stage(key: str, param: Param, stages: Param, flag: object, family: str
              ) -> tuple[dict[str, Param], Conditions]:
    """`key` shared by every stage, or `key.i` per stage when `flag` (``per_stage``) is on."""
    if not isinstance(flag, bool):
        raise SpaceError(f"[space.{family}] per_stage must be true or false.")
    if not flag:
        return {key: param}, {}
    return per_index_params(key, param, "stages", stages)


def check_choices(family: str, key: str, param: Param, allowed: Sequence[object]) -> None:
    """Refuse values outside `allowed` (and ranges: a list of choices is expected)."""
    kind = type(allowed[0])
    bad = (["a range"] if param.size is None else
           [v for v in param.values() if v not in allowed or type(v) is not kind])
    if bad:
        raise SpaceError(f"[space.{family}] {key} value(s) {bad} are not allowed; use some of "
                         f"{', '.join(map(str, allowed))}.")


def se_settings(family: str, merged: Mapping[str, object]) -> tuple[Param, Param]:
    """The ``se_ratio`` (squeezed channels per channel) and ``se_gate`` parameters."""
    ratio = param_from_spec(merged["se_ratio"], f"{family}.se_ratio")
    values = [] if ratio.size is None else list(ratio.values())
    if not values or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1
                         for r in values):
        raise SpaceError(f"[space.{family}] se_ratio = {merged['se_ratio']!r}: use numbers in "
                         "(0, 1], e.g. 0.25 (squeeze C channels to C / 4).")
    gate = param_from_spec(merged["se_gate"], f"{family}.se_gate")
    check_choices(family, "se_gate", gate, SE_GATES)
    return ratio, gate


def reduced_channels(channels: int, ratio: float) -> int:
    return max(1, round(channels * ratio))


def _values(space: SearchSpace, name: str) -> list[int]:
    return [int(v) for v in space.params[name].values()]


def input_shapes(space: SearchSpace, data: DataSpec) -> list[tuple[int, ...]]:
    """The input shapes the space's networks may see: the data's, or one per searched
    input ``resolution`` (every spatial side resized to it)."""
    if "resolution" not in space.params:
        return [data.input_shape]
    channels, *spatial = data.input_shape
    return [(channels, *(int(r) for _ in spatial)) for r in space.params["resolution"].values()]


def check_kernels(family: str, space: SearchSpace, data: DataSpec, auto: AutoStrides,
                  kernels: Mapping[int, tuple[str, int]], *, searched: bool = True) -> None:
    """Refuse a space in which some stage's largest kernel exceeds that stage's smallest
    feature map. `kernels`: stage -> (what names its parameter, its largest kernel)."""
    stages = _values(space, f"{family}.stages")
    most = max(stages)
    for shape in input_shapes(space, data):
        if f"{family}.stride.0" in space.params:
            strides: tuple[int, ...] = tuple(max(_values(space, f"{family}.stride.{i}"))
                                             for i in range(most))
        else:
            strides = auto.of(shape, most)
        for stage, side in enumerate(stage_maps(shape, strides)):
            what, kernel = kernels[stage]
            if kernel > side:
                raise kernel_too_large(family, what, stage, kernel, side, shape, strides,
                                       searched=searched)


def largest_kernels(family: str, space: SearchSpace, most: int) -> dict[int, tuple[str, int]]:
    """Stage -> (its kernel parameter, the largest kernel it may draw), from ``kernel`` or
    ``kernel.i``."""
    out = {}
    for stage in range(most):
        name = f"{family}.kernel.{stage}"
        if name not in space.params:
            name = f"{family}.kernel"
        kernel = max(_values(space, name))
        out[stage] = (f"{name.partition('.')[2]} allows kernel {kernel}", kernel)
    return out


def staged_params(family: str, merged: Mapping[str, object], raw: Mapping[str, Param],
                  per_stage_keys: Sequence[str], fixed: Mapping[str, Param]
                  ) -> tuple[dict[str, Param], Conditions]:
    """A staged family's parameters: `fixed` as they are, the squeeze-and-excite settings
    when any stage may use SE, each of `per_stage_keys` per stage (or shared, see
    `per_stage`) and the strides."""
    params: dict[str, Param] = dict(fixed)
    ratio, gate = se_settings(family, merged)
    if any(raw["se"].values()):
        params.update(se_ratio=ratio, se_gate=gate)
    conditions: Conditions = {}
    for key in per_stage_keys:
        more, more_conditions = per_stage(key, raw[key], raw["stages"], merged["per_stage"],
                                          family)
        params.update(more)
        conditions.update(more_conditions)
    strides, stride_conditions = strides_params(family, merged["strides"], raw["stages"])
    return {**params, **strides}, {**conditions, **stride_conditions}
