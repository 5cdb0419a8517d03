"""nasforge/ type-checks clean under mypy with the project's settings (pyproject.toml
[tool.mypy]), so that CI, which runs the README's pytest command, type-checks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is in the test extra: pip install -e '.[test]'")
def test_mypy_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "nasforge"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
