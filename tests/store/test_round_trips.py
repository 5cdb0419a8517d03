"""Reads that serve every page and every resume make no extra round trips: the fingerprint
in one SELECT, one trial in three (the trial with its search, metrics, curve)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from store_helpers import arch

from nasforge.errors import SearchNotFoundError, StoreError
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.store import SQLStore


@contextmanager
def queries(store: SQLStore) -> Iterator[list[str]]:
    """The SELECT/INSERT/UPDATE statements the store sends inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().split()[0].upper() in ("SELECT", "INSERT", "UPDATE"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_the_fingerprint_is_one_select(store: SQLStore, search: str) -> None:
    store.set_data_fingerprint(search, {"version": 1})
    with queries(store) as seen:
        assert store.data_fingerprint(search) == {"version": 1}
    assert len(seen) == 1, seen
    with pytest.raises(SearchNotFoundError, match="nope"):
        store.data_fingerprint("nope")


def test_one_trial_is_three_selects(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0)], TrialState.RUNNING, worker="w")
    store.finish(search, 0, EvalResult(TrialState.COMPLETE, {"accuracy": 0.5, "params": 3.0},
                                       curve=(CurvePoint(0, {"loss": 1.0}),)), worker="w")
    with queries(store) as seen:
        trial = store.trial(search, 0)
    assert len(seen) == 3, seen
    assert trial.metrics == {"accuracy": 0.5, "params": 3.0} and len(trial.curve) == 1
    with pytest.raises(StoreError, match="no trial 7"):
        store.trial(search, 7)
    with pytest.raises(SearchNotFoundError, match="nope"):
        store.trial("nope", 0)
