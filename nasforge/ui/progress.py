"""A Rich progress bar for a running search: done / failed / best so far / ETA."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from nasforge.records import SearchRecord, TrialRecord, TrialState


class RichProgress:
    """SearchObserver that drives a Rich progress bar. Use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = None
        self.failed = 0
        self.best: float | None = None
        self.objective = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None:
        self.objective = search.objectives[0]
        finished = [t for t in history if t.state.is_finished]
        for record in finished:
            self._count(record)
        self.task = self.progress.add_task(search.name, total=search.budget,
                                           completed=len(finished), status=self._status())

    def on_trial(self, record: TrialRecord) -> None:
        self._count(record)
        if record.state is TrialState.FAILED:
            self.console.print(Text.assemble((f"trial {record.number} failed: ", "yellow"),
                                             str(record.error)), highlight=False)
        self.progress.update(self.task, advance=1, status=self._status())

    def _count(self, record: TrialRecord) -> None:
        if record.state is TrialState.FAILED:
            self.failed += 1
        value = record.metrics.get(self.objective.metric) if self.objective else None
        if record.state is TrialState.COMPLETE and value is not None and math.isfinite(value):
            if self.best is None or self.objective.better(value, self.best):
                self.best = value

    def _status(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4g}"
        name = self.objective.metric if self.objective else "best"
        return f"failed {self.failed}  best {name} {best}"
