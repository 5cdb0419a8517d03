"""No op interpreters outside the per-op implementation modules (issue 15).

Everything that reads plans dispatches through the op's spec (`specs.spec_of(op)`); only the
modules that implement one op kind's part for one reader may name op types. Found by `ast`:

- any test of a plan-op type: ``isinstance(op, Linear)``, ``isinstance(op, Linear | Conv)``,
  ``type(op) is Conv``, ``type(op).__name__ == "Pool"``, ``case Norm(...)``;
- op rediscovery from built modules: one function testing two or more layer classes
  (``isinstance(m, nn.Linear)`` ... ``isinstance(m, nn.Conv2d)``). A single test, such as
  "does the model hold any 2-D conv", is not an interpreter.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasforge.searchspace.specs import OP_SPECS

ROOT = Path(__file__).resolve().parents[1] / "nasforge"

PLAN_OPS = frozenset({"Flatten", "Linear", "Conv", "Norm", "Activation", "Dropout", "Pool",
                      "GlobalPool", "Cell", "Residual"}
                     | {OP_SPECS.get(name).op_type.__name__ for name in OP_SPECS.names()})
LAYER_CLASSES = frozenset({
    "nn.Linear", "nn.Conv1d", "nn.Conv2d", "nn.Conv3d", "nn.BatchNorm1d", "nn.BatchNorm2d",
    "nn.LayerNorm", "nn.GroupNorm", "nn.InstanceNorm1d", "nn.InstanceNorm2d", "nn.Dropout",
    "nn.Flatten", "nn.MaxPool1d", "nn.MaxPool2d", "nn.AvgPool1d", "nn.AvgPool2d",
    "nn.ZeroPad1d", "nn.ZeroPad2d", "nn.Identity", "nn.Sequential", "QuantLinear",
    "QuantConv1d", "QuantConv2d", "GlobalAvgPool", "composite.Cell", "composite.Residual"})

#: The per-op implementation modules (paths under nasforge/; a trailing / is a package).
ALLOWED = ("searchspace/ops/", "searchspace/op_specs.py", "searchspace/layer_specs.py",
           "export/op_exprs.py", "evaluator/fused/ops.py", "supernet/rules.py")

def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _classes(node: ast.expr) -> Iterator[str]:
    """The class names a type test names: ``A``, ``m.A``, ``A | B``, ``(A, B)``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from _classes(node.left)
        yield from _classes(node.right)
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            yield from _classes(element)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value  # type(op).__name__ == "Conv"
    elif name := _dotted(node):
        yield name.removeprefix("torch.")


def _is_plan_op(name: str) -> bool:
    last = name.rpartition(".")[2]
    return last in PLAN_OPS and name not in LAYER_CLASSES and not name.startswith("nn.")


def _is_type_of(node: ast.expr) -> bool:
    """``type(x)`` or ``type(x).__name__``."""
    if isinstance(node, ast.Attribute) and node.attr == "__name__":
        node = node.value
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "type")


def _type_tests(tree: ast.AST) -> Iterator[tuple[ast.AST, int, str]]:
    """(innermost function or module, line, class name) of every type test."""
    def visit(node: ast.AST, scope: ast.AST) -> Iterator[tuple[ast.AST, int, str]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)
                    and child.func.id == "isinstance" and len(child.args) == 2):
                yield from ((scope, child.lineno, c) for c in _classes(child.args[1]))
            elif isinstance(child, ast.Compare) and _is_type_of(child.left):
                for right in child.comparators:
                    yield from ((scope, child.lineno, c) for c in _classes(right))
            elif isinstance(child, ast.MatchClass):
                yield scope, child.lineno, _dotted(child.cls)
            yield from visit(child, inner)

    yield from visit(tree, tree)


def interpreters(source: str) -> list[str]:
    """``line: what`` for every op interpreter in a module's source."""
    found: list[str] = []
    layer_tests: dict[ast.AST, list[tuple[int, str]]] = {}
    for scope, line, name in _type_tests(ast.parse(source)):
        if _is_plan_op(name):
            found.append(f"{line}: type test of plan op {name}")
        elif name in LAYER_CLASSES:
            layer_tests.setdefault(scope, []).append((line, name))
    for tests in layer_tests.values():
        if len({name for _, name in tests}) > 1:
            found.extend(f"{line}: module type test {name} (op rediscovery)"
                         for line, name in tests)
    return sorted(found, key=lambda s: int(s.split(":")[0]))


def _sources() -> dict[str, list[str]]:
    return {path.relative_to(ROOT).as_posix(): interpreters(path.read_text())
            for path in sorted(ROOT.rglob("*.py"))}


SOURCES = _sources()


def test_no_module_dispatches_on_op_types_outside_the_op_implementations() -> None:
    offenders = {path: found for path, found in SOURCES.items()
                 if found and not path.startswith(ALLOWED)}
    assert not offenders, (
        "These modules switch on op types; dispatch through the op's spec instead "
        "(specs.spec_of(op).build / .export / .fused / .elastic, or a field of the spec), "
        "or put the per-op code in its implementation module "
        f"({', '.join(ALLOWED)}):\n"
        + "\n".join(f"nasforge/{path}:{hit}" for path, hits in offenders.items()
                    for hit in hits))


@pytest.mark.parametrize(("source", "hits"), [
    ("def f(op):\n    return isinstance(op, Linear | Conv)\n", 2),
    ("def f(op):\n    return isinstance(op, (plan.Norm, Activation))\n", 2),
    ("def f(op):\n    return type(op) is Pool or type(op).__name__ == 'Cell'\n", 2),
    ("def f(op):\n    match op:\n        case Residual(main=m):\n            return m\n", 1),
    ("def f(m):\n    return isinstance(m, nn.Linear) or isinstance(m, torch.nn.Conv2d)\n", 2),
    ("def f(m):\n    return any(isinstance(x, nn.Conv2d) for x in m.modules())\n", 0),
    ("def f(m):\n    return isinstance(m, nn.Linear)\n\n"
     "def g(m):\n    return isinstance(m, nn.Conv2d)\n", 0),
    ("def f(x):\n    return isinstance(x, str | int) and type(x) is dict\n", 0),
])
def test_the_detector_finds_chains_and_spares_other_type_tests(source: str, hits: int) -> None:
    assert len(interpreters(source)) == hits
