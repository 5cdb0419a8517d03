"""Plan op -> the constructor expression of its module, dispatched through the op specs.

An expression is a small tree (`Call`, `DictOf`) that `render` lays out within the line
length. Each op's expression comes from its spec (`OpSpec.export`, the built-in ones in
`op_exprs`) and builds a module with the state_dict layout `build.py` gives the op; the
builder collects the portable modules (`export.sources`) whose classes the expressions call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nasforge.errors import SpaceError
from nasforge.searchspace.plan_ops import Branch, Op
from nasforge.searchspace.specs import resolve, spec_of

WIDTH = 100
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


def as_int(value: float) -> str:
    """A plan op's integer field as source text (a float or bool there is refused)."""
    if isinstance(value, bool) or int(value) != value:
        raise SpaceError(f"plan value {value!r} should be a whole number")
    return str(int(value))


def as_float(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise SpaceError(f"plan value {value!r} should be a finite number")
    return repr(number)


def as_bool(value: object) -> str:
    return "True" if bool(value) else "False"


class ExprBuilder:
    """Builds expressions for ops and collects the portable modules they need (module name ->
    the origin that registered it, for messages)."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def need(self, *modules: str, origin: str = "nasforge") -> None:
        for module in modules:
            self.sources.setdefault(module, origin)

    def op(self, op: Op) -> Expr:
        spec = spec_of(op)
        if spec.export is None:
            raise SpaceError(f"Plan op {type(op).__name__} ({spec.name!r}, registered by "
                             f"{spec.origin}) has no export; give its spec an `export`.")
        expr: Expr = resolve(spec.export)(op, self)
        return expr

    def branch(self, part: Branch) -> Expr:
        if not part.ops:
            return "nn.Identity()"
        return Call("nn.Sequential", tuple(self.op(o) for o in part.ops))

    def prefix(self, op: Op) -> str:
        """The attribute prefix of a top-level op (``fc``, ``conv``, ``bn``, ``act``, ...)."""
        return spec_of(op).attribute_prefix(op)
