"""How much the search's own finished trials still gained after each epoch: the empirical
check early stopping makes before it stops a trial.

The parametric extrapolation (`curves.predict`) knows nothing of the learning-rate schedule:
under a cosine schedule a curve that looks flat after a third of its epochs still rises when
the rate anneals, and the fits call it finished (on digits MLPs, 10% of the true finals lay
above the predicted 95% quantile after epoch 4). The trials this search finished hold the
answer for this space, schedule and data: for each COMPLETE trial of E epochs and each epoch
k, the ratio of its remaining gap at the end to its gap after epoch k, per learned curve key
(the gap to the metric's bound: 1 - accuracy, or the loss itself). A running trial's final
value under each finished trial's ratios is a sample of where it may end; the stopping rule
stops it only when these samples too leave it dominated (`rule.StopRule.decide`).

This is a nonparametric predictor trained by nasforge on the search itself (after the
learning-curve ranking of Chandrashekaran and Lane, ECML-PKDD 2017, and the "previous
builds" idea of freeze-thaw BO), nothing downloaded. `Gains` keeps the latest `WINDOW`
ratios per (E, k) (mutable, in the trial loop); `Calibration` is its frozen, picklable
snapshot that travels with the rule to workers. Torch-free.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nasforge.metrics import LARGER_IS_BETTER
from nasforge.records import CurvePoint, TrialRecord, TrialState

#: Ratios kept per (final epoch, epoch): the most recent finished trials.
WINDOW = 200
#: Fewer finished trials than this at an epoch: no empirical check there (the parametric
#: prediction decides alone).
MIN_TRIALS = 8


def bound(key: str) -> float:
    """The value a curve key approaches with training: 1 for accuracies, 0 for losses."""
    return 1.0 if key in LARGER_IS_BETTER else 0.0


def gap(key: str, value: float) -> float:
    """How far `value` is from the key's bound (>= 0 for a valid accuracy or loss)."""
    return abs(bound(key) - value)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per (final epoch E, epoch k): one ratio tuple per finished trial, in `keys` order."""

    keys: tuple[str, ...] = ()
    ratios: tuple[tuple[tuple[int, int], tuple[tuple[float, ...], ...]], ...] = ()

    def at(self, epochs: int, seen: int) -> np.ndarray | None:
        """The ratios (n, len(keys)) for a trial of `epochs` epochs after `seen`, or None
        with fewer than `MIN_TRIALS`."""
        for where, rows in self.ratios:
            if where == (epochs, seen):
                return np.array(rows, dtype=np.float64) if len(rows) >= MIN_TRIALS else None
        return None

    def finals(self, key: str, now: float, ratios: np.ndarray) -> np.ndarray:
        """The final values of `key` (now `now`) under each row of `ratios`."""
        column = ratios[:, self.keys.index(key)]
        gaps = gap(key, now) * column
        return bound(key) - gaps if key in LARGER_IS_BETTER else bound(key) + gaps


class Gains:
    """The ratios of the COMPLETE trials noted so far (see the module docstring)."""

    def __init__(self, keys: Sequence[str], min_epochs: int, window: int = WINDOW) -> None:
        self.keys = tuple(dict.fromkeys(keys))
        self.min_epochs = min_epochs
        self.window = window
        self._ratios: dict[tuple[int, int], deque[tuple[float, ...]]] = {}
        self._noted: set[int] = set()  # trial numbers taken (a trial may be told twice)

    def note(self, records: Iterable[TrialRecord]) -> None:
        """Take the COMPLETE trials among `records` whose curves hold every key."""
        if not self.keys:
            return
        for record in records:
            if (record.state is TrialState.COMPLETE and record.curve
                    and record.number not in self._noted):
                self._noted.add(record.number)
                self._note_curve(record.curve)

    def _note_curve(self, curve: Sequence[CurvePoint]) -> None:
        epochs = curve[-1].epoch
        if len(curve) != epochs or epochs <= self.min_epochs:
            return  # an incomplete or gapped curve says nothing about the final epoch
        if not all(k in p.metrics and math.isfinite(p.metrics[k]) for p in curve
                   for k in self.keys):
            return
        finals = [gap(k, curve[-1].metrics[k]) for k in self.keys]
        for point in curve[self.min_epochs - 1: -1]:
            gaps = [gap(k, point.metrics[k]) for k in self.keys]
            if any(g <= 0 for g in gaps):
                continue  # at the bound already: no ratio
            row = tuple(f / g for f, g in zip(finals, gaps, strict=True))
            kept = self._ratios.setdefault((epochs, point.epoch), deque(maxlen=self.window))
            kept.append(row)

    def snapshot(self) -> Calibration:
        return Calibration(self.keys, tuple(sorted(
            (where, tuple(rows)) for where, rows in self._ratios.items())))


def learned_keys(metrics: Sequence[str], learned: Mapping[str, str]) -> list[str]:
    """The curve keys of the objectives that a curve predicts."""
    return [learned[m] for m in metrics if m in learned]
