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
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_core_modules_do_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    torch_loaded, sqlalchemy_loaded = out.stdout.split()
    assert torch_loaded == "False", f"{module} imports torch"
    if not module.startswith(("nasforge.store", "nasforge.search")):  # search composes all
        assert sqlalchemy_loaded == "False", f"{module} imports sqlalchemy"


def test_loading_a_config_does_not_import_torch():
    code = ("import sys; from nasforge.config import load; load('examples/quickstart.toml'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "False"
