"""`nasforge.best.non_dominated`: the front `nasforge show` prints, without numpy, marks the
points `strategies.pareto.non_dominated_mask` marks (NaN never, ties and infinities kept)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.best import non_dominated
from nasforge.strategies.pareto import non_dominated_mask


@pytest.mark.parametrize("width", [1, 2, 3])
def test_non_dominated_marks_what_the_numpy_front_marks(width: int) -> None:
    rng = np.random.default_rng(width)
    for _ in range(300):
        n = int(rng.integers(0, 30))
        points = rng.integers(0, 4, (n, width)).astype(float)  # few values: many ties
        points[rng.random((n, width)) < 0.1] = np.nan
        points[rng.random((n, width)) < 0.05] = np.inf
        points[rng.random((n, width)) < 0.05] = -np.inf
        expected = np.flatnonzero(non_dominated_mask(points)).tolist() if n else []
        columns = [points[:, j].tolist() for j in range(width)]
        assert non_dominated(columns) == expected, points


def test_non_dominated_by_hand() -> None:
    xs = [1.0, 2.0, 2.0, 3.0, math.nan, 0.0, 3.0]
    ys = [5.0, 4.0, 4.0, 1.0, 9.0, 5.0, 0.0]
    # 0 beats 5 (same y, larger x); 1 and 2 are equal (both kept); 6 loses to 3
    assert non_dominated([xs, ys]) == [0, 1, 2, 3]
    assert non_dominated([xs]) == [3, 6]
    assert non_dominated([[math.nan], [1.0]]) == []
    assert non_dominated([]) == []


@pytest.mark.parametrize("kind", ["ties", "trade-off", "uniform"])
def test_the_sifted_front_of_many_points_is_the_front(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    for _ in range(20):
        n = int(rng.integers(300, 3000))  # above 8 * STRIDE: the sample's staircase sifts
        if kind == "ties":
            points = rng.integers(0, int(rng.integers(2, 40)), (n, 2)).astype(float)
        else:
            points = rng.random((n, 2))
            if kind == "trade-off":
                points[:, 1] = -points[:, 0] + 0.05 * rng.random(n)
        points[rng.random((n, 2)) < 0.03] = np.nan
        points[rng.random((n, 2)) < 0.01] = np.inf
        points[rng.random((n, 2)) < 0.01] = -np.inf
        expected = np.flatnonzero(non_dominated_mask(points)).tolist()
        assert non_dominated([points[:, 0].tolist(), points[:, 1].tolist()]) == expected
