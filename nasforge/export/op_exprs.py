"""The export of each built-in plan op: ``(op, builder) -> Expr``, its module's constructor in
model.py (`specs.OpSpec.export` names these by the op spec's name).

Each expression builds a module with the state_dict layout `build.py` gives the op. Every
value put into one is an int, a finite float or a bool coerced by `exprs`, or generated text;
a plan's strings (norm and activation kinds) are looked up in the spec registries, never
copied. Classes torch lacks come from portable modules, which the builder collects and
codegen inlines (`export.sources`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasforge.errors import SpaceError
from nasforge.export.exprs import Call, DictOf, Expr, as_bool, as_float, as_int
from nasforge.searchspace.ops.padding import pool_padding, same_padding
from nasforge.searchspace.quantization import FLOAT_BITS
from nasforge.searchspace.specs import LayerSpec, layer_spec

if TYPE_CHECKING:
    from nasforge.export.exprs import ExprBuilder
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

COMPOSITE = "nasforge.searchspace.layers.portable.composite"
QUANT = "nasforge.searchspace.layers.portable.quant"
SQUEEZE_EXCITE = "nasforge.searchspace.layers.portable.squeeze_excite"
_POOLS = {"max": "MaxPool", "avg": "AvgPool"}
_GATES = {"sigmoid": '"sigmoid"', "hardsigmoid": '"hardsigmoid"'}


def flatten(op: Flatten, builder: ExprBuilder) -> Expr:
    return "nn.Flatten()"


def _bits(op: Linear | Conv) -> tuple[tuple[str, Expr], ...]:
    return (("weight_bits", as_int(op.weight_bits)), ("act_bits", as_int(op.act_bits)),
            ("learned_step", as_bool(op.learned_step)))


def _quantized(op: Linear | Conv) -> bool:
    return not op.weight_bits == op.act_bits == FLOAT_BITS


def linear(op: Linear, builder: ExprBuilder) -> Expr:
    args = (as_int(op.in_features), as_int(op.out_features))
    bias = () if op.bias else (("bias", "False"),)
    if not _quantized(op):
        return Call("nn.Linear", args, bias)
    builder.need(QUANT)
    return Call("QuantLinear", args, (*bias, *_bits(op)))


def conv(op: Conv, builder: ExprBuilder) -> Expr:
    dims = as_int(op.dims)
    if dims not in ("1", "2"):
        raise SpaceError(f"A convolution over {dims} axes has no export; use 1 or 2.")
    padding = same_padding(int(op.kernel), int(op.dilation))
    kwargs: list[tuple[str, Expr]] = [("padding", str(padding.symmetric))]
    for key, value in (("stride", op.stride), ("dilation", op.dilation), ("groups", op.groups)):
        if int(value) != 1:
            kwargs.append((key, as_int(value)))
    if not op.bias:
        kwargs.append(("bias", "False"))
    if _quantized(op):
        builder.need(QUANT)
        kwargs.extend(_bits(op))
    call = Call(f"QuantConv{dims}d" if _quantized(op) else f"nn.Conv{dims}d",
                (as_int(op.in_channels), as_int(op.out_channels), as_int(op.kernel)),
                tuple(kwargs))
    if not padding.before and not padding.after:
        return call
    return Call("nn.Sequential", (Call(f"nn.ZeroPad{dims}d", (repr(padding.pad(int(dims))),)),
                                  call))


def _layer(role: str, kind: str, channels: int, dims: int, builder: ExprBuilder) -> Expr:
    try:
        spec: LayerSpec = layer_spec(role, kind)
    except KeyError:
        raise SpaceError(f"The {role} {kind!r} has no export source: it is not registered "
                         f"(register it with its `export` and `source`).") from None
    builder.need(*spec.source, origin=spec.origin)
    return spec.export(int(channels), int(dims))


def norm(op: Norm, builder: ExprBuilder) -> Expr:
    return _layer("norm", op.kind, op.channels, op.dims, builder)


def activation(op: Activation, builder: ExprBuilder) -> Expr:
    return _layer("activation", op.kind, op.channels, op.dims, builder)


def dropout(op: Dropout, builder: ExprBuilder) -> Expr:
    return Call("nn.Dropout", (as_float(op.p),))


def pool(op: Pool, builder: ExprBuilder) -> Expr:
    if op.kind not in _POOLS or int(op.dims) not in (1, 2):
        raise SpaceError(f"A {op.kind!r} pool over {op.dims} axes has no export.")
    func = f"nn.{_POOLS[op.kind]}{as_int(op.dims)}d"
    size = as_int(op.size)
    if not op.stride:
        return Call(func, (), (("kernel_size", size), ("stride", size)))
    extra = (("count_include_pad", "False"),) if op.kind == "avg" else ()
    return Call(func, (), (("kernel_size", size), ("stride", as_int(op.stride)),
                           ("padding", str(pool_padding(int(op.size), int(op.stride)))),
                           *extra))


def global_pool(op: GlobalPool, builder: ExprBuilder) -> Expr:
    builder.need(COMPOSITE)
    return Call("GlobalAvgPool", (as_int(op.dims),))


def cell(op: Cell, builder: ExprBuilder) -> Expr:
    builder.need(COMPOSITE)
    edges = tuple((f'"{as_int(e.to)}_{as_int(e.source)}"', builder.branch(e.branch))
                  for e in op.edges)
    return Call("Cell", (as_int(op.nodes), DictOf(edges)))


def residual(op: Residual, builder: ExprBuilder) -> Expr:
    builder.need(COMPOSITE)
    return Call("Residual", (builder.branch(op.main), builder.branch(op.shortcut)))


# --- input resolution ---
RESIZE = "nasforge.searchspace.layers.portable.resize"


def resize(op: Resize, builder: ExprBuilder) -> Expr:
    builder.need(RESIZE)
    in_size = tuple(int(as_int(v)) for v in op.in_size)
    size = (int(as_int(op.size)),) * int(as_int(op.dims))
    return Call("Resize", (repr(in_size), repr(size), f'"{_resize_mode(op.mode)}"'))


def _resize_mode(mode: str) -> str:
    """The registered mode equal to the plan's (its text is never copied from the plan)."""
    from nasforge.searchspace.plan_ops import RESIZE_MODES

    if mode not in RESIZE_MODES:
        raise SpaceError(f"A resize in mode {mode!r} has no export; use "
                         f"{' or '.join(RESIZE_MODES)}.")
    return RESIZE_MODES[RESIZE_MODES.index(mode)]


def squeeze_excite(op: SqueezeExcite, builder: ExprBuilder) -> Expr:
    if op.gate not in _GATES:
        raise SpaceError(f"A squeeze-and-excite gate {op.gate!r} has no export; use one of "
                         f"{', '.join(_GATES)}.")
    builder.need(SQUEEZE_EXCITE)
    return Call("SqueezeExcite", (as_int(op.channels), as_int(op.reduced), as_int(op.dims)),
                (("gate", _GATES[op.gate]),))
