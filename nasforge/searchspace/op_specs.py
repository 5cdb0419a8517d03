"""The built-in plan-op specs (torch-free manifest; see `specs.OpSpec`).

Each op kind's torch side lives in one module per reader, named after the op:
`nasforge.searchspace.ops.<name>` (`build`, `check`), `nasforge.export.op_exprs` (`<name>`),
`nasforge.evaluator.fused.ops` (`<NAME>`) and `nasforge.supernet.rules` (`<NAME>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasforge.registry import Registry
from nasforge.searchspace.plan_ops import (
    Activation,
    Cell,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Norm,
    Pool,
    Residual,
    Resize,
    SqueezeExcite,
)
from nasforge.searchspace.quantization import learned_step_params
from nasforge.searchspace.specs import (
    ACTIVATIONS,
    NORMS,
    NOT_ELASTIC,
    NOT_STACKABLE,
    OP_SPECS,
    Cost,
    LayerSpec,
    OpSpec,
    positions,
)

SIZE_FIELDS = frozenset({"in_features", "out_features", "in_channels", "out_channels",
                         "channels"})


def builtin(name: str, op_type: type, cost: Callable[[Any, tuple[int, ...]], Cost],
            prefix: str | Callable[[Any], str],
            *, stackable: bool = True, elastic: bool | str = True, **fields: Any) -> OpSpec:
    """Register the spec of a built-in op whose readers follow the naming rule above (an
    `elastic` string names its supernet rule elsewhere)."""
    return OP_SPECS.add(OpSpec(
        name, op_type, cost,
        build=f"nasforge.searchspace.ops.{name}:build",
        check=f"nasforge.searchspace.ops.{name}:check",
        export=f"nasforge.export.op_exprs:{name}",
        prefix=prefix,
        fused=f"nasforge.evaluator.fused.ops:{name.upper()}" if stackable else NOT_STACKABLE,
        elastic=(elastic if isinstance(elastic, str) else
                 f"nasforge.supernet.rules:{name.upper()}" if elastic else NOT_ELASTIC),
        size_fields=SIZE_FIELDS, **fields))


def free(op: object, shape: tuple[int, ...]) -> Cost:
    """No parameters, no multiply-accumulates."""
    return Cost()


def _steps(op: Linear | Conv, out: int) -> int:
    return learned_step_params(op.weight_bits, op.act_bits, out) if op.learned_step else 0


def linear_cost(op: Linear, shape: tuple[int, ...]) -> Cost:
    weights = op.in_features * op.out_features
    params = weights + (op.out_features if op.bias else 0) + _steps(op, op.out_features)
    return Cost(params, weights, weights, op.weight_bits, op.act_bits)


def conv_cost(op: Conv, shape: tuple[int, ...]) -> Cost:
    weights = op.out_channels * (op.in_channels // op.groups) * op.kernel**op.dims
    params = weights + (op.out_channels if op.bias else 0) + _steps(op, op.out_channels)
    return Cost(params, positions(shape) * weights, weights, op.weight_bits, op.act_bits)


def squeeze_excite_cost(op: SqueezeExcite, shape: tuple[int, ...]) -> Cost:
    """The two 1x1 layers over the pooled features (one position each); the pooling and the
    channel-wise product are elementwise work, uncounted as for norms and residual sums."""
    weights = 2 * op.channels * op.reduced
    return Cost(weights + op.reduced + op.channels, weights, weights)


def layer_cost(registry: Registry[LayerSpec]) -> Callable[[Norm | Activation, tuple[int, ...]],
                                                          Cost]:
    """The cost of a Norm or Activation op: its layer spec's parameter count (None for a kind
    not registered, or a spec without a count)."""
    def cost(op: Norm | Activation, shape: tuple[int, ...]) -> Cost:
        known = op.kind in registry
        return Cost(registry.get(op.kind).count_params(op.channels, op.dims) if known else None)

    return cost


def cell_signature(op: Cell, sub: Callable[[tuple[Any, ...]], tuple[object, ...]]
                   ) -> tuple[object, ...]:
    return ("Cell", op.nodes, op.dims,
            tuple((e.to, e.source, e.op, sub(e.branch.ops)) for e in op.edges))


def residual_signature(op: Residual, sub: Callable[[tuple[Any, ...]], tuple[object, ...]]
                       ) -> tuple[object, ...]:
    return ("Residual", sub(op.main.ops), sub(op.shortcut.ops))


builtin("flatten", Flatten, free, "flatten")
builtin("linear", Linear, linear_cost, "fc")
# (rules.py is full: the conv, residual and SE rules have modules of their own)
builtin("conv", Conv, conv_cost, "conv", elastic="nasforge.supernet.conv:CONV")
builtin("norm", Norm, layer_cost(NORMS),
        lambda op: NORMS.get(op.kind).prefix if op.kind in NORMS else "norm")
builtin("activation", Activation, layer_cost(ACTIVATIONS), "act")
builtin("dropout", Dropout, free, "drop")
builtin("pool", Pool, free, "pool")
builtin("global_pool", GlobalPool, free, "gpool")
builtin("cell", Cell, free, "cell", stackable=False, elastic=False,
        children=lambda op: tuple(edge.branch for edge in op.edges),
        signature=cell_signature)
builtin("residual", Residual, free, "res", stackable=False,
        elastic="nasforge.supernet.residual:RESIDUAL",
        children=lambda op: (op.main, op.shortcut), signature=residual_signature)
builtin("squeeze_excite", SqueezeExcite, squeeze_excite_cost, "se", stackable=False,
        elastic="nasforge.supernet.squeeze_excite:SQUEEZE_EXCITE")


# --- input resolution: the data resized to the architecture's resolution on the device ---
# (its fused and elastic parts have modules of their own: fused/ops.py and rules.py are full)
OP_SPECS.add(OpSpec(
    "resize", Resize, free,  # interpolation is counted as no MACs (no weights, a few adds)
    build="nasforge.searchspace.ops.resize:build",
    check="nasforge.searchspace.ops.resize:check",
    export="nasforge.export.op_exprs:resize",
    prefix="resize",
    fused="nasforge.evaluator.fused.resize:RESIZE",
    elastic="nasforge.supernet.resize:RESIZE",
    size_fields=SIZE_FIELDS))
