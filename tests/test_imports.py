"""The import direction of DESIGN.md section 3, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

TORCH_FREE = [
    "nasforge.searchspace.space", "nasforge.searchspace.params",
    "nasforge.searchspace.architecture", "nasforge.searchspace.assemble",
    "nasforge.searchspace.families", "nasforge.strategies", "nasforge.store",
    "nasforge.ui.report", "nasforge.records", "nasforge.config", "nasforge.search",
    "nasforge.trial_loop",
    "nasforge.checkpoint_policy", "nasforge.evaluator.protocol", "nasforge.evaluator_setup",
    "nasforge.evaluator.data", "nasforge.evaluator.data.fingerprint", "nasforge.metrics",
    "nasforge.importers.nni", "nasforge.ui.import_command",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_core_modules_do_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    torch_loaded, sqlalchemy_loaded = out.stdout.split()
    assert torch_loaded == "False", f"{module} imports torch"
    if not module.startswith(("nasforge.store", "nasforge.search", "nasforge.checkpoint_policy",
                              "nasforge.trial_loop")):
        # search composes all; checkpoints read store URLs and records
        assert sqlalchemy_loaded == "False", f"{module} imports sqlalchemy"


def test_loading_a_config_does_not_import_torch():
    code = ("import sys; from nasforge.config import load; load('examples/quickstart.toml'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "False"


def _loaded_after_import(imports: str, candidates: tuple[str, ...]) -> list[str]:
    code = (f"import sys, {imports}; "
            f"print(','.join(m for m in {candidates!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_benchmark_tables_are_torch_free_and_import_no_strategy():
    assert _loaded_after_import("nasforge.benchmark",
                                ("torch", "sqlalchemy", "nasforge.strategies")) == []


def test_nasforge_never_imports_nni_or_optuna_at_import_time():
    assert _loaded_after_import("nasforge, nasforge.strategies, nasforge.config, nasforge.search",
                                ("nni", "optuna")) == []


#: what start-up leaves out until a command needs it (issue 19: scikit-learn was 1.2 s)
HEAVY = ("sklearn", "pandas", "scipy", "optuna", "torch", "networkx", "streamlit", "plotly")


def test_the_cli_and_the_search_loop_import_no_heavy_module():
    assert _loaded_after_import("nasforge.ui.cli, nasforge.ui.run_search, nasforge.search, "
                                "nasforge.evaluator_setup", HEAVY) == []


def test_a_quickstart_evaluator_imports_torch_but_not_scikit_learn():
    code = ("import sys; from nasforge.config import load; "
            "from nasforge.evaluator_setup import build_evaluator; "
            "build_evaluator(load('examples/quickstart.toml')); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT.parent)
    assert out.stdout.strip() == "torch"


ROOT = Path(__file__).resolve().parents[1] / "nasforge"
#: the search drivers and the loop service under them (DESIGN.md 1b)
LOOP_FILES = ("search.py", "trial_loop.py", "supernet/search.py", "supernet/evaluator.py",
              "supernet/train.py", "supernet/model.py", "strategies/__init__.py",
              "strategies/drivers.py", "strategies/supernet.py", "leases.py")


def _imports(path: Path, *, module_level: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else list(ast.walk(tree))
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("first", ["nasforge.supernet.search", "nasforge.search"])
def test_either_search_driver_imports_first_in_a_fresh_interpreter(first):
    other = "nasforge.search" if first != "nasforge.search" else "nasforge.supernet.search"
    subprocess.run([sys.executable, "-c", f"import {first}, {other}"], check=True)


def test_the_search_drivers_import_each_other_in_no_direction():
    assert not [m for m in _imports(ROOT / "search.py", module_level=True)
                if m.startswith("nasforge.supernet")]
    assert "nasforge.search" not in _imports(ROOT / "supernet" / "search.py",
                                             module_level=False)
    assert not [m for m in _imports(ROOT / "trial_loop.py", module_level=False)
                if m in ("nasforge.search", "nasforge.ui") or m.startswith("nasforge.supernet")]


def test_search_py_names_no_strategy():
    tree = ast.parse((ROOT / "search.py").read_text())
    strings = {node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    from nasforge.strategies import STRATEGIES

    assert not [name for name in STRATEGIES if name in strings]


@pytest.mark.parametrize("relative", LOOP_FILES)
def test_no_private_names_cross_modules(relative):
    """`from nasforge.x import _name` and `other._name` (other than self/cls) reach into
    another module's or object's private parts: the loop service is public instead."""
    tree = ast.parse((ROOT / relative).read_text())
    foreign = {"self", "cls"} | _third_party_names(tree)  # torch's privates are torch's affair
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nasforge"):
            private += [f"{node.module}.{a.name}" for a in node.names if _is_private(a.name)]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr) and (
                _root(node) not in foreign):
            private.append(ast.unparse(node))
    assert private == []


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _third_party_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if not a.name.startswith("nasforge")}
        elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("nasforge"):
            names |= {a.asname or a.name for a in node.names}
    return names


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_every_registered_driver_runs_over_the_public_loop():
    import importlib
    import inspect

    from nasforge.strategies import DRIVERS, STRATEGIES

    for name in DRIVERS:
        assert name in STRATEGIES
        module, _, cls = DRIVERS.get(name).target.partition(":")
        driver = getattr(importlib.import_module(module), cls)
        assert list(inspect.signature(driver).parameters)[:2] == ["loop", "strategy"]
        assert callable(driver.run)


def test_only_a_driver_that_says_so_is_exempt_from_the_resume_budget_check():
    from nasforge.trial_loop import budget_counts_trials

    assert not budget_counts_trials("supernet")  # its budget counts inherited subnets
    assert budget_counts_trials("random") and budget_counts_trials("halving")


#: what the evaluator never imports (DESIGN.md section 3); `config` (TYPE_CHECKING only) is fine
EVALUATOR_NEVER = ("nasforge.strategies", "nasforge.store", "nasforge.ui", "nasforge.search",
                   "nasforge.trial_loop", "nasforge.evaluator_setup",
                   "nasforge.checkpoint_policy", "nasforge.supernet", "nasforge.export")


@pytest.mark.parametrize("path", sorted((ROOT / "evaluator").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_evaluator_imports_no_strategy_store_or_ui(path):
    found = [m for m in _imports(path, module_level=False)
             if any(m == n or m.startswith(n + ".") for n in EVALUATOR_NEVER)]
    assert found == []


#: what `nasforge list` and `nasforge show` never need (issue 19: < 1 s at 100k trials)
NOT_FOR_STORE_COMMANDS = (*HEAVY, "numpy", "nasforge.strategies", "nasforge.searchspace.space",
                          "nasforge.plugins")


def test_the_cli_imports_no_numpy_strategy_or_space():
    assert _loaded_after_import("nasforge.ui.cli", NOT_FOR_STORE_COMMANDS) == []


def test_the_facade_imports_its_names_when_first_used():
    assert _loaded_after_import("nasforge", ("numpy", "nasforge.searchspace.space",
                                             "nasforge.extend")) == []
    import nasforge

    for name in nasforge.__all__:
        assert getattr(nasforge, name) is not None
    from nasforge import SearchSpace, register_family
    from nasforge.extend import register_family as home
    from nasforge.searchspace.space import SearchSpace as space_home

    assert SearchSpace is space_home and register_family is home
    assert set(nasforge.__all__) <= set(dir(nasforge))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nasforge.nope  # noqa: B018
