"""NetworkPlan -> nn.Sequential: the only place where plans become torch modules.

Names (activations, norms, pool kinds) are resolved once, before any module is built: an
unknown name raises the registry's `UnknownNameError` (with the nearest names) and no
parameter is initialised. The resolved factories are then injected into the op builders,
which never look up strings.

The result has one module per plan op, in order: ``model[i]`` implements ``plan.ops[i]`` and
its output has shape ``(N, *plan.shapes[i])``.

Convolutions use 'same' padding with the op's stride, so a spatial size ``s`` becomes
``ceil(s / stride)`` as the plan says. Odd kernels pad ``kernel // 2`` on both sides. Even
kernels are supported with asymmetric zero padding, ``(kernel - 1) // 2`` before and
``kernel // 2`` after (PyTorch's and TensorFlow's 'same' convention); their op module is then
``nn.Sequential(ZeroPad, Conv)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from torch import nn

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.layer_facts import NORM_ACTIVATIONS
from nasforge.searchspace.layers import ACTIVATIONS, NORMS, ActivationFactory, NormFactory
from nasforge.searchspace.layers.portable import composite
from nasforge.searchspace.layers.quant import QuantConv1d, QuantConv2d, QuantLinear
from nasforge.searchspace.plan import (
    Activation,
    Branch,
    Cell,
    Conv,
    DataSpec,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    NetworkPlan,
    Norm,
    Op,
    Pool,
    Residual,
    iter_ops,
)
from nasforge.searchspace.quantization import FLOAT_BITS
from nasforge.searchspace.space import SearchSpace

_POOLS: Mapping[tuple[str, int], Callable[..., nn.Module]] = {
    ("max", 1): nn.MaxPool1d,
    ("max", 2): nn.MaxPool2d,
    ("avg", 1): nn.AvgPool1d,
    ("avg", 2): nn.AvgPool2d,
}
_CONVS: Mapping[int, Callable[..., nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d}
#: Architectures of each family that `check_buildable` plans with every norm.
EXAMPLES_PER_FAMILY = 12
_QUANT_CONVS: Mapping[int, Callable[..., nn.Module]] = {1: QuantConv1d, 2: QuantConv2d}
_PADS: Mapping[int, Callable[..., nn.Module]] = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d}


def check_buildable(space: SearchSpace, data: DataSpec, *, seed: int = 0) -> None:
    """Refuse, before anything is trained or stored, a space whose layers cannot be built:
    an unregistered activation or norm name, or one that its families would use on inputs it
    does not support (instance norm after an MLP's linear layers, for example)."""
    choices = {key: list(space.params[key].values()) for key, registry
               in (("activation", ACTIVATIONS), ("norm", NORMS)) if key in space}
    for key, registry in (("activation", ACTIVATIONS), ("norm", NORMS)):
        for value in choices.get(key, ()):
            if value not in registry:
                raise SpaceError(f"[space] {key}: {registry.unknown_message(value)}")
    rng = np.random.default_rng(seed)
    examples: dict[object, list[Architecture]] = {}
    for _ in range(400):  # several architectures of each family: heads, readouts, depths
        arch = space.sample(rng)
        family = examples.setdefault(arch.get("family"), [])
        if len(family) < EXAMPLES_PER_FAMILY and arch not in family:
            family.append(arch)
    activations = choices.get("activation", [None])
    layouts: set[tuple[str, str, str, int]] = set()
    for family, archs in examples.items():
        for arch in archs:
            for norm in choices.get("norm", [None]):
                # where activations go does not depend on which one: plan the first
                activation = None if norm in NORM_ACTIVATIONS else activations[0]
                plan = plan_for(arch.replace(activation=activation, norm=norm), data)
                for op, _ in iter_ops(plan.ops, plan.shapes):
                    if isinstance(op, Norm):
                        layouts.add((str(family), "norm", op.kind, op.dims))
                    elif isinstance(op, Activation):
                        layouts.update((str(family), "activation", str(kind), op.dims)
                                       for kind in activations if kind is not None)
    for family, what, kind, dims in sorted(layouts):
        factory = NORMS.get(kind) if what == "norm" else ACTIVATIONS.get(kind)
        try:
            factory(4, dims)
        except SpaceError as err:
            where = (" (flat features: the mlp family's hidden layers, or the cnn family's "
                     "head, which [space.cnn] head_width = 0 removes)" if dims == 0 else "")
            raise SpaceError(
                f"The {family} family applies {what} {kind!r} to inputs with {dims} spatial "
                f"axes{where}, which it does not support ({err}). Remove {kind!r} from "
                f"[space] {what}, or drop the {family} family."
            ) from None


def build_model(arch: Architecture, data: DataSpec) -> nn.Sequential:
    """The freshly initialised network of `arch` for `data` (init draws from torch's global
    generator: wrap in `nasforge.evaluator.seeding.seeded` for a reproducible init)."""
    return build_from_plan(plan_for(arch, data))


def build_from_plan(plan: NetworkPlan) -> nn.Sequential:
    """One module per op of `plan`; input (N, *plan.input_shape) -> (N, *plan.output_shape).

    Raises `UnknownNameError` for an unregistered activation or norm and `SpaceError` for an
    op the builder cannot make (unknown pool kind, bad dims, a shape that collapses to zero),
    in both cases before any module is built.
    """
    every = list(iter_ops(plan.ops, plan.shapes))
    activations = {op.kind: ACTIVATIONS.get(op.kind) for op, _ in every
                   if isinstance(op, Activation)}
    norms = {op.kind: NORMS.get(op.kind) for op, _ in every if isinstance(op, Norm)}
    _check(plan)
    return nn.Sequential(*(_module(op, activations, norms) for op in plan.ops))


def _check(plan: NetworkPlan) -> None:
    if len(plan.ops) != len(plan.shapes):
        raise SpaceError(
            f"Plan of family {plan.family!r} has {len(plan.ops)} ops but "
            f"{len(plan.shapes)} shapes; build plans with PlanBuilder."
        )
    for i, (op, shape) in enumerate(iter_ops(plan.ops, plan.shapes)):
        where = f"Op {i} ({type(op).__name__}) of the {plan.family!r} plan"
        if any(d < 1 for d in shape):
            raise SpaceError(
                f"{where} reduces the shape to {shape}; use fewer or smaller pooling or "
                "strided stages for this input size."
            )
        if isinstance(op, Pool) and (op.kind, op.dims) not in _POOLS:
            raise SpaceError(
                f"{where} is a {op.kind!r} pool over {op.dims} spatial axes; pools are 'max' "
                "or 'avg' over 1 or 2 axes."
            )
        if isinstance(op, Conv) and (op.dims not in _CONVS or op.kernel < 1 or op.stride < 1
                                     or op.dilation < 1 or op.groups < 1
                                     or op.in_channels % op.groups
                                     or op.out_channels % op.groups):
            raise SpaceError(
                f"{where} has dims={op.dims}, kernel={op.kernel}, stride={op.stride}, "
                f"dilation={op.dilation}, groups={op.groups}; convolutions need dims 1 or 2, "
                "kernel, stride and dilation of at least 1, and groups dividing the channels."
            )
        if isinstance(op, Dropout) and not 0.0 <= op.p < 1.0:
            raise SpaceError(f"{where} has dropout p={op.p}; use 0 <= p < 1.")


def _module(
    op: Op,
    activations: Mapping[str, ActivationFactory],
    norms: Mapping[str, NormFactory],
) -> nn.Module:
    def branch(part: Branch) -> nn.Module:
        if not part.ops:
            return nn.Identity()
        return nn.Sequential(*(_module(o, activations, norms) for o in part.ops))

    if isinstance(op, Linear):
        if op.weight_bits == op.act_bits == FLOAT_BITS:
            return nn.Linear(op.in_features, op.out_features, bias=op.bias)
        return QuantLinear(op.in_features, op.out_features, bias=op.bias,
                           weight_bits=op.weight_bits, act_bits=op.act_bits,
                           learned_step=op.learned_step)
    if isinstance(op, Conv):
        return _conv(op)
    if isinstance(op, Norm):
        return norms[op.kind](op.channels, op.dims)
    if isinstance(op, Activation):
        return activations[op.kind](op.channels, op.dims)
    if isinstance(op, Dropout):
        return nn.Dropout(op.p)
    if isinstance(op, Pool):
        return _pool(op)
    if isinstance(op, GlobalPool):
        return composite.GlobalAvgPool(op.dims)
    if isinstance(op, Flatten):
        return nn.Flatten()
    if isinstance(op, Cell):
        return composite.Cell(op.nodes, {f"{e.to}_{e.source}": branch(e.branch) for e in op.edges})
    if isinstance(op, Residual):
        return composite.Residual(branch(op.main), branch(op.shortcut))
    raise SpaceError(
        f"Plan op {op!r} has no builder; build_from_plan supports Flatten, Linear, Conv, "
        "Norm, Activation, Dropout, Pool, GlobalPool, Cell and Residual."
    )


def _pool(op: Pool) -> nn.Module:
    if not op.stride:
        return _POOLS[op.kind, op.dims](kernel_size=op.size, stride=op.size)
    if op.size % 2 == 0:
        raise SpaceError(f"An overlapping {op.kind} pool needs an odd window, got {op.size}.")
    extra = {"count_include_pad": False} if op.kind == "avg" else {}
    return _POOLS[op.kind, op.dims](kernel_size=op.size, stride=op.stride,
                                    padding=op.size // 2, **extra)


def _conv(op: Conv) -> nn.Module:
    """'same' convolution: (N, C_in, *s) -> (N, C_out, *ceil(s / stride))."""
    quantized = not op.weight_bits == op.act_bits == FLOAT_BITS
    conv_cls = _QUANT_CONVS[op.dims] if quantized else _CONVS[op.dims]
    bits = ({"weight_bits": op.weight_bits, "act_bits": op.act_bits,
             "learned_step": op.learned_step} if quantized else {})
    span = op.dilation * (op.kernel - 1) + 1
    common = {"stride": op.stride, "dilation": op.dilation, "groups": op.groups,
              "bias": op.bias, **bits}
    if span % 2 == 1:
        return conv_cls(op.in_channels, op.out_channels, op.kernel, padding=span // 2,
                        **common)
    before, after = (span - 1) // 2, span // 2
    conv = conv_cls(op.in_channels, op.out_channels, op.kernel, padding=0, **common)
    return nn.Sequential(_PADS[op.dims]((before, after) * op.dims), conv)
