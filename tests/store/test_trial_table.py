"""`Store.trial_table`: the columnar read agrees with `Store.trials` (without curves) column
for column, on every backend, with `numbers=` and `after=`, for every state, NaN and infinite
metrics, errors, an empty search and an unknown one."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from store_helpers import OBJECTIVES, arch

from nasforge.errors import SearchNotFoundError
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.store import SQLStore
from nasforge.store.trial_table import TIME_FORMAT, TrialTable, concat_tables, table_of_records


def _comparable(table: TrialTable) -> dict[str, tuple[object, ...]]:
    """The table's columns with NaN as a marker (NaN never equals itself)."""
    return {"number": table.number, "state": table.state, "error": table.error,
            "arch_json": table.arch_json, "started_at": table.started_at,
            "finished_at": table.finished_at, "metric_number": table.metric_number,
            "metric_name": table.metric_name,
            "metric_value": tuple("NaN" if math.isnan(v) else v for v in table.metric_value),
            "arch_id": table.arch_id, "worker": table.worker}


def _expected(store: SQLStore, name: str, **kwargs: object) -> dict[str, tuple[object, ...]]:
    return _comparable(table_of_records(store.trials(name, **kwargs)))  # type: ignore[arg-type]


@pytest.fixture
def filled(store: SQLStore, search: str) -> str:
    """Trials 0-9 in every state: COMPLETE with odd metrics, FAILED, PRUNED, RUNNING, WAITING."""
    store.add_trials(search, [arch(i) for i in range(8)], TrialState.RUNNING, worker="w1")
    store.finish(search, 0, EvalResult(TrialState.COMPLETE, {"accuracy": 0.9, "params": 1e4},
                                       curve=(CurvePoint(0, {"loss": 1.0}),)))
    store.finish(search, 1, EvalResult(TrialState.COMPLETE, {
        "accuracy": math.nan, "params": math.inf, "latency_ms": -math.inf}))
    store.finish(search, 2, EvalResult(TrialState.FAILED, error="diverged (NaN loss)"))
    store.finish(search, 3, EvalResult(TrialState.PRUNED, {"accuracy": 0.1},
                                       error="pruned at epoch 2"))
    store.finish(search, 4, EvalResult(TrialState.COMPLETE, {
        "inherited_accuracy": 0.5, "Zeta": 2.0, "accuracy": 0.7, "_x": 1.0}))
    store.add_trials(search, [arch(i) for i in range(8, 10)])  # WAITING
    return search


def test_agrees_with_trials_column_for_column(store: SQLStore, filled: str) -> None:
    table = store.trial_table(filled)
    assert _comparable(table) == _expected(store, filled)
    assert len(table) == 10 and table.number == tuple(range(10))
    assert set(table.state) == {s.value for s in TrialState}
    assert table.error[2] == "diverged (NaN loss)" and table.error[0] is None
    assert table.worker[0] == "w1" and table.worker[8] is None
    assert table.arch_id[3] == arch(3).arch_id
    assert table.started_at[8] is None and table.finished_at[5] is None  # WAITING, RUNNING
    started = datetime.strptime(table.started_at[0] or "", TIME_FORMAT)
    assert started.replace(tzinfo=timezone.utc) == store.trial(filled, 0).started_at
    by_name = {m: v for n, m, v in zip(table.metric_number, table.metric_name,
                                        table.metric_value, strict=True) if n == 1}
    assert math.isnan(by_name["accuracy"])
    assert by_name["params"] == math.inf and by_name["latency_ms"] == -math.inf
    assert [m for n, m in zip(table.metric_number, table.metric_name, strict=True)
            if n == 4] == ["Zeta", "_x", "accuracy", "inherited_accuracy"]  # code-point order


def test_numbers_and_after_pick_the_trials_trials_picks(store: SQLStore, filled: str) -> None:
    for kwargs in ({"numbers": [7, 1, 4, 1]}, {"numbers": [99]}, {"numbers": []},
                   {"after": 3}, {"after": -1}, {"after": 9},
                   {"numbers": [0, 4, 8], "after": 2}):
        assert _comparable(store.trial_table(filled, **kwargs)) == _expected(  # type: ignore[arg-type]
            store, filled, **kwargs), kwargs
    assert store.trial_table(filled, numbers=range(3)).number == (0, 1, 2)


def test_pages_of_limit_trials_read_the_whole_table(store: SQLStore, filled: str) -> None:
    whole = store.trial_table(filled)
    for size in (1, 3, 4, 10, 50):
        pages, last = [], -1
        while len(page := store.trial_table(filled, after=last, limit=size)):
            assert len(page) <= size
            pages.append(page)
            last = page.number[-1]
        assert _comparable(concat_tables(pages)) == _comparable(whole), size
    assert _comparable(store.trial_table(filled, numbers=[1, 4, 7], limit=2)) == _expected(
        store, filled, numbers=[1, 4])
    assert store.trial_table(filled, limit=0) == TrialTable()


def test_an_empty_search_gives_an_empty_table(store: SQLStore, search: str) -> None:
    table = store.trial_table(search)
    assert len(table) == 0 and table == TrialTable()
    assert store.trial_table(search, after=5) == TrialTable()


def test_an_unknown_search_raises_as_trials_does(store: SQLStore, search: str) -> None:
    with pytest.raises(SearchNotFoundError, match="'nope'") as err:
        store.trial_table("nope")
    with pytest.raises(SearchNotFoundError) as expected:
        store.trials("nope")
    assert str(err.value) == str(expected.value)
    with pytest.raises(SearchNotFoundError):
        store.trial_table("nope", numbers=[])


def test_searches_are_kept_apart(store: SQLStore, filled: str) -> None:
    store.create_search("other", OBJECTIVES, 10, {})
    store.add_trials("other", [arch(20)], TrialState.RUNNING)
    store.finish("other", 0, EvalResult(TrialState.COMPLETE, {"accuracy": 0.3}))
    other = store.trial_table("other")
    assert other.number == (0,) and other.metric_value == (0.3,)
    assert _comparable(store.trial_table(filled)) == _expected(store, filled)


def test_concat_tables_puts_tables_one_after_the_other(store: SQLStore, filled: str) -> None:
    whole = store.trial_table(filled)
    parts = [store.trial_table(filled, numbers=[0, 1, 2]), store.trial_table(filled, after=2)]
    assert _comparable(concat_tables(parts)) == _comparable(whole)
    assert concat_tables([]) == TrialTable()
