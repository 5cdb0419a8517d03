"""The Store contract of `metric_values` and `worker_counts` (what `nasforge show` reads
instead of every trial), on every backend in conftest.py: the same answers as computed from
`trials()`."""

from __future__ import annotations

import math

import pytest
from store_helpers import arch

from nasforge.errors import SearchNotFoundError
from nasforge.records import EvalResult, TrialState
from nasforge.store import SQLStore
from nasforge.ui.report import worker_counts

C, F = TrialState.COMPLETE, TrialState.FAILED


def fill(store: SQLStore, search: str) -> None:
    """COMPLETE trials with some metrics missing or NaN, a FAILED one with metrics, one
    RUNNING, one re-queued (WAITING), over three workers and one without a worker."""
    rows = [("a", C, {"accuracy": 0.5, "params": 10.0, "other": 1.0}),
            ("a", C, {"accuracy": math.nan, "params": 5.0}),
            ("b", C, {"params": 7.0}),
            ("b", F, {"accuracy": 0.9}),
            (None, C, {"accuracy": -math.inf, "params": math.inf})]
    for i, (worker, state, metrics) in enumerate(rows):
        (trial,) = store.add_trials(search, [arch(i)], TrialState.RUNNING, worker=worker)
        store.finish(search, trial.number,
                     EvalResult(state, metrics, error=None if state is C else "boom"))
    store.add_trials(search, [arch(10)], TrialState.RUNNING, worker="c")
    (held,) = store.add_trials(search, [arch(11)], TrialState.RUNNING, worker="d")
    store.requeue(search, [held.number])


def test_metric_values_are_those_of_the_complete_trials(store: SQLStore, search: str) -> None:
    fill(store, search)
    numbers, values = store.metric_values(search, ["params", "accuracy"])
    complete = store.trials(search, [C])
    assert numbers == [t.number for t in complete] == [0, 1, 2, 4]
    assert list(values) == ["params", "accuracy"]
    for metric, column in values.items():
        want = [t.metrics.get(metric, math.nan) for t in complete]
        assert len(column) == len(want)
        assert all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(
            column, want, strict=True)), (metric, column, want)
    assert store.metric_values(search, []) == (numbers, {})


def test_metric_values_of_a_search_without_complete_trials(store: SQLStore,
                                                           search: str) -> None:
    assert store.metric_values(search, ["accuracy"]) == ([], {"accuracy": []})


def test_worker_counts_match_the_trials(store: SQLStore, search: str) -> None:
    fill(store, search)
    assert store.worker_counts(search) == worker_counts(store.trials(search))
    assert store.worker_counts(search) == {"a": {"finished": 2, "running": 0},
                                           "b": {"finished": 2, "running": 0},
                                           "c": {"finished": 0, "running": 1}}


def test_unknown_search_is_named(store: SQLStore, search: str) -> None:
    for call in (lambda: store.metric_values("nope", ["accuracy"]),
                 lambda: store.worker_counts("nope")):
        with pytest.raises(SearchNotFoundError, match="nope"):
            call()
