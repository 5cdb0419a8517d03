"""Progress of a search where stdout is not a terminal (nohup, CI, a pipe): plain lines."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nasforge.objectives import parse_objectives
from nasforge.records import SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.ui.cli import app
from nasforge.ui.progress import RichProgress

LINE = re.compile(r"^tiny: trial (\d+)/(\d+) finished \((\d+) failed\), best accuracy "
                  r"(\d\.\d+)", re.MULTILINE)

#: Variables by which Rich takes a pipe for a terminal or changes its width (CI sets some).
RICH_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS",
            "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TERM", "COLORTERM")


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RICH_ENV:
        monkeypatch.delenv(name, raising=False)



def test_a_search_piped_prints_plain_progress_lines(tmp_path, write_config) -> None:
    result = CliRunner().invoke(app, ["search", str(write_config(budget=3, epochs=1)),
                                      "--storage", f"sqlite:///{tmp_path / 'p.db'}"])
    assert result.exit_code == 0, result.output
    lines = LINE.findall(result.stdout)
    assert lines, result.stdout
    # the first and the last trial always get a line; the others at most every interval
    assert lines[0][:2] == ("1", "3") and lines[-1][:2] == ("3", "3")
    assert "━" not in result.stdout  # no bar drawn for a pipe


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _trial(number: int, accuracy: float, state: TrialState = TrialState.COMPLETE
           ) -> TrialRecord:
    return TrialRecord("tiny", number, Architecture({"x": number}), state,
                       {"accuracy": accuracy} if state is TrialState.COMPLETE else {},
                       error=None if state is TrialState.COMPLETE else "diverged")


def test_plain_lines_come_at_most_every_interval() -> None:
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=False, width=200)
    search = SearchRecord("tiny", parse_objectives(["accuracy:max"]), 10)
    with RichProgress(console, interval=30.0, clock=clock) as progress:
        progress.on_start(search, [])
        for number in range(10):
            clock.now += 10.0  # a trial every 10 s: a line every third trial
            progress.on_trial(_trial(number, 0.5 + number / 100,
                                     TrialState.FAILED if number == 4 else TrialState.COMPLETE))
    found = [(int(done), int(failed), float(best)) for done, _, failed, best
             in LINE.findall(out.getvalue())]
    assert found == [(1, 0, 0.5), (4, 0, 0.53), (7, 1, 0.56), (10, 1, 0.59)]
    assert "trial 4 failed: diverged" in out.getvalue()
