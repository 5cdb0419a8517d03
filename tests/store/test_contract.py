"""The Store contract (see `nasforge.store.base`), run against every backend in conftest.py."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from store_helpers import OBJECTIVES, Backend, arch

from nasforge.errors import SearchExistsError, SearchNotFoundError, StoreError
from nasforge.frozen import thaw
from nasforge.objectives import Objective
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore

W, R, C, F, P = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE,
                 TrialState.FAILED, TrialState.PRUNED)
CURVE = (CurvePoint(0, {"train_loss": 2.0, "val_accuracy": 0.1}),
         CurvePoint(1, {"train_loss": 1.0, "val_accuracy": 0.5}))
DONE = EvalResult(C, {"accuracy": 0.9, "params": 1234.0}, CURVE)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def run_threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


# searches --------------------------------------------------------------------
def test_create_get_list_searches(store: SQLStore) -> None:
    before = datetime.now(timezone.utc)
    made = store.create_search("b", OBJECTIVES, 10, {"space": {"width": [8, 16]}, "x": 1.5})
    store.create_search("a", [Objective("loss", "min")], 5, {})
    got = store.get_search("b")
    assert got == made
    assert got.objectives == OBJECTIVES and got.budget == 10
    assert thaw(got.config) == {"space": {"width": [8, 16]}, "x": 1.5}
    with pytest.raises(TypeError):  # deeply frozen: a snapshot cannot be edited
        got.config["space"]["width"] = [1]  # type: ignore[index]
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset().total_seconds() == 0
    assert before <= got.created_at <= datetime.now(timezone.utc)
    assert dict(got.trial_counts) == {}
    assert [s.name for s in store.list_searches()] == ["b", "a"]  # oldest first


def test_search_names_are_unique(store: SQLStore, search: str) -> None:
    with pytest.raises(SearchExistsError, match="--resume") as info:
        store.create_search(search, OBJECTIVES, 3, {})
    assert "--name" in str(info.value)
    assert store.get_search(search).budget == 100


def test_unknown_search_lists_names_nearest_first(store: SQLStore) -> None:
    with pytest.raises(SearchNotFoundError, match="no searches yet"):
        store.get_search("mnist")
    for name in ("cifar-evolution", "mnist-random", "mnist-evolution"):
        store.create_search(name, OBJECTIVES, 3, {})
    with pytest.raises(SearchNotFoundError) as info:
        store.get_search("mnist-evolutoin")
    message = str(info.value)
    assert store.url in message
    assert message.index("'mnist-evolution'") < message.index("'mnist-random'")
    assert message.index("'mnist-evolution'") < message.index("'cifar-evolution'")
    for call in (lambda: store.trials("nope"), lambda: store.add_trials("nope", [arch(0)]),
                 lambda: store.claim("nope", 1), lambda: store.set_budget("nope", 3)):
        with pytest.raises(SearchNotFoundError):
            call()


def test_set_budget(store: SQLStore, search: str) -> None:
    assert store.set_budget(search, 250).budget == 250
    assert store.get_search(search).budget == 250
    for bad in (0, -1, 2.5, True):
        with pytest.raises(StoreError, match=">= 1"):
            store.set_budget(search, bad)
    assert store.get_search(search).budget == 250


# trials ----------------------------------------------------------------------
def test_numbers_are_sequential_per_search(store: SQLStore, search: str) -> None:
    store.create_search("other", OBJECTIVES, 10, {})
    first = store.add_trials(search, [arch(0), arch(1)])
    assert [t.number for t in first] == [0, 1]
    assert [t.number for t in store.add_trials("other", [arch(2)])] == [0]
    assert store.add_trials(search, []) == []
    store.claim(search, 2)
    store.finish(search, 0, DONE)
    store.requeue(search)
    assert [t.number for t in store.add_trials(search, [arch(3)] * 3, R)] == [2, 3, 4]
    assert [t.number for t in store.trials(search)] == [0, 1, 2, 3, 4]


def test_add_trials_waiting_and_running(store: SQLStore, search: str) -> None:
    (waiting,) = store.add_trials(search, [arch(0)], worker="ignored")
    assert waiting.state is W and waiting.started_at is None and waiting.worker is None
    (running,) = store.add_trials(search, [arch(1)], R, worker="gpu0")
    assert running.state is R and running.worker == "gpu0"
    assert running.started_at is not None and running.started_at.tzinfo is not None
    assert store.trial(search, 1) == running
    assert dict(store.get_search(search).trial_counts) == {"WAITING": 1, "RUNNING": 1}
    with pytest.raises(StoreError, match="WAITING or RUNNING"):
        store.add_trials(search, [arch(2)], C)


def test_claim_lowest_numbers_first(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(5)])
    got = store.claim(search, 2, worker="w1")
    assert [t.number for t in got] == [0, 1]
    assert all(t.state is R and t.worker == "w1" and t.started_at for t in got)
    assert store.trial(search, 0) == got[0]
    assert [t.number for t in store.claim(search, 10)] == [2, 3, 4]
    assert store.claim(search, 1) == [] and store.claim(search, 0) == []


def test_finish_records_everything(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0), arch(1), arch(2)], R)
    done = store.finish(search, 0, DONE)
    assert done.state is C and done.finished_at is not None and done.started_at is not None
    assert done.finished_at >= done.started_at
    assert store.trial(search, 0) == done
    failed = store.finish(search, 1, EvalResult.failed("diverged: loss is NaN"))
    assert store.trial(search, 1).error == "diverged: loss is NaN" == failed.error
    store.finish(search, 2, EvalResult(P, {"accuracy": 0.2}))
    assert dict(store.get_search(search).trial_counts) == {"COMPLETE": 1, "FAILED": 1,
                                                          "PRUNED": 1}
    assert store.get_search(search).finished == 3


def test_finished_trials_are_immutable(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0), arch(1)], R)
    store.add_trials(search, [arch(2)])
    before = store.finish(search, 0, DONE)
    with pytest.raises(StoreError, match="immutable"):
        store.finish(search, 0, EvalResult.failed("again"))
    with pytest.raises(StoreError, match="immutable"):
        store.requeue(search, [1, 0])
    with pytest.raises(StoreError, match="not RUNNING"):
        store.finish(search, 2, DONE)  # WAITING
    with pytest.raises(StoreError, match="no trial 7"):
        store.finish(search, 7, DONE)
    assert store.trial(search, 0) == before
    assert store.trial(search, 1).state is R  # the failed requeue moved nothing
    assert store.trial(search, 2).state is W


def test_finish_is_one_transaction(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0)], R)

    def fail_on_curve(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "curve_points" in statement and statement.lstrip().upper().startswith("INSERT"):
            raise RuntimeError("simulated crash after state and metrics were written")

    event.listen(store.engine, "before_cursor_execute", fail_on_curve)
    try:
        with pytest.raises(RuntimeError, match="simulated"):
            store.finish(search, 0, DONE)
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_curve)
    after = store.trial(search, 0)
    assert after.state is R and dict(after.metrics) == {} and after.curve == ()
    assert after.finished_at is None
    assert store.finish(search, 0, DONE).state is C


def test_requeue(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(4)])
    store.claim(search, 3, worker="w")
    assert store.requeue(search, [1]) == [1]
    again = store.trial(search, 1)
    assert again.state is W and again.worker is None and again.started_at is None
    assert store.requeue(search, [1, 3]) == []  # already WAITING: nothing to move
    with pytest.raises(StoreError, match="no trial 9"):
        store.requeue(search, [0, 9])
    assert store.trial(search, 0).state is R
    assert store.requeue(search) == [0, 2]
    assert [t.number for t in store.claim(search, 4)] == [0, 1, 2, 3]


def test_trials_filters_orders_and_loads_curves_on_request(store: SQLStore,
                                                           search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(6)], R)
    for n in (4, 1, 3):
        store.finish(search, n, DONE)
    store.requeue(search, [5])
    assert [t.number for t in store.trials(search)] == list(range(6))
    done = store.trials(search, states=[C])
    assert [t.number for t in done] == [1, 3, 4]
    assert all(t.curve == () and dict(t.metrics) == dict(DONE.metrics) for t in done)
    assert [t.number for t in store.trials(search, states=[W, R])] == [0, 2, 5]
    curved = store.trials(search, states={C}, with_curves=True)
    assert all(t.curve == CURVE for t in curved)
    assert store.trial(search, 3).curve == CURVE
    with pytest.raises(StoreError, match="no trial 6"):
        store.trial(search, 6)


def test_records_are_snapshots(store: SQLStore, search: str) -> None:
    (added,) = store.add_trials(search, [arch(0)], R)
    listed = store.trials(search)[0]
    info = store.get_search(search)
    store.finish(search, 0, DONE)
    store.set_budget(search, 7)
    assert added.state is R and listed.state is R and dict(listed.metrics) == {}
    assert info.budget == 100 and dict(info.trial_counts) == {"RUNNING": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        added.state = C  # type: ignore[misc]
    with pytest.raises(TypeError):
        store.trial(search, 0).metrics["accuracy"] = 0.0  # type: ignore[index]


def test_metrics_and_curves_round_trip_nan_and_inf(store: SQLStore, search: str) -> None:
    inf, nan = float("inf"), float("nan")
    metrics = {"a": nan, "b": inf, "c": -inf, "d": 1e-310, "e": -1.2345678901234567e300,
               "f": 0.1}
    curve = (CurvePoint(0, {"loss": nan, "acc": 0.0}), CurvePoint(3, {"loss": inf}))
    store.add_trials(search, [arch(0)], R)
    store.finish(search, 0, EvalResult(C, metrics, curve))
    for got in (store.trial(search, 0), store.trials(search, with_curves=True)[0]):
        assert set(got.metrics) == set(metrics)
        assert all(same(got.metrics[k], v) for k, v in metrics.items())
        assert [p.epoch for p in got.curve] == [0, 3]
        assert same(got.curve[0].metrics["loss"], nan) and got.curve[1].metrics["loss"] == inf
        assert got.curve[0].metrics["acc"] == 0.0


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metrics=st.dictionaries(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            min_size=1, max_size=20),
    st.floats(allow_nan=True, allow_infinity=True), max_size=8))
def test_metrics_round_trip_property(store: SQLStore, search: str,
                                     metrics: dict[str, float]) -> None:
    (t,) = store.add_trials(search, [arch(0)], R)
    store.finish(search, t.number, EvalResult(C, metrics))
    got = store.trial(search, t.number).metrics
    assert set(got) == set(metrics) and all(same(got[k], v) for k, v in metrics.items())


def test_architecture_round_trip(store: SQLStore, search: str) -> None:
    odd = Architecture({"lr": 3e-4, "width": 10**12, "name": "conv 3x3 \u00e9\u4e2d",
                        "flag": False, "tiny": 1e-300, "neg": -7, "frac": 0.1 + 0.2})
    store.add_trials(search, [odd, arch(1)])
    got = store.trial(search, 0).arch
    assert got == odd and got.arch_id == odd.arch_id and dict(got) == dict(odd)
    assert type(got["width"]) is int and type(got["flag"]) is bool
    assert store.trials(search)[1].arch == arch(1)


def test_write_errors_change_nothing(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0)], R)
    bad = EvalResult(C, {"accuracy": 1.0}, (CurvePoint(1, {"x": 1.0}), CurvePoint(1, {"y": 2.0})))
    with pytest.raises(StoreError, match="epoch 1 twice"):
        store.finish(search, 0, bad)
    with pytest.raises(StoreError, match="JSON"):
        store.create_search("new", OBJECTIVES, 3, {"bad": object()})
    assert store.trial(search, 0).state is R
    assert [s.name for s in store.list_searches()] == [search]


# concurrency -----------------------------------------------------------------
def test_concurrent_claims_never_share_a_trial(backend: Backend, store: SQLStore,
                                               search: str) -> None:
    store.add_trials(search, [arch(i % 5) for i in range(60)])
    stores = [backend.open() if backend.shared else store for _ in range(6)]
    claimed: list[list[int]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def worker(i: int) -> None:
        start.wait()
        while got := stores[i].claim(search, 2, worker=f"w{i}"):
            claimed[i].extend(t.number for t in got)

    try:
        run_threads(len(stores), worker)
    finally:
        for s in stores:
            if s is not store:
                s.close()
    everything = [n for c in claimed for n in c]
    assert sorted(everything) == list(range(60))  # each trial exactly once
    assert all(t.state is R for t in store.trials(search))


def test_a_dozen_workers_add_claim_finish(backend: Backend, store: SQLStore,
                                          search: str) -> None:
    rounds = 6

    def worker(i: int) -> None:
        own = backend.open() if backend.shared else store
        try:
            for r in range(rounds):
                own.add_trials(search, [arch(i), arch(r)])
                for t in own.claim(search, 2, worker=f"w{i}"):
                    own.finish(search, t.number, DONE)
                own.add_trials(search, [arch(r)], R, worker=f"w{i}")
        finally:
            if own is not store:
                own.close()

    run_threads(12, worker)
    everything = store.trials(search)
    assert [t.number for t in everything] == list(range(12 * rounds * 3))
    counts = store.get_search(search).trial_counts
    assert counts["COMPLETE"] == 12 * rounds * 2 and counts["RUNNING"] == 12 * rounds


# reopening -------------------------------------------------------------------
def test_reopen_preserves_everything(backend: Backend, store: SQLStore, search: str) -> None:
    if not backend.shared:
        pytest.skip("an in-memory store ends with its process")
    store.add_trials(search, [arch(0), arch(1)], R)
    store.finish(search, 0, DONE)
    before = (store.list_searches(), store.trials(search, with_curves=True))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.trials(search)
    again = backend.open(create=False)
    try:
        assert (again.list_searches(), again.trials(search, with_curves=True)) == before
        assert [t.number for t in again.add_trials(search, [arch(2)])] == [2]
    finally:
        again.close()


def test_set_diagnostics_round_trips_and_starts_empty(store: SQLStore, search: str) -> None:
    assert dict(store.get_search(search).diagnostics) == {}
    record = store.set_diagnostics(search, {"kendall_tau": 0.6, "sample_size": 20})
    assert dict(record.diagnostics) == {"kendall_tau": 0.6, "sample_size": 20}
    assert dict(store.get_search(search).diagnostics) == {"kendall_tau": 0.6, "sample_size": 20}
    with pytest.raises(SearchNotFoundError):
        store.set_diagnostics("no-such-search", {})
