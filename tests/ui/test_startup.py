"""`nasforge list` and `nasforge show` import only what they need (issue 19: < 1 s at 100k
trials): no plugin, numpy, strategy or search space, no pydantic (typer's validators for
plain strings and flags) and, for ``--json``, no Rich; checked on the command as it runs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore
from nasforge.ui.cli import app
from tests.test_imports import NOT_FOR_STORE_COMMANDS

ROOT = Path(__file__).resolve().parents[2]
#: what none of list / show needs either (typer's pydantic validators, Alembic, pandas)
NOT_FOR_LIST_OR_SHOW = (*NOT_FOR_STORE_COMMANDS, "pydantic", "typer._adapters", "alembic",
                        "pandas")


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


def loaded_by(argv: list[str], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """What ``python -m nasforge ARGV`` prints, and which of `modules` it had imported by
    its end (a fresh interpreter, plugins on as users have them)."""
    code = ("import atexit, json, runpy, sys; atexit.register(lambda: print(json.dumps("
            f"[m for m in {modules!r} if m in sys.modules]), file=sys.stderr)); "
            f"sys.argv = ['nasforge', *{argv!r}]; runpy.run_module('nasforge', "
            "run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "NASFORGE_NO_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(done.stderr.splitlines()[-1])


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["show", "s"],
                                  ["show", "s", "--json"], ["show", "s", "--all"]])
def test_store_commands_import_no_plugin_numpy_strategy_or_pydantic(url: str, argv: list[str]
                                                                    ) -> None:
    unwanted = (*NOT_FOR_LIST_OR_SHOW, *(("rich",) if "--json" in argv else ()))
    output, loaded = loaded_by([*argv, "--storage", url], unwanted)
    assert "s" in output
    assert loaded == []


def test_the_command_line_imports_rich_only_to_print_with_it() -> None:
    code = "import sys, nasforge.ui.cli; print([m for m in sys.modules if m.startswith('rich')])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_plain_strings_and_flags_are_taken_as_typed_and_numbers_still_checked(
        url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["show", "s", "--json", "--all", "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["name"] == "s"
    refused = runner.invoke(app, ["search", str(tmp_path / "none.toml"), "--budget", "many"])
    assert refused.exit_code == 2
    assert "Invalid value for '--budget'" in refused.output
    missing = runner.invoke(app, ["show", "--storage", url])
    assert missing.exit_code == 2 and "Missing argument" in missing.output


def test_log_records_are_printed_through_rich_made_on_the_first(
        capsys: pytest.CaptureFixture[str]) -> None:
    from nasforge.ui.lazy_logging import LazyRichHandler

    handler = LazyRichHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    assert handler._inner is None
    handler.handle(logging.LogRecord("nasforge.x", logging.WARNING, __file__, 1, "[space] %s",
                                     ("kept",), None))
    assert type(handler._inner).__name__ == "RichHandler"
    printed = capsys.readouterr().err
    assert "WARNING" in printed and "[space] kept" in printed


def test_a_search_with_workers_starts_the_fork_server_before_importing_the_store() -> None:
    """The fork server's torch import runs on another core while this process imports
    SQLAlchemy and loads the data (`RunOptions.prestart`): it is asked for before the store
    package is imported."""
    code = ("import json, runpy, sys; import nasforge.evaluator.executors.start as start; "
            "start.prestart = lambda *a: (print(json.dumps(sorted(m for m in ('sqlalchemy', "
            "'nasforge.store') if m in sys.modules))), sys.exit(3)); "
            "sys.argv = ['nasforge', 'search', 'examples/quickstart.toml', '--workers', '2', "
            "'--storage', 'sqlite:///never.db']; runpy.run_module('nasforge', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert not (ROOT / "never.db").exists()
