"""Progress of a running search: done / failed / best so far / ETA.

On a terminal, a Rich progress bar. Elsewhere (nohup, CI, a pipe) Rich would print the bar
once at the end, so plain lines are printed instead: one for the first finished trial, one
for the last, and one whenever a trial finishes at least `interval` seconds after the last
line (so every trial, or every `interval` seconds, whichever is rarer).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from nasforge.objectives import Objective
from nasforge.records import SearchRecord, TrialRecord, TrialState

#: Seconds between two plain progress lines (at most one line per finished trial).
PLAIN_INTERVAL = 30.0


class RichProgress:
    """SearchObserver that drives a Rich progress bar, or prints plain lines where the
    console is not a terminal. Use as a context manager. `clock`: seconds, monotonic."""

    def __init__(self, console: Console, *, interval: float = PLAIN_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.plain = not console.is_terminal
        self.interval = interval
        self.clock = clock
        self.progress = None if self.plain else Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self.task: TaskID | None = None
        self.name = ""
        self.budget = 0
        self.done = 0
        self.failed = 0
        self.best: float | None = None
        self.objective: Objective | None = None
        self.started = 0.0
        self.resumed_at = 0
        self.last_line: float | None = None

    def __enter__(self) -> RichProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None:
        self.objective = search.objectives[0]
        self.name, self.budget = search.name, search.budget
        finished = [t for t in history if t.state.is_finished]
        for record in finished:
            self._count(record)
        self.started, self.resumed_at = self.clock(), self.done
        if self.progress is not None:
            self.task = self.progress.add_task(search.name, total=search.budget,
                                               completed=len(finished), status=self._status())
        elif finished:
            self._line(f"{self.name}: {self.done}/{self.budget} trials already finished")

    def on_trial(self, record: TrialRecord) -> None:
        self._count(record)
        if record.state is TrialState.FAILED:
            self.console.print(Text.assemble((f"trial {record.number} failed: ", "yellow"),
                                             str(record.error)), highlight=False)
        if self.progress is not None:
            assert self.task is not None  # on_start added it
            self.progress.update(self.task, advance=1, status=self._status())
            return
        now = self.clock()
        if (self.last_line is None or now - self.last_line >= self.interval
                or self.done >= self.budget):
            self.last_line = now
            self._line(self._plain_status(now))

    def _count(self, record: TrialRecord) -> None:
        self.done += 1
        if record.state is TrialState.FAILED:
            self.failed += 1
        objective = self.objective
        if objective is None:
            return
        value = record.metrics.get(objective.metric)
        if record.state is TrialState.COMPLETE and value is not None and math.isfinite(value):
            if self.best is None or objective.better(value, self.best):
                self.best = value

    def _line(self, text: str) -> None:
        self.console.print(Text(text), highlight=False, soft_wrap=True)

    def _best(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4g}"
        name = self.objective.metric if self.objective else "best"
        return f"best {name} {best}"

    def _status(self) -> str:
        return f"failed {self.failed}  {self._best()}"

    def _plain_status(self, now: float) -> str:
        elapsed = now - self.started
        line = (f"{self.name}: trial {self.done}/{self.budget} finished ({self.failed} "
                f"failed), {self._best()}, elapsed {_clock(elapsed)}")
        new = self.done - self.resumed_at
        if 0 < new and self.done < self.budget:
            line += f", ETA {_clock(elapsed / new * (self.budget - self.done))}"
        return line


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
