"""Pareto utilities against hand-computed cases, brute force and grid counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.objectives import parse_objectives
from nasforge.strategies.pareto import (
    _ranks_general,
    crowded_order,
    crowding_distance,
    hypervolume,
    non_dominated_mask,
    non_dominated_ranks,
    pareto_front,
)

INF = float("inf")


# ---------------------------------------------------------------- non-dominated ranks
def brute_force_ranks(points: np.ndarray) -> list[int]:
    """Peel fronts by the definition: a row is in the front if no remaining row dominates it."""
    finite = [i for i in range(len(points)) if not np.isnan(points[i]).any()]
    ranks = [-1] * len(points)
    remaining, rank = set(finite), 0
    while remaining:
        front = {i for i in remaining
                 if not any((points[j] >= points[i]).all() and (points[j] > points[i]).any()
                            for j in remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return [rank if r == -1 else r for r in ranks]


def small_points(max_m: int = 4) -> st.SearchStrategy[np.ndarray]:
    """Small integer grids: many ties, duplicates and dominated rows; some NaN rows."""
    return st.integers(1, max_m).flatmap(lambda m: st.lists(
        st.lists(st.one_of(st.integers(0, 4).map(float), st.just(float("nan")) if m > 1
                           else st.integers(0, 4).map(float)), min_size=m, max_size=m),
        min_size=0, max_size=25)).map(lambda rows: np.array(rows, dtype=np.float64).reshape(
            len(rows), -1) if rows else np.zeros((0, 2)))


@settings(max_examples=300, deadline=None)
@given(small_points())
def test_ranks_match_brute_force(points):
    assert non_dominated_ranks(points).tolist() == brute_force_ranks(points)


def test_two_objective_sweep_matches_the_general_sort_on_a_large_population():
    rng = np.random.default_rng(0)
    points = np.round(rng.normal(size=(2000, 2)), 1)  # rounding makes ties and duplicates
    assert np.array_equal(non_dominated_ranks(points), _ranks_general(points))
    assert non_dominated_ranks(points).max() > 10


def test_ranks_by_hand_and_edge_cases():
    points = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0], [np.nan, 5.0], [1.0, 1.0]])
    assert non_dominated_ranks(points).tolist() == [0, 1, 0, 2, 0]  # equal rows share a front
    assert non_dominated_ranks(np.zeros((0, 3))).tolist() == []
    assert non_dominated_ranks(np.full((2, 2), np.nan)).tolist() == [0, 0]
    with pytest.raises(ValueError, match="shape"):
        non_dominated_ranks(np.zeros((2, 2, 2)))


def test_pareto_front_with_directions():
    objectives = parse_objectives(["accuracy:max", "params:min"])
    metrics = [{"accuracy": 0.9, "params": 100}, {"accuracy": 0.95, "params": 200},
               {"accuracy": 0.8, "params": 300}, {"accuracy": 0.95, "params": 150},
               {"params": 1}]
    assert pareto_front(metrics, objectives) == [0, 3]  # 1 and 2 dominated, 4 lacks accuracy

# ---------------------------------------------------------------- fast fronts (issue 19)
def brute_force_front(points: np.ndarray) -> list[int]:
    """Rows without NaN that no other such row dominates, by the definition."""
    finite = [i for i in range(len(points)) if not np.isnan(points[i]).any()]
    return [i for i in finite
            if not any((points[j] >= points[i]).all() and (points[j] > points[i]).any()
                       for j in finite)]


#: Few distinct values (ties, duplicates), infinities of both signs, a signed zero and NaN.
EDGE_VALUES = st.sampled_from([0.0, -0.0, 1.0, 2.0, 3.0, INF, -INF, float("nan")])


def edge_points(max_m: int = 4) -> st.SearchStrategy[np.ndarray]:
    return st.tuples(st.integers(1, max_m), st.integers(0, 30)).flatmap(
        lambda shape: st.lists(EDGE_VALUES, min_size=shape[0] * shape[1],
                               max_size=shape[0] * shape[1]).map(
            lambda values: np.array(values, dtype=np.float64).reshape(shape[1], shape[0])))


@settings(max_examples=400, deadline=None)
@given(edge_points())
def test_front_and_ranks_match_brute_force_with_ties_inf_and_nan(points):
    front = brute_force_front(points)
    assert np.flatnonzero(non_dominated_mask(points)).tolist() == front
    assert non_dominated_ranks(points).tolist() == brute_force_ranks(points)
    finite = ~np.isnan(points).any(axis=1)
    if finite.any():  # the path every shape took before: the general sort of finite rows
        assert np.flatnonzero(finite)[_ranks_general(points[finite]) == 0].tolist() == front


OPTIONAL = [0.0, 1.0, 2.0, INF, -INF, float("nan"), None]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3), st.lists(st.tuples(st.sampled_from(OPTIONAL),
                                             st.sampled_from(OPTIONAL),
                                             st.sampled_from([0.0, 1.0, INF, None])),
                                   max_size=30),
       st.sampled_from(["max", "min"]), st.sampled_from(["max", "min"]))
def test_pareto_front_matches_brute_force_for_one_to_three_objectives(m, rows, d0, d1):
    names = ["a", "b", "c"][:m]
    objectives = parse_objectives([f"a:{d0}", f"b:{d1}", "c:max"][:m])
    metrics = [{k: v for k, v in zip("abc", row, strict=True) if v is not None} for row in rows]
    signs = [1.0 if d == "max" else -1.0 for d in (d0, d1, "max")]
    points = np.array([[signs[j] * float(mm.get(name, float("nan")))
                        for j, name in enumerate(names)] for mm in metrics],
                      dtype=np.float64).reshape(len(metrics), m)
    assert pareto_front(metrics, objectives) == brute_force_front(points)


def test_fast_fronts_by_hand():
    one = parse_objectives(["loss:min"])
    metrics = [{"loss": 0.5}, {"loss": 0.2}, {}, {"loss": 0.2}, {"loss": float("nan")},
               {"loss": 0.3}]
    assert pareto_front(metrics, one) == [1, 3]  # every trial tied at the best value
    assert pareto_front([{"loss": INF}, {"loss": INF}, {}], one) == [0, 1]
    assert pareto_front([{"loss": -INF}, {"loss": 0.0}], one) == [0]
    assert pareto_front([{}, {"acc": 1.0}], one) == []
    assert non_dominated_ranks(np.array([[2.0], [np.nan], [1.0], [2.0], [-INF]])).tolist() \
        == [0, 3, 1, 0, 2]
    # two objectives: same x with a lower y is dominated, duplicates share the front
    points = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 2.0],
                       [-INF, INF], [INF, -INF], [INF, -INF], [np.nan, 9.0]])
    assert np.flatnonzero(non_dominated_mask(points)).tolist() == [0, 2, 3, 4, 5, 6, 7]
    assert not non_dominated_mask(np.full((3, 2), np.nan)).any()
    assert non_dominated_mask(np.zeros((0, 2))).tolist() == []
    assert non_dominated_mask(np.zeros((3, 0))).tolist() == [True] * 3  # no objectives


def test_fast_fronts_match_the_general_sort_on_a_large_population():
    rng = np.random.default_rng(1)
    for m in (1, 2, 3):
        points = np.round(rng.normal(size=(1500, m)), 1)
        points[rng.random(1500) < 0.05, 0] = np.nan
        finite = ~np.isnan(points).any(axis=1)
        expected = np.flatnonzero(finite)[_ranks_general(points[finite]) == 0]
        assert np.array_equal(np.flatnonzero(non_dominated_mask(points)), expected)
        ranks = np.full(len(points), -1)
        ranks[finite] = _ranks_general(points[finite])
        ranks[~finite] = ranks.max() + 1
        assert np.array_equal(non_dominated_ranks(points), ranks)



# ---------------------------------------------------------------- crowding distance
def test_crowding_distance_by_hand():
    # One front of 5 points; both objectives range over 10.
    # x sorted 0, 1, 3, 6, 10 and y sorted 0, 2, 4, 7, 10:
    #   (1, 7): x (3 - 0)/10 = 0.3, y (10 - 4)/10 = 0.6 -> 0.9
    #   (3, 4): x (6 - 1)/10 = 0.5, y (7 - 2)/10 = 0.5 -> 1.0
    #   (6, 2): x (10 - 3)/10 = 0.7, y (4 - 0)/10 = 0.4 -> 1.1
    #   (0, 10) and (10, 0) are boundary points -> inf
    points = np.array([[0, 10], [1, 7], [3, 4], [6, 2], [10, 0]], dtype=float)
    np.testing.assert_allclose(crowding_distance(points), [INF, 0.9, 1.0, 1.1, INF])


def test_crowding_is_per_front_with_duplicates_nan_and_small_fronts():
    points = np.array([
        [0, 10], [0, 10], [5, 5], [10, 0],  # front 0; (0, 10) twice
        [1, 1], [2, 0],                     # front 1: two points
        [0, 0],                             # front 2: one point
        [np.nan, 3],                        # NaN row
    ], dtype=float)
    # front 0 has 3 distinct points; (5, 5): x (10 - 0)/10 + y (10 - 0)/10 = 2;
    # both copies of (0, 10) share the boundary distance inf.
    expected = [INF, INF, 2.0, INF, INF, INF, INF, 0.0]
    np.testing.assert_allclose(crowding_distance(points), expected)
    assert crowding_distance(np.zeros((0, 2))).tolist() == []


def test_crowding_skips_an_objective_constant_over_the_front():
    # Third objective constant: only x and y count. x and y range over 4:
    #   (1, 3, 7): x (2 - 0)/4 = 0.5, y (4 - 2)/4 = 0.5 -> 1.0
    #   (2, 2, 7): x (4 - 1)/4 = 0.75, y (3 - 0)/4 = 0.75 -> 1.5
    points = np.array([[0, 4, 7], [1, 3, 7], [2, 2, 7], [4, 0, 7]], dtype=float)
    np.testing.assert_allclose(crowding_distance(points), [INF, 1.0, 1.5, INF])


def test_crowding_does_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    points = rng.integers(0, 6, size=(40, 3)).astype(float)
    perm = rng.permutation(40)
    np.testing.assert_array_equal(crowding_distance(points)[perm], crowding_distance(points[perm]))


def test_crowded_order_prefers_lower_fronts_then_less_crowded_points():
    points = np.array([[0, 0], [0, 10], [1, 7], [3, 4], [6, 2], [10, 0]], dtype=float)
    # front 0 = rows 1..5 (boundaries 1 and 5 first, then 4 (1.1), 3 (1.0), 2 (0.9)); row 0 last
    assert crowded_order(points).tolist() == [1, 5, 4, 3, 2, 0]


# ---------------------------------------------------------------- hypervolume
def test_hypervolume_2d_staircase_by_hand():
    # Boxes [0,3]x[0,1], [0,2]x[0,2], [0,1]x[0,3]: sweep x descending,
    # 3 * 1 + 2 * (2 - 1) + 1 * (3 - 2) = 6.
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [0, 0]) == pytest.approx(6.0)
    # Reference (0.5, 0.5): 2.5 * 0.5 + 1.5 * 1 + 0.5 * 1 = 3.25.
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [0.5, 0.5]) == pytest.approx(3.25)
    # A dominated point (1, 1), a duplicate (2, 2) and points not above the reference
    # ((5, 0) has zero height, (-1, 9) is left of it) add nothing.
    points = [[1, 3], [2, 2], [3, 1], [1, 1], [2, 2], [5, 0], [-1, 9]]
    assert hypervolume(points, [0, 0]) == pytest.approx(6.0)


def test_hypervolume_3d_union_of_boxes_by_hand():
    # Boxes [0,3]x[0,2]x[0,1], [0,1]x[0,3]x[0,2], [0,2]x[0,1]x[0,3], each of volume 6.
    # Pairwise intersections: min corners (1,2,1), (2,1,1), (1,1,2): volume 2 each;
    # triple intersection (1,1,1): volume 1. Inclusion-exclusion: 18 - 6 + 1 = 13.
    boxes = [[3, 2, 1], [1, 3, 2], [2, 1, 3]]
    assert hypervolume(boxes, [0, 0, 0]) == pytest.approx(13.0)
    # (1,1,1) is dominated, (3,2,1) repeated, (4,4,0) flat on the reference, (9,-1,9) below it.
    noisy = [*boxes, [1, 1, 1], [3, 2, 1], [4, 4, 0], [9, -1, 9]]
    assert hypervolume(noisy, [0, 0, 0]) == pytest.approx(13.0)
    # Boxes (2,1,1), (1,2,1), (1,1,2): 3 * 2 - 3 * 1 + 1 = 4.
    assert hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], [0, 0, 0]) == pytest.approx(4.0)
    # Reference (1,1,1): only (3,2,2) reaches above it: 2 * 1 * 1 = 2.
    assert hypervolume([[3, 2, 2], [2, 1, 5]], [1, 1, 1]) == pytest.approx(2.0)


def test_hypervolume_edge_cases():
    assert hypervolume([[3.0], [5.0], [1.0]], [2.0]) == 5.0 - 2.0
    assert hypervolume([], [0, 0]) == 0.0
    assert hypervolume(np.zeros((0, 3)), [0, 0, 0]) == 0.0
    assert hypervolume([[-1.0, -1.0]], [0, 0]) == 0.0
    assert hypervolume([[np.nan, 5.0], [1.0, 1.0]], [0, 0]) == 1.0  # NaN rows are ignored
    with pytest.raises(ValueError, match="1 to 3 objectives"):
        hypervolume(np.ones((2, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="one reference value per objective"):
        hypervolume(np.ones((2, 3)), [0, 0])
    with pytest.raises(ValueError, match="finite reference"):
        hypervolume([[1, 1]], [0, np.nan])


def grid_count(points: np.ndarray) -> int:
    """Unit cells [c, c+1]^m (integer c >= 0) below some point: the exact union volume of
    integer boxes [0, p], counted cell by cell."""
    if len(points) == 0:
        return 0
    m = points.shape[1]
    top = int(points.max())
    return sum(1 for c in itertools.product(range(top), repeat=m)
               if (points >= np.array(c) + 1).all(axis=1).any())


integer_sets = st.integers(1, 3).flatmap(lambda m: st.lists(
    st.lists(st.integers(-1, 5), min_size=m, max_size=m), min_size=0, max_size=12).map(
        lambda rows: np.array(rows, dtype=np.float64).reshape(len(rows), m)))


@settings(max_examples=200, deadline=None)
@given(integer_sets)
def test_hypervolume_equals_the_grid_count_of_integer_boxes(points):
    m = points.shape[1]
    assert hypervolume(points, np.zeros(m)) == pytest.approx(grid_count(points), abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 3), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_hypervolume_is_monotone_and_matches_monte_carlo(m, n, seed):
    rng = np.random.default_rng(seed)
    points = rng.random((n, m))
    reference = np.full(m, 0.1)
    volume = hypervolume(points, reference)
    extra = rng.random(m)
    assert hypervolume(np.vstack([points, extra]), reference) >= volume - 1e-12
    # Monte Carlo over [0.1, 1]^m: fraction of samples dominated by some point.
    samples = 0.1 + 0.9 * rng.random((4000, m))
    hit = (points[None, :, :] >= samples[:, None, :]).all(axis=2).any(axis=1) if n else \
        np.zeros(len(samples), dtype=bool)
    box = 0.9 ** m
    estimate = hit.mean() * box
    sigma = box * np.sqrt(max(hit.mean() * (1 - hit.mean()), 1e-4) / len(samples))
    assert abs(volume - estimate) <= 5 * sigma + 1e-12


def test_hypervolume_of_a_large_3d_front():
    # 3000 points on the unit sphere's positive octant; the front converges to pi / 6.
    rng = np.random.default_rng(2)
    points = np.abs(rng.normal(size=(3000, 3)))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    volume = hypervolume(points, [0, 0, 0])
    assert 0.49 < volume < np.pi / 6
