"""`nasforge list` and `nasforge show` import only what they need (issue 19: < 1 s at 100k
trials): no plugin, numpy, strategy or search space, checked on the command as it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore
from tests.test_imports import NOT_FOR_STORE_COMMANDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with SQLStore(url) as store:
        store.create_search("s", (Objective("accuracy", "max"), Objective("params", "min")),
                            9, {})
        for trial in store.add_trials("s", [Architecture({"w": i}) for i in range(9)],
                                      TrialState.RUNNING, worker="w"):
            store.finish("s", trial.number, EvalResult(TrialState.COMPLETE, {
                "accuracy": trial.number / 9, "params": float(trial.number % 4)}), worker="w")
    return url


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["show", "s"],
                                  ["show", "s", "--json"], ["show", "s", "--all"]])
def test_store_commands_import_no_plugin_numpy_or_strategy(url: str, argv: list[str]) -> None:
    code = ("import json, sys; from typer.testing import CliRunner; "
            "from nasforge.ui.cli import app; "
            f"result = CliRunner().invoke(app, {[*argv, '--storage', url]!r}); "
            "print(json.dumps([result.exit_code, result.output, "
            f"[m for m in {NOT_FOR_STORE_COMMANDS!r} if m in sys.modules]]))")
    env = {k: v for k, v in os.environ.items() if k != "NASFORGE_NO_PLUGINS"}  # as users run
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT, env=env)
    exit_code, output, loaded = json.loads(done.stdout.splitlines()[-1])
    assert exit_code == 0, output
    assert "s" in output
    assert loaded == []


def test_other_commands_still_load_the_plugins() -> None:
    code = ("import sys; from typer.testing import CliRunner; from nasforge.ui.cli import app; "
            "result = CliRunner().invoke(app, ['layers', '--json']); "
            "print(result.exit_code, sys.modules['nasforge.plugins']._report is not None)")
    env = {k: v for k, v in os.environ.items() if k != "NASFORGE_NO_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT, env=env)
    assert done.stdout.split() == ["0", "True"]
