"""Slots: the names of the shared tensors a subnet's layers read (torch-free).

A subnet is planned as usual (`plan_for(arch, spec)`); walking its plan, every op whose
elastic rule has the role "linear" or "conv" (`supernet.rules`: Linear, Conv) gets a slot
name, the same in every subnet for "the same layer": hidden layer i of an MLP is
``linear_i``, convolution j of stage s of a CNN is ``conv_s_j``, the output layer ``head``.
Other ops take the slot of the layer before them. Layers whose input means something
different in different subnets get slots of their own: a linear model's output layer
(``head_direct``, reading the raw input) and a CNN head reading flattened features
(``head_flat_<spatial>``: the number of positions differs with the number of pools).
The `mbconv` family names its layers by role and position (`block_slots`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.searchspace.architecture import Architecture, Scalar
from nasforge.searchspace.families.base import FamilyView
from nasforge.searchspace.plan import NetworkPlan, Op
from nasforge.searchspace.space import SearchSpace
from nasforge.supernet.block_slots import mbconv_slots

#: Families the supernet can share weights over.
SUPPORTED_FAMILIES = ("mlp", "cnn", "mbconv")
#: Numeric parameters that set a subnet's size: the sandwich rule's extremes take their max /
#: min (``se``: squeeze-and-excite on / off).
SIZE_KEYS = ("depth", "width", "stages", "convs_per_stage", "channels", "kernel",
             "head_width", "expand", "stem", "head_channels", "se", "se_ratio")
_BIT_KEYS = ("weight_bits", "act_bits")


def check_family(family: str) -> None:
    if family not in SUPPORTED_FAMILIES:
        raise ConfigError(
            f"The supernet strategy does not support the {family!r} family yet (it shares "
            f"weights over {', '.join(SUPPORTED_FAMILIES)}); remove {family!r} from [space] "
            "families or use another strategy (evolution, random, ...)."
        )


def layer_slots(arch: Architecture, plan: NetworkPlan, roles: Sequence[str]
                ) -> Iterator[tuple[int, Op, str]]:
    """(op index, op, slot) for every top-level op of `plan`, given each op's role (its
    elastic rule's `role`: "linear", "conv", "flatten" or ""); other ops carry the slot of
    the last layer before them ("input" before the first)."""
    family = str(arch.get("family", "mlp"))
    check_family(family)
    if family == "mbconv":
        yield from ((i, op, slot) for i, (op, slot) in enumerate(zip(
            plan.ops, mbconv_slots(arch, plan, roles), strict=True)))
        return
    view = FamilyView(family, arch)
    per_stage = int(view["convs_per_stage"]) if family == "cnn" else 1
    linears = [i for i, role in enumerate(roles) if role == "linear"]
    slot, convs, hidden, flat = "input", 0, 0, False
    for i, (op, role) in enumerate(zip(plan.ops, roles, strict=True)):
        if role == "flatten" and family == "cnn":
            flat = True
        if role == "conv":
            slot = f"conv_{convs // per_stage}_{convs % per_stage}"
            convs += 1
        elif role == "linear":
            if i == linears[-1]:
                if hidden:
                    slot = "head"  # reads the last hidden layer (MLP) or the CNN's head layer
                elif family == "mlp":
                    slot = "head_direct"  # a linear model: reads the raw input
                else:
                    slot = f"head_flat_{_positions(plan, roles, i)}" if flat else "head_pooled"
            elif family == "cnn":
                slot = (f"head_hidden_flat_{_positions(plan, roles, i)}" if flat
                        else "head_hidden")
            else:
                slot = f"linear_{hidden}"
            hidden += 1
        yield i, op, slot


def _positions(plan: NetworkPlan, roles: Sequence[str], linear_index: int) -> int:
    """Spatial positions flattened into the features read by the linear op at the index."""
    for j in range(linear_index - 1, -1, -1):
        if roles[j] == "flatten":
            shape = plan.shapes[j - 1] if j else plan.input_shape
            return math.prod(shape[1:])
    return 1


def is_size(name: str) -> bool:
    """Whether parameter `name` sets a subnet's size (a bit width, the resolution, or a
    family's `SIZE_KEYS`)."""
    parts = name.split(".")
    return (len(parts) >= 2 and parts[0] in SUPPORTED_FAMILIES and parts[1] in SIZE_KEYS
            ) or parts[0] in _BIT_KEYS or (len(parts) >= 2 and parts[1] in _BIT_KEYS) \
        or name == "resolution"  # OFA: the largest subnet at the largest resolution


def extreme(space: SearchSpace, rng: np.random.Generator, largest: bool,
            smallest: Collection[str] = (), fixed: Mapping[str, Scalar] | None = None
            ) -> Architecture:
    """The largest (or smallest) subnet: every size and bit-width parameter and the resolution
    at its maximum (minimum); other parameters (activation, norm, pool, ...) sampled from `rng`
    unless `fixed` gives them (``{"family": "mbconv"}``). Size parameters whose family key
    (``expand`` for ``mbconv.expand.2``) is in `smallest` take their minimum in the largest
    subnet."""
    return constrained(space, rng, lambda name: "max" if largest != (size_key(name) in smallest)
                       else "min", fixed)


def constrained(space: SearchSpace, rng: np.random.Generator,
                choose: Callable[[str], str], fixed: Mapping[str, Scalar] | None = None
                ) -> Architecture:
    """A subnet whose size parameters take ``choose(name)``: "max", "min" or "sample"; every
    other parameter is sampled from `rng`, or taken from `fixed`."""
    assigned: dict[str, Scalar] = {}
    for name, param in space.params.items():
        if not space.is_active(name, assigned):
            continue
        if fixed and name in fixed:
            assigned[name] = fixed[name]
            continue
        values = list(param.values()) if param.size is not None else []
        how = choose(name) if is_size(name) else "sample"
        if how != "sample" and values and all(isinstance(v, (int, float)) for v in values):
            assigned[name] = max(values) if how == "max" else min(values)
        else:
            assigned[name] = param.sample(rng)
    return space.validate(assigned)


def size_key(name: str) -> str:
    """The key of a parameter within its family (``expand`` for ``mbconv.expand.2``)."""
    parts = name.split(".")
    return parts[1] if len(parts) >= 2 else parts[0]


def corners(space: SearchSpace, rng: np.random.Generator) -> list[Architecture]:
    """The largest and smallest subnets, and the largest with each size key at its minimum
    (the largest layers of slots that only some choices open: an unexpanded block's)."""
    keys = sorted({size_key(name) for name in space.params if is_size(name)})
    return [extreme(space, rng, True), extreme(space, rng, False),
            *(extreme(space, rng, True, (key,)) for key in keys)]


def layer_widths(space: SearchSpace) -> list[int]:
    """Every layer width the space's subnets may have: widths and channels, and for `mbconv`
    its stem and each width times each expansion ratio (the expanded channels)."""
    def ints(pattern: str) -> set[int]:
        return {int(v) for name, param in space.params.items()
                if pattern in name
                for v in (param.values() if param.size is not None else ())
                if isinstance(v, int) and not isinstance(v, bool) and v > 0}

    widths = ints("width") | ints("channels")
    if "mbconv.stem" in space.params:
        inputs = ints("mbconv.width") | ints("mbconv.stem")
        widths |= inputs | {w * e for w in inputs for e in ints("mbconv.expand")}
    return sorted(widths)
