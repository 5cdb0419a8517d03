"""Pareto utilities (pure numpy): non-dominated sorting, crowding distance, hypervolume.

Every function takes `points` of shape (n, m) with all m objectives MAXIMISED; turn metrics
into such rows with `nasforge.objectives.objective_matrix` (it flips the sign of ``min``
objectives). Rows with a NaN (a missing metric) never dominate and are ranked last.

- `non_dominated_ranks`: front index of each row (a dense rank of the value for one
  objective and an O(n log n) sweep for two; Deb's fast non-dominated sort, O(n^2 m),
  otherwise).
- `non_dominated_mask` / `pareto_front`: the front alone (rank 0), O(n) for one objective,
  O(n log n) for two (one sort and a running maximum), O(n) memory; more objectives compare
  rows in chunks (O(n^2 m) time, O(chunk * n * m) memory).
- `crowding_distance`: NSGA-II crowding within each front (boundary points are infinite).
- `crowded_order`: rows best first by (rank, -crowding): NSGA-II's crowded comparison.
- `hypervolume`: exact volume dominated by the points and bounded by a reference point, for
  1 to 3 objectives (2-D: one sort; 3-D: slices along the last axis with an incremental 2-D
  staircase, O(n^2) at worst). More objectives raise ValueError.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import numpy as np

from nasforge.objectives import Objective, objective_matrix

#: Rows compared at a time in the all-pairs domination matrix (bounds memory to ~chunk*n*m).
_CHUNK = 256


def _as_points(points: np.ndarray | Sequence[Sequence[float]], name: str = "points"
               ) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim == 1 and array.size == 0:
        return array.reshape(0, 0)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, m) (one row per point, one column per "
                         f"objective), got shape {array.shape}.")
    return array


def non_dominated_ranks(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Front index (0 = Pareto front) of each row of `points`, shape (n,), all maximised.

    Row a dominates row b when a >= b everywhere and a > b somewhere; equal rows share a
    front. Rows with a NaN are ranked one after the last front of the finite rows.
    """
    points = _as_points(points)
    n = len(points)
    ranks = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ranks
    finite = _finite_rows(points)
    index = np.flatnonzero(finite)
    if index.size:
        sub = points[index]
        m = sub.shape[1]
        ranks[index] = (_ranks_1d(sub[:, 0]) if m == 1 else _ranks_2d(sub) if m == 2
                        else _ranks_general(sub))
    ranks[~finite] = ranks[index].max() + 1 if index.size else 0
    return ranks


def _ranks_1d(values: np.ndarray) -> np.ndarray:
    """One objective: a row is dominated exactly by the larger values, so its front is the
    dense rank of its value, largest first (O(n log n))."""
    unique, inverse = np.unique(values, return_inverse=True)
    return np.asarray(len(unique) - 1 - inverse.reshape(-1), dtype=np.int64)


def _ranks_general(points: np.ndarray) -> np.ndarray:
    """Deb's fast non-dominated sort: one domination matrix, then peel the fronts."""
    n = len(points)
    dominates = np.zeros((n, n), dtype=bool)  # dominates[i, j]: row i dominates row j
    for start in range(0, n, _CHUNK):
        block = points[start:start + _CHUNK, None, :]
        geq = (block >= points[None, :, :]).all(axis=2)
        gt = (block > points[None, :, :]).any(axis=2)
        dominates[start:start + _CHUNK] = geq & gt
    count = dominates.sum(axis=0)  # how many rows dominate each row
    ranks = np.empty(n, dtype=np.int64)
    front = np.flatnonzero(count == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        count[front] = -1
        count -= dominates[front].sum(axis=0)
        front = np.flatnonzero(count == 0)
        rank += 1
    return ranks


def _ranks_2d(points: np.ndarray) -> np.ndarray:
    """O(n log n) ranks for two objectives.

    Distinct points are visited by x descending (then y descending), so every point that
    dominates the current one was visited before it. `best_y[k]` is the highest y seen in
    front k; it does not increase with k, and the current point is dominated by front k
    exactly when best_y[k] >= its y. Its rank is the first front that does not dominate it.
    """
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    order = np.lexsort((-unique[:, 1], -unique[:, 0]))
    neg_best: list[float] = []  # -best_y[k], non-decreasing in k (for bisect)
    unique_ranks = np.empty(len(unique), dtype=np.int64)
    for i in order.tolist():
        neg_y = -float(unique[i, 1])
        rank = bisect.bisect_right(neg_best, neg_y)
        if rank == len(neg_best):
            neg_best.append(neg_y)
        else:
            neg_best[rank] = neg_y
        unique_ranks[i] = rank
    return unique_ranks[inverse.reshape(-1)]


def _finite_rows(points: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows without NaN (a failed trial has no metrics)."""
    return np.asarray(~np.isnan(points).any(axis=1))


def non_dominated_mask(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Boolean (n,): the rows without NaN that no other such row dominates, all maximised.

    The same rows as ``non_dominated_ranks(points) == 0`` minus the rows with a NaN (never
    on the front). One objective: the rows at the best value, O(n). Two: one sort and a
    running maximum, O(n log n). More: all pairs compared in chunks of rows. Memory O(n)
    for one or two objectives.
    """
    points = _as_points(points)
    mask = np.zeros(len(points), dtype=bool)
    if len(points) == 0:
        return mask
    index = np.flatnonzero(_finite_rows(points))
    if not index.size:
        return mask
    sub = points[index]
    m = sub.shape[1]
    if m == 1:
        keep = sub[:, 0] == sub[:, 0].max()
    elif m == 2:
        keep = _front_2d(sub)
    else:
        keep = _front_general(sub)
    mask[index[keep]] = True
    return mask


def _front_2d(points: np.ndarray) -> np.ndarray:
    """Non-dominated rows of finite-or-infinite two-column points, O(n log n).

    Rows sorted by x descending, then y descending; a row is dominated exactly when a row of
    its x has a larger y (its group's first y is larger) or a row of a larger x has a y at
    least as large (the running maximum of y before its group reaches it).
    """
    n = len(points)
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    xs, ys = points[order, 0], points[order, 1]
    starts = np.ones(n, dtype=bool)
    starts[1:] = xs[1:] != xs[:-1]
    group = np.maximum.accumulate(np.where(starts, np.arange(n), 0))  # first row of its x
    before = np.maximum.accumulate(ys)[np.maximum(group - 1, 0)]  # best y of larger x
    keep = (ys == ys[group]) & ((group == 0) | (ys > before))
    result = np.empty(n, dtype=bool)
    result[order] = keep
    return result


def _front_general(points: np.ndarray) -> np.ndarray:
    """Non-dominated rows by comparing every pair, _CHUNK candidate rows at a time."""
    n = len(points)
    keep = np.empty(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = points[start:start + _CHUNK, None, :]
        geq = np.all(points[None, :, :] >= block, axis=2)  # [i, j]: row j >= candidate i
        gt = np.any(points[None, :, :] > block, axis=2)
        keep[start:start + _CHUNK] = ~np.any(geq & gt, axis=1)
    return keep


def pareto_front(metrics: Sequence[Mapping[str, float]],
                 objectives: Sequence[Objective]) -> list[int]:
    """Indices of the non-dominated entries of `metrics` under `objectives` (NaN ones never),
    ascending. O(n) for one objective, O(n log n) for two (see `non_dominated_mask`)."""
    if not metrics:
        return []
    points = np.array(objective_matrix(metrics, objectives), dtype=np.float64)
    return [int(i) for i in np.flatnonzero(non_dominated_mask(points))]


def crowding_distance(points: np.ndarray | Sequence[Sequence[float]],
                      ranks: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II crowding distance of each row within its front, shape (n,).

    For each objective, a front's distinct points are sorted; an interior point adds the gap
    between its two neighbours divided by the front's range in that objective. Points at the
    front's minimum or maximum of an objective get inf (so do all points of a front with
    one or two distinct points); an objective constant over the front adds nothing.
    Duplicate rows get the distance of their shared value, so the result does not depend on
    the row order. Rows with a NaN get 0. `ranks` defaults to `non_dominated_ranks(points)`.
    """
    points = _as_points(points)
    n = len(points)
    distance = np.zeros(n, dtype=np.float64)
    if n == 0:
        return distance
    ranks = non_dominated_ranks(points) if ranks is None else np.asarray(ranks)
    finite = _finite_rows(points)
    for rank in np.unique(ranks[finite]):
        members = np.flatnonzero((ranks == rank) & finite)
        unique, inverse = np.unique(points[members], axis=0, return_inverse=True)
        distance[members] = _front_crowding(unique)[inverse.reshape(-1)]
    return distance


def _front_crowding(front: np.ndarray) -> np.ndarray:
    """Crowding distance of distinct points (one front), shape (k,)."""
    k, m = front.shape
    if k <= 2:
        return np.full(k, np.inf)
    distance = np.zeros(k, dtype=np.float64)
    for j in range(m):
        values = front[:, j]
        low, high = values.min(), values.max()
        if high == low:
            continue
        order = np.lexsort((*front.T[::-1], values))  # ties broken by the other columns
        gaps = np.empty(k, dtype=np.float64)
        gaps[order[1:-1]] = (values[order[2:]] - values[order[:-2]]) / (high - low)
        gaps[(values == low) | (values == high)] = np.inf
        distance += gaps
    return distance


def crowded_order(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Row indices best first by NSGA-II's crowded comparison: lower front, then larger
    crowding distance, then lower index. Shape (n,)."""
    points = _as_points(points)
    ranks = non_dominated_ranks(points)
    crowding = crowding_distance(points, ranks)
    return np.lexsort((np.arange(len(points)), -crowding, ranks))


def hypervolume(points: np.ndarray | Sequence[Sequence[float]],
                reference: np.ndarray | Sequence[float]) -> float:
    """Exact volume of the union of the boxes [reference, p] over the rows p of `points`.

    All objectives are maximised, so a point counts when it is above `reference` in every
    objective; other points, dominated points and duplicates add nothing. Rows with a NaN
    are ignored. Exact for 1, 2 (O(n log n)) and 3 objectives (O(n log n) slicing with an
    incremental staircase, O(n^2) at worst); more objectives raise ValueError.
    """
    reference = np.asarray(reference, dtype=np.float64).reshape(-1)
    m = reference.size
    if m == 0 or np.isnan(reference).any():
        raise ValueError(f"hypervolume needs a finite reference point with one value per "
                         f"objective, got {reference.tolist()}.")
    points = _as_points(points)
    if points.size == 0:
        return 0.0
    if points.shape[1] != m:
        raise ValueError(f"points have {points.shape[1]} objectives but the reference point "
                         f"has {m}; give one reference value per objective.")
    if m > 3:
        raise ValueError(f"hypervolume is exact for 1 to 3 objectives, got {m}; compute it on "
                         "at most 3 objective columns, or compare fronts with "
                         "non_dominated_ranks.")
    with np.errstate(invalid="ignore"):
        above = (points > reference).all(axis=1)  # NaN compares False
    shifted = points[above] - reference  # the reference moves to the origin
    if len(shifted) == 0:
        return 0.0
    if m == 1:
        return float(shifted.max())
    if m == 2:
        return _hv2d(shifted)
    return _hv3d(shifted)


def _hv2d(points: np.ndarray) -> float:
    """Area dominated by positive points (origin reference): sweep x descending."""
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    below = np.concatenate(([0.0], np.maximum.accumulate(y)[:-1]))  # best y of larger x
    return float(np.sum(x * np.maximum(y - below, 0.0)))


def _hv3d(points: np.ndarray) -> float:
    """Volume dominated by positive points (origin reference).

    Points are added by z descending to a 2-D staircase (x increasing, y decreasing) whose
    area is updated incrementally; between two consecutive z values the cross-section is
    that staircase's area.
    """
    order = np.lexsort((-points[:, 1], -points[:, 0], -points[:, 2]))
    xs: list[float] = []
    ys: list[float] = []
    area = volume = 0.0
    z = points[order, 2].tolist()
    z.append(0.0)
    for i, (px, py) in enumerate(points[order, :2].tolist()):
        area += _insert(xs, ys, px, py)
        volume += area * (z[i] - z[i + 1])
    return volume


def _insert(xs: list[float], ys: list[float], px: float, py: float) -> float:
    """Insert (px, py) into the staircase (xs increasing, ys decreasing); return the area
    gained. The area is sum_i (xs[i] - xs[i-1]) * ys[i] with xs[-1] = 0."""
    hi = bisect.bisect_left(xs, px)
    if hi < len(xs) and ys[hi] >= py:
        return 0.0  # weakly dominated by the point at hi
    if hi < len(xs) and xs[hi] == px:
        hi += 1  # same x, lower y: dominated by the new point
    lo = hi
    while lo > 0 and ys[lo - 1] <= py:
        lo -= 1  # smaller x and y: dominated by the new point
    left = xs[lo - 1] if lo > 0 else 0.0
    old = sum((xs[j] - (xs[j - 1] if j > 0 else 0.0)) * ys[j] for j in range(lo, hi))
    new = (px - left) * py
    if hi < len(xs):
        old += (xs[hi] - (xs[hi - 1] if hi > 0 else 0.0)) * ys[hi]
        new += (xs[hi] - px) * ys[hi]
    xs[lo:hi] = [px]
    ys[lo:hi] = [py]
    return new - old
