"""Security rules the code must keep, checked on its syntax tree: nothing a user or the store
supplies is unpickled or evaluated, checkpoints load with weights_only=True, arrays without
pickles, and SQL text is never built by string formatting (parameters bind values)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nasforge"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (func.attr if isinstance(func, ast.Attribute)
                    else func.id if isinstance(func, ast.Name) else "")
            owner = (func.value.id if isinstance(func, ast.Attribute)
                     and isinstance(func.value, ast.Name) else "")
            yield node, owner, name


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def _formatted(node: ast.AST) -> bool:
    """An f-string, a % or + on strings, or a .format call."""
    return (isinstance(node, ast.JoinedStr) and any(
        isinstance(v, ast.FormattedValue) for v in node.values)) or isinstance(
        node, ast.BinOp) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "format")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in ("pickle", "dill", "marshal", "shelve") for n in names):
                found.append(f"line {node.lineno}: imports a pickle module")
    for call, owner, name in _calls(tree):
        where = f"line {call.lineno}"
        if isinstance(call.func, ast.Name) and name in ("eval", "exec", "compile",
                                                         "__import__"):
            found.append(f"{where}: calls {name}()")
        if owner == "torch" and name == "load" and _keyword(call, "weights_only") is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        if owner in ("np", "numpy") and name == "load" and _keyword(
                call, "allow_pickle") is not False:
            found.append(f"{where}: np.load without allow_pickle=False")
        if name in ("text", "exec_driver_sql") and call.args and _formatted(call.args[0]):
            if not (name == "exec_driver_sql" and _pragma_of_constants(call.args[0])):
                found.append(f"{where}: SQL built by string formatting in {name}()")
    return found


def _pragma_of_constants(node: ast.AST) -> bool:
    """SQLite PRAGMAs cannot take bound parameters; ours interpolate only module constants."""
    if not isinstance(node, ast.JoinedStr):
        return False
    head = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    return head.lstrip().upper().startswith("PRAGMA") and all(
        isinstance(v, ast.Name) and v.id.isupper() for v in values)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unpickling_evaluation_or_formatted_sql(path: Path) -> None:
    assert _violations(path) == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nimport torch\nimport numpy as np\nfrom sqlalchemy import text\n"
        "eval('1')\ntorch.load('w.pt')\nnp.load('a.npz')\n"
        "text(f'SELECT * FROM t WHERE name = {name}')\n"
        "conn.exec_driver_sql('DELETE FROM t WHERE id = %s' % i)\n", encoding="utf-8")
    found = _violations(bad)
    assert len(found) == 6, found
    good = tmp_path / "good.py"
    good.write_text("import torch\ntorch.load('w.pt', weights_only=True)\n"
                    "conn.exec_driver_sql(f'PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}')\n"
                    "text('SELECT 1 WHERE a = :a')\n", encoding="utf-8")
    assert _violations(good) == []
