"""Which trials a chart draws. Up to `CHART_POINTS` all of them; beyond, a Pareto chart draws
its whole front and a fixed sample of the other trials (a browser draws a few thousand
points smoothly, and a figure of 100k points is tens of MB sent on every rerun).

The sample is "the trials whose number hashes lowest" (a fixed hash, seeded): the same
trials on every rerun, and as a search grows the points already drawn stay drawn except the
few that newer trials displace, so the picture does not flicker on each refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nasforge.objectives import Objective
from nasforge.ui.queries import front_mask

#: Most points a chart draws (the Pareto front is drawn whole even when it alone is more).
CHART_POINTS = 5_000
#: Most rows the Trials table holds (after filtering and sorting; the page says how many match).
TABLE_ROWS = 5_000
SAMPLE_SEED = 0

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class ChartSample:
    """`frame`: the rows to draw; `total`: the rows there were to draw; `front`: how many of
    them are on the Pareto front (all drawn; None for a plain sample)."""

    frame: pd.DataFrame
    total: int
    front: int | None = None

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.total

    def caption(self, what: str = "trials") -> str:
        """What the chart shows, for under it."""
        if not self.sampled:
            return f"All {self.total:,} {what} shown."
        if self.front is None:
            return (f"Showing {len(self.frame):,} of {self.total:,} {what}, a fixed sample "
                    f"(at most {CHART_POINTS:,} are drawn).")
        return (f"Showing {len(self.frame):,} of {self.total:,} {what}: the front "
                f"({self.front:,}) is complete, the others are a fixed sample "
                f"(at most {CHART_POINTS:,} points are drawn).")


def sample_keys(numbers: np.ndarray, seed: int = SAMPLE_SEED) -> np.ndarray:
    """A fixed pseudo-random uint64 per trial number (splitmix64 of number and seed)."""
    with np.errstate(over="ignore"):
        z = numbers.astype(np.uint64) + (np.uint64(seed) + np.uint64(1)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _lowest(keys: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` smallest keys (all when there are no more than `k`)."""
    if k >= len(keys):
        return np.arange(len(keys))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    return np.argpartition(keys, k - 1)[:k]


def sample_rows(frame: pd.DataFrame, limit: int | None = None,
                seed: int = SAMPLE_SEED) -> ChartSample:
    """At most `limit` (default `CHART_POINTS`) rows of `frame` (a trials frame), a fixed
    sample, in frame order."""
    limit = CHART_POINTS if limit is None else limit
    if len(frame) <= limit:
        return ChartSample(frame, len(frame))
    chosen = np.sort(_lowest(sample_keys(frame["number"].to_numpy(), seed), limit))
    return ChartSample(frame.iloc[chosen], len(frame))


def pareto_sample(frame: pd.DataFrame, objectives: Sequence[Objective],
                  limit: int | None = None, seed: int = SAMPLE_SEED) -> ChartSample:
    """The rows of `frame` with every objective's value that a Pareto chart of `objectives`
    draws: all of them up to `limit` (default `CHART_POINTS`); beyond, every row on their
    front and a fixed sample of the others, `limit` rows in all (or the front alone, when it
    is larger)."""
    limit = CHART_POINTS if limit is None else limit
    metrics = [o.metric for o in objectives]
    if len(frame) and all(m in frame for m in metrics):
        present = np.logical_and.reduce([frame[m].notna().to_numpy() for m in metrics])
        done = frame[present]
    else:
        done = frame.iloc[:0]
    on_front = front_mask(done, objectives)
    front = int(on_front.sum())
    if len(done) <= limit:
        return ChartSample(done, len(done), front)
    rest = np.flatnonzero(~on_front)
    picked = rest[_lowest(sample_keys(done["number"].to_numpy()[rest], seed), limit - front)]
    keep = on_front.copy()
    keep[picked] = True
    return ChartSample(done[keep], len(done), front)
