"""How much the search's own finished trials still gained after each epoch: the empirical
check early stopping makes before it stops a trial.

The parametric extrapolation (`curves.predict`) knows nothing of the learning-rate schedule:
under a cosine schedule a curve that looks flat after a third of its epochs still rises when
the rate anneals, and the fits call it finished (on digits MLPs, 10% of the true finals lay
above the predicted 95% quantile after epoch 4). The trials this search finished hold the
answer for this space, schedule and data: for each COMPLETE trial of E epochs and each epoch
k, the ratio of its remaining gap at the end to its gap after epoch k, per learned curve key
(the gap to the metric's bound: 1 - accuracy, or the loss itself, plus `SMOOTHING` so a trial
that ended at the bound does not promise every trial the bound). A running trial's final value
under the ratios of the finished trials that were where it is now (their gap after epoch k
within a factor of `COMPARABLE` of its gap, for every key: a strong trial's small ratio says
nothing about a trial at chance) is a sample of where it may end; the stopping rule stops it
only when these samples too leave it dominated (`rule.StopRule.decide`).

This is a nonparametric predictor trained by nasforge on the search itself (after the
learning-curve ranking of Chandrashekaran and Lane, ECML-PKDD 2017, and the "previous
builds" idea of freeze-thaw BO), nothing downloaded. `Gains` keeps the ratios of the
`WINDOW` highest-numbered finished trials per (E, k) (mutable, in the trial loop; by number,
not by arrival, so a resumed search or another worker holds the same window);
`Calibration` is its frozen, picklable snapshot that travels with the rule to workers.
Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nasforge.metrics import EPOCHS, LARGER_IS_BETTER
from nasforge.records import CurvePoint, TrialRecord, TrialState

#: Ratios kept per (final epoch, epoch): the most recent finished trials.
WINDOW = 200
#: Fewer comparable finished trials than this: no empirical check (the parametric
#: prediction decides alone).
MIN_TRIALS = 8
#: A finished trial is comparable when its gap after the epoch is within this factor of the
#: running trial's gap (both ways), for every key.
COMPARABLE = 2.0
#: Added to both gaps of a ratio (in the metric's units: a tenth of a percent of accuracy).
SMOOTHING = 1e-3


def bound(key: str) -> float:
    """The value a curve key approaches with training: 1 for accuracies, 0 for losses."""
    return 1.0 if key in LARGER_IS_BETTER else 0.0


def gap(key: str, value: float) -> float:
    """How far `value` is from the key's bound (>= 0 for a valid accuracy or loss)."""
    return abs(bound(key) - value)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per (final epoch E, epoch k): one row per finished trial, its gaps after epoch k then
    its ratios, each in `keys` order."""

    keys: tuple[str, ...] = ()
    ratios: tuple[tuple[tuple[int, int], tuple[tuple[float, ...], ...]], ...] = ()

    def at(self, epochs: int, seen: int, now: Mapping[str, float]) -> np.ndarray | None:
        """The ratios (n, len(keys)) of the finished trials of `epochs` epochs that were
        comparable after epoch `seen` to a trial whose values are now `now`, or None with
        fewer than `MIN_TRIALS` of them (or a key missing from `now`)."""
        if any(k not in now or not math.isfinite(now[k]) for k in self.keys):
            return None
        for where, rows in self.ratios:
            if where == (epochs, seen):
                table = np.array(rows, dtype=np.float64).reshape(len(rows), 2 * len(self.keys))
                gaps_then, ratios = table[:, : len(self.keys)], table[:, len(self.keys):]
                gaps_now = np.array([gap(k, now[k]) + SMOOTHING for k in self.keys])
                close = np.all((gaps_then <= COMPARABLE * gaps_now)
                               & (gaps_now <= COMPARABLE * gaps_then), axis=1)
                return ratios[close] if int(close.sum()) >= MIN_TRIALS else None
        return None

    def finals(self, key: str, now: float, ratios: np.ndarray) -> np.ndarray:
        """The final values of `key` (now `now`) under each row of `ratios`."""
        column = ratios[:, self.keys.index(key)]
        gaps = np.maximum((gap(key, now) + SMOOTHING) * column - SMOOTHING, 0.0)
        return bound(key) - gaps if key in LARGER_IS_BETTER else bound(key) + gaps


class Gains:
    """The ratios of the COMPLETE trials noted so far (see the module docstring)."""

    def __init__(self, keys: Sequence[str], min_epochs: int, window: int = WINDOW) -> None:
        self.keys = tuple(dict.fromkeys(keys))
        self.min_epochs = min_epochs
        self.window = window
        self._ratios: dict[tuple[int, int], dict[int, tuple[float, ...]]] = {}
        self._noted: set[int] = set()  # trial numbers taken (a trial may be told twice)

    def note(self, records: Iterable[TrialRecord]) -> None:
        """Take the COMPLETE trials among `records` whose curves hold every key."""
        if not self.keys:
            return
        for record in records:
            if (record.state is TrialState.COMPLETE and record.curve
                    and record.number not in self._noted):
                self._noted.add(record.number)
                self._note_curve(record.number, record.curve)

    def _note_curve(self, number: int, curve: Sequence[CurvePoint]) -> None:
        epochs = curve[-1].epoch
        if len(curve) != epochs or epochs <= self.min_epochs:
            return  # an incomplete or gapped curve says nothing about the final epoch
        if not all(k in p.metrics and math.isfinite(p.metrics[k]) for p in curve
                   for k in self.keys):
            return
        finals = [gap(k, curve[-1].metrics[k]) + SMOOTHING for k in self.keys]
        for point in curve[self.min_epochs - 1: -1]:
            gaps = [gap(k, point.metrics[k]) + SMOOTHING for k in self.keys]
            row = (*gaps, *(f / g for f, g in zip(finals, gaps, strict=True)))
            kept = self._ratios.setdefault((epochs, point.epoch), {})
            kept[number] = row
            if len(kept) > self.window:
                del kept[min(kept)]  # the lowest-numbered trial leaves

    def snapshot(self) -> Calibration:
        return Calibration(self.keys, tuple(sorted(
            (where, tuple(rows[n] for n in sorted(rows))) for where, rows in
            self._ratios.items())))


def latest_per_epochs(complete: Sequence[TrialRecord], window: int) -> list[int]:
    """The numbers of the `window` highest-numbered trials of each number of epochs among
    `complete` (the window `Gains` keeps), for reading their curves on resume."""
    by_epochs: dict[object, list[int]] = {}
    for trial in complete:
        by_epochs.setdefault(trial.metrics.get(EPOCHS), []).append(trial.number)
    return sorted(n for numbers in by_epochs.values() for n in sorted(numbers)[-window:])


def learned_keys(metrics: Sequence[str], learned: Mapping[str, str]) -> list[str]:
    """The curve keys of the objectives that a curve predicts."""
    return [learned[m] for m in metrics if m in learned]
