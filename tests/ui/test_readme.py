"""The README's first command, as a user runs it: twice in a row, and `show` after it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.ui.cli import app

ROOT = Path(__file__).parents[2]


def commands() -> list[str]:
    """The `&&`-joined commands of the README's first bash block."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "README.md has no bash block"
    return [c.strip() for c in block.group(1).replace("\\\n", " ").split("&&")]


def test_the_first_command_installs_the_cpu_build_of_torch() -> None:
    install = next(c for c in commands() if "torch" in c)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in install, install


@pytest.mark.slow
def test_the_first_command_runs_twice_and_show_runs(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [shlex.split(c)[1:] for c in commands() if c.startswith("nasforge ")]
    assert [s[0] for s in steps] == ["search", "show"], steps
    search, show = steps
    search = [str(ROOT / a) if a.endswith(".toml") else a for a in search]
    monkeypatch.chdir(tmp_path)  # the default store, ./nasforge.db, lands here
    runner = CliRunner(env={"NASFORGE_STORAGE": None})
    for attempt in (1, 2):
        result = runner.invoke(app, [*search, "--budget", "2"])  # a short budget for the test
        assert result.exit_code == 0, (attempt, result.output)
        assert "2 complete" in result.stdout
        shown = runner.invoke(app, show)
        assert shown.exit_code == 0 and "quickstart" in shown.stdout, shown.output


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().strip().splitlines()]
    assert test_command in ci, "CI must run the README's test command verbatim"
    after = [line for line in ci[ci.index(test_command) + 1:] if line and not line.startswith("#")]
    # after it only CI's own extra checks (.ci/nni: NNI in its own virtual environment)
    assert all(line.startswith("bash .ci/") for line in after), after
