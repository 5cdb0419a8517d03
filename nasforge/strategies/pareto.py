"""Pareto utilities (pure numpy): non-dominated sorting over objectives with directions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nasforge.objectives import Objective, objective_matrix


def non_dominated_ranks(points: np.ndarray) -> np.ndarray:
    """Front index (0 = Pareto front) of each row of `points`, all objectives maximised.

    `points` has shape (n, m). Rows with a NaN are ranked after every finite row.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    ranks = np.full(n, -1, dtype=np.int64)
    finite = ~np.isnan(points).any(axis=1) if n else np.zeros(0, dtype=bool)
    remaining = np.flatnonzero(finite)
    rank = 0
    while remaining.size:
        sub = points[remaining]
        # row i is dominated if some j is >= everywhere and > somewhere
        geq = (sub[None, :, :] >= sub[:, None, :]).all(axis=2)
        gt = (sub[None, :, :] > sub[:, None, :]).any(axis=2)
        dominated = (geq & gt).any(axis=1)
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    ranks[~finite] = rank
    return ranks


def pareto_front(metrics: Sequence[Mapping[str, float]],
                 objectives: Sequence[Objective]) -> list[int]:
    """Indices of the non-dominated entries of `metrics` under `objectives`."""
    if not metrics:
        return []
    ranks = non_dominated_ranks(np.array(objective_matrix(metrics, objectives)))
    finite = ~np.isnan(np.array(objective_matrix(metrics, objectives))).any(axis=1)
    return [i for i in range(len(metrics)) if ranks[i] == 0 and finite[i]]
