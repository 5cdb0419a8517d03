"""The Store contract of `best_trials` (the SQL aggregate behind `nasforge list`), on every
backend in conftest.py: the same trials `nasforge.best.best_trial` picks from every trial."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import OBJECTIVES, arch

from nasforge.best import best_trial
from nasforge.errors import SearchNotFoundError
from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialState
from nasforge.store import SQLStore

R, C, F = TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAILED
NAN, INF = math.nan, math.inf


def record(store: SQLStore, search: str, rows: list[tuple[TrialState, dict[str, float]]]
           ) -> None:
    start = len(store.trials(search))
    added = store.add_trials(search, [arch(start + i) for i in range(len(rows))], R)
    for trial, (state, metrics) in zip(added, rows, strict=True):
        store.finish(search, trial.number,
                     EvalResult(state, metrics, error=None if state is C else "boom"))


def expected(store: SQLStore, search: str) -> dict[str, tuple[int, float]]:
    objectives = store.get_search(search).objectives
    picked = {str(o): best_trial(store.trials(search), o, objectives) for o in objectives}
    return {k: (t.number, t.metrics[k.split(":")[0]]) for k, t in picked.items() if t}


def got(store: SQLStore, search: str) -> dict[str, tuple[int, float]]:
    objectives = store.get_search(search).objectives
    best = store.best_trials(search)
    return {str(o): (best[str(o)].number, best[str(o)].metrics[o.metric])
            for o in objectives if str(o) in best}


def test_best_per_direction_skips_nan_inf_and_unfinished(store: SQLStore, search: str) -> None:
    assert store.best_trials(search) == {}
    record(store, search, [
        (C, {"accuracy": 0.5, "params": 300.0}),
        (F, {"accuracy": 0.99, "params": 1.0}),          # not COMPLETE
        (C, {"accuracy": INF, "params": -INF}),          # not finite
        (C, {"accuracy": NAN, "params": NAN}),
        (C, {"accuracy": 0.7, "params": 200.0}),
        (C, {"params": 100.0}),                           # no accuracy
    ])
    store.add_trials(search, [arch(99)], R)               # RUNNING, no metrics
    best = store.best_trials(search)
    assert list(best) == ["accuracy:max", "params:min"]
    assert (best["accuracy:max"].number, best["params:min"].number) == (4, 5)
    assert best["accuracy:max"].state is C and best["accuracy:max"].curve == ()
    assert got(store, search) == expected(store, search)


def test_ties_broken_by_the_other_objectives_then_the_lowest_number(store: SQLStore,
                                                                    search: str) -> None:
    record(store, search, [
        (C, {"accuracy": 0.9, "params": NAN}),
        (C, {"accuracy": 0.9, "params": 500.0}),
        (C, {"accuracy": 0.9, "params": 400.0}),
        (C, {"accuracy": 0.9, "params": 400.0}),
        (C, {"accuracy": 0.8, "params": 400.0}),
    ])
    best = store.best_trials(search)
    assert best["accuracy:max"].number == 2 and best["params:min"].number == 2
    assert got(store, search) == expected(store, search)


def test_objectives_without_a_finite_value_are_left_out(store: SQLStore) -> None:
    store.create_search("one", [Objective("loss", "min"), Objective("latency_ms", "min")], 9, {})
    record(store, "one", [(C, {"loss": 0.3, "latency_ms": NAN}), (F, {"latency_ms": 2.0})])
    assert list(store.best_trials("one")) == ["loss:min"]


def test_unknown_search(store: SQLStore, search: str) -> None:
    with pytest.raises(SearchNotFoundError):
        store.best_trials("nope")


value = st.one_of(st.sampled_from([0.0, 1.0, 2.0, NAN, INF, -INF]), st.floats(-3, 3))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from([C, C, F]),
                               st.dictionaries(st.sampled_from(["accuracy", "params"]), value)),
                     max_size=8))
def test_same_as_best_trial_over_every_trial(store: SQLStore,
                                             rows: list[tuple[TrialState, dict[str, float]]]
                                             ) -> None:
    name = f"h{len(store.list_searches())}"
    store.create_search(name, OBJECTIVES, 100, {})
    record(store, name, rows)
    assert got(store, name) == expected(store, name)
