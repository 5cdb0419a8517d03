from __future__ import annotations

import numpy as np

from nasforge.objectives import parse_objectives
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.params import Choice, IntRange
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies import make_strategy
from nasforge.strategies.pareto import non_dominated_ranks, pareto_front

OBJ = parse_objectives(["accuracy:max"])


def tiny_space() -> SearchSpace:
    return SearchSpace({"a": Choice(("x", "y", "z")), "b": IntRange(1, 4)})  # 12 archs


def test_random_is_seeded_and_respects_the_space():
    space = tiny_space()
    one = make_strategy("random", space, OBJ, seed=3).ask(5)
    two = make_strategy("random", space, OBJ, seed=3).ask(5)
    assert one == two
    assert all(space.validate(a) == a for a in one)
    assert make_strategy("random", space, OBJ, seed=4).ask(5) != one


def test_random_never_repeats_and_stops_when_exhausted():
    space = tiny_space()
    strategy = make_strategy("random", space, OBJ, seed=0)
    seen = [a for _ in range(10) for a in strategy.ask(2)]
    assert len(seen) == 12 == len({a.arch_id for a in seen})
    assert strategy.ask(3) == []


def test_replayed_history_is_never_proposed_again_and_resume_reproduces_the_run():
    space = SearchSpace({"a": IntRange(0, 999)})
    full = make_strategy("random", space, OBJ, seed=1).ask(30)
    first = make_strategy("random", space, OBJ, seed=1).ask(10)
    history = [TrialRecord("s", i, a, TrialState.COMPLETE, {"accuracy": 0.5})
               for i, a in enumerate(first)]
    resumed = make_strategy("random", space, OBJ, seed=1)
    resumed.tell(history)
    rest = resumed.ask(20)
    assert not {a.arch_id for a in rest} & {a.arch_id for a in first}
    assert first + rest == full


def test_pareto_front_with_directions_and_nan():
    objectives = parse_objectives(["accuracy:max", "params:min"])
    metrics = [{"accuracy": 0.9, "params": 100}, {"accuracy": 0.95, "params": 200},
               {"accuracy": 0.8, "params": 300}, {"accuracy": 0.95, "params": 150},
               {"accuracy": float("nan"), "params": 1}, {"accuracy": 0.9, "params": 100}]
    assert pareto_front(metrics, objectives) == [0, 3, 5]  # ties are both non-dominated
    ranks = non_dominated_ranks(np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0], [np.nan, 5]]))
    assert ranks.tolist() == [0, 1, 0, 2]
    assert pareto_front([], objectives) == []
