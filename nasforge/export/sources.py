"""Portable modules -> the header imports and inlined class text of model.py.

A portable module (`nasforge.searchspace.layers.portable`, or a plugin's) imports only
`ALLOWED` modules and other portable modules. The exporter inlines its whole text, so the
exported class *is* the class nasforge trained. The text is `inspect.getsource` of the module,
or, when it is not imported yet, its file, found without importing it (making a model.py
stays torch-free, for the dashboard). `ast` locates what is dropped: the module docstring,
``from __future__`` and every top-level import. Allowed imports are gathered into model.py's
header; a portable module it imports is inlined before it. Anything else is refused with a
`SpaceError` naming the module and who registered it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

from nasforge.errors import SpaceError
from nasforge.searchspace.specs import PORTABLE_IMPORTS, PORTABLE_PACKAGE

ALLOWED = PORTABLE_IMPORTS
"""The modules model.py may import (it needs torch alone)."""
STANDARD = frozenset({"math", "typing"})


@dataclass(frozen=True, slots=True)
class Portable:
    """One portable module: its text without docstring and imports, the allowed imports it
    needs, the portable modules it imports, and the top-level names it defines."""

    name: str
    text: str
    imports: tuple[str, ...]  # normalised: "import X", "import X as Y", "from X import Y"
    needs: tuple[str, ...]
    defines: frozenset[str]


@dataclass(frozen=True, slots=True)
class Inlined:
    """What model.py needs from a set of portable modules."""

    modules: tuple[Portable, ...]  # in dependency order (a module after those it imports)

    @property
    def text(self) -> tuple[str, ...]:
        return tuple(module.text for module in self.modules)

    @property
    def imports(self) -> tuple[str, ...]:
        """The allowed imports the modules need (for `header`)."""
        return tuple(dict.fromkeys(i for module in self.modules for i in module.imports))


def _where(name: str, origin: str) -> str:
    return name if origin in ("", "nasforge") else f"{name} (registered by {origin})"


def _is_portable_dependency(importer: str, target: str) -> bool:
    """A portable module may import nasforge's portable package and, for a plugin, modules
    of its own top-level package (each checked in turn when it is read)."""
    if target == PORTABLE_PACKAGE or target.startswith(PORTABLE_PACKAGE + "."):
        return True
    top = importer.partition(".")[0]
    return top != "nasforge" and target.partition(".")[0] == top


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def read(name: str, origin: str = "nasforge") -> Portable:
    """Parse portable module `name`; SpaceError when it imports something model.py cannot."""
    where = _where(name, origin)
    try:
        source = _source(name)
    except (ImportError, OSError, TypeError) as error:
        raise SpaceError(f"The portable module {where} cannot be read for export: {error}"
                         ) from error
    tree = ast.parse(source)
    dropped: list[tuple[int, int]] = []
    imports: list[str] = []
    needs: list[str] = []
    defines: set[str] = set()
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            dropped.append((node.lineno, node.end_lineno or node.lineno))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            dropped.append((node.lineno, node.end_lineno or node.lineno))
            _sort_import(name, where, node, imports, needs)
        else:
            defines |= _defined(node)
    for inner in ast.walk(tree):  # imports inside functions or `if` blocks are kept in place
        if isinstance(inner, ast.Import | ast.ImportFrom) and inner not in tree.body:
            for target in _targets(inner):
                if target not in ALLOWED:
                    raise _refused(where, target)
    lines = source.splitlines()
    for first, last in sorted(dropped, reverse=True):
        del lines[first - 1:last]
    text = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip("\n")
    return Portable(name, text, tuple(dict.fromkeys(imports)), tuple(dict.fromkeys(needs)),
                    frozenset(defines))


def _source(name: str) -> str:
    """The text of module `name`: `inspect.getsource` of the imported module, or the text of
    its file located package by package without importing anything (importing
    `nasforge.searchspace.layers.portable` would import torch through its parent package)."""
    if name not in sys.modules:
        path: list[str] | None = None
        spec = None
        for part in name.split("."):
            spec = PathFinder.find_spec(part, path)
            if spec is None:
                break
            path = list(spec.submodule_search_locations or [])
        origin = spec.origin if spec is not None else None
        if origin is not None and origin.endswith(".py"):
            return Path(origin).read_text(encoding="utf-8")
    return inspect.getsource(importlib.import_module(name))


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        return ["." * node.level + (node.module or "")]
    module = node.module or ""
    # ``from torch import nn`` imports the module torch.nn
    return [f"{module}.{a.name}" if f"{module}.{a.name}" in ALLOWED else module
            for a in node.names]


def _refused(where: str, target: str) -> SpaceError:
    return SpaceError(
        f"The portable module {where} imports {target!r}, which the exported model.py cannot "
        f"import (it needs torch alone). A portable module may import only "
        f"{', '.join(ALLOWED)} and other portable modules; move the rest into a "
        "non-portable module.")


def _sort_import(name: str, where: str, node: ast.Import | ast.ImportFrom, imports: list[str],
                 needs: list[str]) -> None:
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return
    for target in _targets(node):
        if target in ALLOWED:
            continue
        if not _is_portable_dependency(name, target):
            raise _refused(where, target)
        if not isinstance(node, ast.ImportFrom) or any(a.asname for a in node.names) \
                or target != node.module:
            raise SpaceError(
                f"The portable module {where} imports {target!r} in a form that cannot be "
                "inlined; write `from <portable module> import <name>` without `as`.")
        needs.append(target)
    if all(t in ALLOWED for t in _targets(node)):
        if isinstance(node, ast.Import):
            imports.extend(ast.unparse(ast.Import([a])) for a in node.names)
        else:
            imports.extend(ast.unparse(ast.ImportFrom(node.module, [a], 0))
                           for a in node.names)


def inline(modules: Iterable[str], origins: Mapping[str, str] | None = None,
           reserved: Iterable[str] = ()) -> Inlined:
    """The portable `modules` and those they import, ordered so each follows its imports,
    (their imports gathered by `header`). `origins` names who registered each (for messages);
    `reserved`: names model.py defines itself, which no module may define."""
    origins = origins or {}
    read_: dict[str, Portable] = {}
    order: list[Portable] = []
    visiting: set[str] = set()

    def visit(name: str, origin: str) -> None:
        if name in read_:
            return
        if name in visiting:
            raise SpaceError(f"The portable module {_where(name, origin)} imports itself "
                             "through other portable modules; break the cycle.")
        visiting.add(name)
        module = read(name, origin)
        for need in module.needs:
            visit(need, origins.get(need, origin))
        visiting.discard(name)
        read_[name] = module
        order.append(module)

    for name in sorted(set(modules)):
        visit(name, origins.get(name, "nasforge"))
    owner = {name: "model.py" for name in reserved}
    for module in order:
        for defined in sorted(module.defines):
            if defined in owner:
                raise SpaceError(
                    f"The name {defined!r} is defined by both "
                    f"{_where(module.name, origins.get(module.name, 'nasforge'))} and "
                    f"{owner[defined]}; model.py inlines both, so rename one of them.")
            owner[defined] = module.name
    return Inlined(tuple(order))


def header(imports: Iterable[str]) -> str:
    """Import statements merged and laid out as isort (ruff's "I" rule) expects: the
    standard library, then torch; in each, ``import x`` lines, then ``from x import ...``."""
    plain: dict[bool, set[str]] = {True: set(), False: set()}
    froms: dict[bool, dict[str, set[str]]] = {True: {}, False: {}}
    for statement in imports:
        node = ast.parse(statement).body[0]
        if isinstance(node, ast.Import):
            top = node.names[0].name.partition(".")[0]
            plain[top in STANDARD].add(statement)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            top = node.module.partition(".")[0]
            names = froms[top in STANDARD].setdefault(node.module, set())
            names.update(a.name if a.asname is None else f"{a.name} as {a.asname}"
                         for a in node.names)
    groups = []
    for standard in (True, False):
        lines = sorted(plain[standard], key=_import_key)
        lines += [f"from {module} import {', '.join(sorted(names, key=_name_key))}"
                  for module, names in sorted(froms[standard].items())]
        if lines:
            groups.append("\n".join(lines))
    return "\n\n".join(groups)


def _import_key(statement: str) -> tuple[str, str]:
    module = statement.split()[1]
    return module.lower(), statement


def _name_key(name: str) -> tuple[int, str]:
    """isort's order by type: CONSTANTS, then Classes, then functions and modules."""
    bare = name.split(" as ")[0]
    kind = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return kind, bare
