"""The import direction of DESIGN.md section 3, enforced."""

from __future__ import annotations

import subprocess
import sys

import pytest

TORCH_FREE = [
    "nasforge.searchspace.space", "nasforge.searchspace.params",
    "nasforge.searchspace.architecture", "nasforge.searchspace.assemble",
    "nasforge.searchspace.families", "nasforge.strategies", "nasforge.store",
    "nasforge.ui.report", "nasforge.records", "nasforge.config", "nasforge.search",
    "nasforge.checkpoints",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_core_modules_do_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    torch_loaded, sqlalchemy_loaded = out.stdout.split()
    assert torch_loaded == "False", f"{module} imports torch"
    if not module.startswith(("nasforge.store", "nasforge.search", "nasforge.checkpoints")):
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
