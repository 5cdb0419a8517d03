"""The front a search's early stopping compares with, as one process knows it.

`Incumbents` keeps the objective points of the COMPLETE trials it is told about (only the
non-dominated ones: the front) and what their curves gained after each epoch
(`calibration.Gains`), and hands out the current `StopRule`. PRUNED and FAILED trials
never enter it: a stopped trial never becomes what later trials must beat. The trial loop
(`nasforge.trial_loop.TrialLoop`) reads the stored COMPLETE trials once (the latest
`calibration.WINDOW` of each number of epochs with their curves), then tells it every
trial finished here or by another worker. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from nasforge.curves.calibration import Gains, learned_keys
from nasforge.curves.rule import (
    DEFAULT_MIN_EPOCHS,
    DEFAULT_THRESHOLD,
    LEARNED,
    StopRule,
    front_of,
)
from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState


class Incumbents:
    def __init__(self, objectives: Sequence[Objective], *, threshold: float = DEFAULT_THRESHOLD,
                 min_epochs: int = DEFAULT_MIN_EPOCHS) -> None:
        self.objectives = tuple(objectives)
        self.threshold = threshold
        self.min_epochs = min_epochs
        self.loaded = False  # whether the stored history has been read (by the caller)
        self._front: tuple[tuple[float, ...], ...] = ()
        self.gains = Gains(learned_keys([o.metric for o in self.objectives], LEARNED),
                           min_epochs)

    def note(self, records: Iterable[TrialRecord]) -> None:
        """Take the COMPLETE trials among `records` with every objective finite (and, from
        those read with their curves, what they gained after each epoch). Noting a trial
        twice is harmless for the front; its curve is for `gains` once."""
        records = list(records)
        self.gains.note(records)
        points = [tuple(float(r.metrics[o.metric]) for o in self.objectives) for r in records
                  if r.state is TrialState.COMPLETE
                  and all(math.isfinite(r.metrics.get(o.metric, math.nan))
                          for o in self.objectives)]
        if points:
            self._front = front_of([*self._front, *points], self.objectives)

    @property
    def front(self) -> tuple[tuple[float, ...], ...]:
        return self._front

    def rule(self) -> StopRule:
        """The stopping rule against the current front."""
        return StopRule(self.objectives, self._front, self.threshold, self.min_epochs,
                        calibration=self.gains.snapshot())
