"""The best trial by one objective, as `nasforge show` reports it and `nasforge export --best`
exports it. Torch-free."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState


def best_trial(trials: Sequence[TrialRecord], objective: Objective,
               objectives: Sequence[Objective]) -> TrialRecord | None:
    """The COMPLETE trial with the best finite value of `objective`, or None.

    Ties are broken by the other `objectives`, in their order (a missing or NaN value counts
    as the worst), then by the lowest trial number. So the chosen trial is never one that an
    equally good trial dominates on the other objectives.
    """
    others = [o for o in objectives if o.metric != objective.metric]

    def value(trial: TrialRecord, o: Objective) -> float:
        v = trial.metrics.get(o.metric, math.nan)
        return o.sign() * v if math.isfinite(v) else -math.inf

    scored = [t for t in trials if t.state is TrialState.COMPLETE
              and math.isfinite(t.metrics.get(objective.metric, math.nan))]
    if not scored:
        return None
    return max(scored, key=lambda t: (value(t, objective), *(value(t, o) for o in others),
                                      -t.number))


def non_dominated(columns: Sequence[Sequence[float]]) -> list[int]:
    """Indices (ascending) of the points without NaN that no such point dominates, the
    points given as `columns` (one per objective, all maximised: ``columns[j][i]`` is point
    i's value of objective j): the rows ``non_dominated_mask`` of `nasforge.strategies.pareto`
    marks, computed without numpy for one or two objectives (`nasforge show` at 100k trials:
    O(n) for one; for two, one sort of the points a sampled front leaves); more objectives
    are passed on to it."""
    if not columns:
        return []
    if len(columns) == 1:
        (xs,) = columns
        finite = [x for x in xs if x == x]
        top = max(finite, default=math.nan)
        return [i for i, x in enumerate(xs) if x == top]
    if len(columns) == 2:
        return _sifted_front_2d(columns[0], columns[1])
    from nasforge.strategies.pareto import non_dominated_mask  # numpy: 3+ objectives only

    rows = list(zip(*columns, strict=True))
    return [i for i, keep in enumerate(non_dominated_mask(rows)) if keep] if rows else []


#: `_sifted_front_2d` computes the front of every STRIDE-th point first
STRIDE = 32


def _sifted_front_2d(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """`_front_2d`, several times faster on many points: the front of every `STRIDE`-th point
    is a staircase of real points, and the points it dominates (most of them) are dropped
    with one binary search each before the exact sort and sweep of the rest."""
    sample = _front_2d(xs[::STRIDE], ys[::STRIDE]) if len(xs) > 8 * STRIDE else []
    if not sample:
        return _front_2d(xs, ys)
    stair = sorted((xs[STRIDE * i], ys[STRIDE * i]) for i in sample)  # x up, so y down
    stair_x, stair_y, end = [x for x, _ in stair], [y for _, y in stair], len(stair)
    # the first stair point of x >= a point's x has the largest y of those: it dominates the
    # point when its y is at least as large and it is not the same point (NaN: never)
    rest = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True))
            if (k := bisect.bisect_left(stair_x, x)) == end
            or not (stair_y[k] >= y and (stair_x[k] > x or stair_y[k] > y))]
    return [rest[j] for j in _front_2d([xs[i] for i in rest], [ys[i] for i in rest])]


def _front_2d(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """The non-dominated points (xs[i], ys[i]) without NaN: by x descending, a point is on
    the front when its y is the largest of its x and larger than every y of a larger x."""
    order = sorted((i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if x == x and y == y),
                   key=xs.__getitem__, reverse=True)  # one float key: several times faster
    keep: list[int] = []
    best_before: float | None = None  # the largest y of any larger x
    start, n = 0, len(order)
    while start < n:
        x = xs[order[start]]
        end = start + 1
        while end < n and xs[order[end]] == x:
            end += 1
        group = order[start:end]
        top = max(ys[i] for i in group) if end - start > 1 else ys[order[start]]
        if best_before is None or top > best_before:
            keep.extend(i for i in group if ys[i] == top)
            best_before = top
        start = end
    keep.sort()
    return keep
