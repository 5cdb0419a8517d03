"""Plan op -> the constructor expression of its module, mirroring `searchspace/build.py`.

An expression is a small tree (`Call`, `DictOf`) that `render` lays out within the line
length. Each op's module has the same state_dict layout as the one `build.py` makes for it.
Every value put into an expression is an int, a finite float or a bool coerced here, or a
name from this package's vocabulary: strings of the plan (norm and activation kinds) are
looked up, never copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nasforge.errors import SpaceError
from nasforge.export.layer_sources import ACTIVATION_SOURCES, NORM_SOURCES
from nasforge.searchspace.plan_ops import (
    Activation,
    Branch,
    Cell,
    Conv,
    Dropout,
    Flatten,
    GlobalPool,
    Linear,
    Norm,
    Op,
    Pool,
    Residual,
)

WIDTH = 100
FLOAT_BITS = 32
_POOLS = {"max": "MaxPool", "avg": "AvgPool"}
_ONE_PER_LINE = frozenset({"nn.Sequential", "Cell", "Residual", ""})


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True)
class DictOf:
    items: tuple[tuple[str, Expr], ...]  # keys are generated string literals


Expr = str | Call | DictOf


def flat(node: Expr) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, DictOf):
        return "{" + ", ".join(f"{k}: {flat(v)}" for k, v in node.items) + "}"
    parts = [flat(a) for a in node.args] + [f"{k}={flat(v)}" for k, v in node.kwargs]
    return f"{node.func}({', '.join(parts)})"


def render(node: Expr, indent: int, lead: int) -> str:
    """`node` as source; `lead` columns of its first line are taken, continuation lines are
    indented by `indent` + 4. One argument a line when it does not fit on one."""
    text = flat(node)
    if isinstance(node, str) or lead + len(text) + 1 <= WIDTH:
        return text
    inner = " " * (indent + 4)
    if isinstance(node, DictOf):
        items = [f"{k}: {render(v, indent + 4, indent + 6 + len(k))}" for k, v in node.items]
        head, tail = "{", "}"
    else:
        items = [render(a, indent + 4, indent + 4) for a in node.args]
        items += [f"{k}={render(v, indent + 4, indent + 5 + len(k))}" for k, v in node.kwargs]
        head, tail = f"{node.func}(", ")"
    if isinstance(node, Call) and node.func not in _ONE_PER_LINE and all(
            "\n" not in item for item in items):
        body = _packed(items, inner)
    else:
        body = "".join(f"{inner}{item},\n" for item in items)
    return f"{head}\n{body}{' ' * indent}{tail}"


def _packed(items: list[str], inner: str) -> str:
    """Items joined on as few lines as fit, each line `inner`-indented."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(item) + 3 <= WIDTH:
            lines[-1] += f", {item}"
        else:
            lines.append(inner + item)
    return ",\n".join(lines) + ",\n"


def _int(value: object) -> str:
    if isinstance(value, bool) or int(value) != value:  # type: ignore[call-overload]
        raise SpaceError(f"plan value {value!r} should be a whole number")
    return str(int(value))  # type: ignore[call-overload]


def _float(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise SpaceError(f"plan value {value!r} should be a finite number")
    return repr(number)


def _bool(value: object) -> str:
    return "True" if bool(value) else "False"


class ExprBuilder:
    """Builds expressions for ops and collects the inline blocks they need."""

    def __init__(self) -> None:
        self.blocks: set[str] = set()

    def op(self, op: Op) -> Expr:
        if isinstance(op, Linear):
            return self._linear(op)
        if isinstance(op, Conv):
            return self._conv(op)
        if isinstance(op, Norm | Activation):
            table = NORM_SOURCES if isinstance(op, Norm) else ACTIVATION_SOURCES
            what = "norm" if isinstance(op, Norm) else "activation"
            if op.kind not in table:
                raise SpaceError(f"The {what} {op.kind!r} has no export source; add it to "
                                 f"nasforge.export.layer_sources.")
            entry = table[op.kind]
            self.blocks.update(entry.blocks)
            return entry.expr(int(op.channels), int(op.dims))
        if isinstance(op, Dropout):
            return Call("nn.Dropout", (_float(op.p),))
        if isinstance(op, Pool):
            return self._pool(op)
        if isinstance(op, GlobalPool):
            self.blocks.add("global_pool")
            return Call("GlobalAvgPool", (_int(op.dims),))
        if isinstance(op, Flatten):
            return "nn.Flatten()"
        if isinstance(op, Cell):
            self.blocks.add("cell")
            edges = tuple((f'"{_int(e.to)}_{_int(e.source)}"', self.branch(e.branch))
                          for e in op.edges)
            return Call("Cell", (_int(op.nodes), DictOf(edges)))
        if isinstance(op, Residual):
            self.blocks.add("residual")
            return Call("Residual", (self.branch(op.main), self.branch(op.shortcut)))
        raise SpaceError(f"Plan op {type(op).__name__} has no export; nasforge.export.exprs "
                         "handles the ops that build.py builds.")

    def branch(self, part: Branch) -> Expr:
        if not part.ops:
            return "nn.Identity()"
        return Call("nn.Sequential", tuple(self.op(o) for o in part.ops))

    def prefix(self, op: Op) -> str:
        """The attribute prefix of a top-level op (``fc``, ``conv``, ``bn``, ``act``, ...)."""
        if isinstance(op, Norm):
            entry = NORM_SOURCES.get(op.kind)
            return entry.prefix if entry else "norm"
        return {Linear: "fc", Conv: "conv", Activation: "act", Dropout: "drop", Pool: "pool",
                GlobalPool: "gpool", Flatten: "flatten", Cell: "cell",
                Residual: "res"}[type(op)]

    def _linear(self, op: Linear) -> Expr:
        args = (_int(op.in_features), _int(op.out_features))
        bias = () if op.bias else (("bias", "False"),)
        if op.weight_bits == op.act_bits == FLOAT_BITS:
            return Call("nn.Linear", args, bias)
        self.blocks.add("quant")
        return Call("QuantLinear", args, (*bias, *self._bits(op)))

    def _bits(self, op: Linear | Conv) -> tuple[tuple[str, Expr], ...]:
        return (("weight_bits", _int(op.weight_bits)), ("act_bits", _int(op.act_bits)),
                ("learned_step", _bool(op.learned_step)))

    def _conv(self, op: Conv) -> Expr:
        dims = _int(op.dims)
        if dims not in ("1", "2"):
            raise SpaceError(f"A convolution over {dims} axes has no export; use 1 or 2.")
        quantized = not op.weight_bits == op.act_bits == FLOAT_BITS
        span = int(op.dilation) * (int(op.kernel) - 1) + 1
        kwargs: list[tuple[str, Expr]] = []
        for key, value in (("stride", op.stride), ("dilation", op.dilation),
                           ("groups", op.groups)):
            if int(value) != 1:
                kwargs.append((key, _int(value)))
        kwargs.insert(0, ("padding", str(span // 2) if span % 2 else "0"))
        if not op.bias:
            kwargs.append(("bias", "False"))
        if quantized:
            self.blocks.update(("quant", f"quant_conv{dims}"))
            kwargs.extend(self._bits(op))
        conv = Call(f"QuantConv{dims}d" if quantized else f"nn.Conv{dims}d",
                    (_int(op.in_channels), _int(op.out_channels), _int(op.kernel)),
                    tuple(kwargs))
        if span % 2:
            return conv
        pad = ((span - 1) // 2, span // 2) * int(dims)
        return Call("nn.Sequential", (Call(f"nn.ZeroPad{dims}d", (repr(pad),)), conv))

    def _pool(self, op: Pool) -> Expr:
        if op.kind not in _POOLS or int(op.dims) not in (1, 2):
            raise SpaceError(f"A {op.kind!r} pool over {op.dims} axes has no export.")
        func = f"nn.{_POOLS[op.kind]}{_int(op.dims)}d"
        size = _int(op.size)
        if not op.stride:
            return Call(func, (), (("kernel_size", size), ("stride", size)))
        extra = (("count_include_pad", "False"),) if op.kind == "avg" else ()
        return Call(func, (), (("kernel_size", size), ("stride", _int(op.stride)),
                               ("padding", str(int(op.size) // 2)), *extra))
