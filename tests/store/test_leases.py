"""Leases (heartbeats, stale re-queues, held-by checks on finish) and the incremental trial
reads that workers sharing a search rely on; every backend of conftest.py."""

from __future__ import annotations

import time

import pytest
from store_helpers import OBJECTIVES, Backend, arch

from nasforge.errors import LeaseLostError, StoreError
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.store import SQLStore

W, R, C = TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE
DONE = EvalResult(C, {"accuracy": 0.9}, (CurvePoint(0, {"val_accuracy": 0.9}),))


def _beat_until_changed(store: SQLStore, search: str, worker: str, before) -> list[int]:
    for _ in range(100):  # timestamps have microseconds; a beat always moves them on
        held = store.heartbeat(search, worker)
        if {x.number: x.heartbeat_at for x in store.leases(search)} != before:
            return held
        time.sleep(0.001)
    raise AssertionError("heartbeat never changed heartbeat_at")


def test_leases_and_heartbeat(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(4)])
    store.claim(search, 2, worker="a")
    store.claim(search, 1, worker="b")
    leases = store.leases(search)
    assert [(x.number, x.worker) for x in leases] == [(0, "a"), (1, "a"), (2, "b")]
    assert all(x.heartbeat_at is not None for x in leases)
    before = {x.number: x.heartbeat_at for x in leases}
    assert _beat_until_changed(store, search, "a", before) == [0, 1]
    after = {x.number: x.heartbeat_at for x in store.leases(search)}
    assert after[0] != before[0] and after[1] != before[1] and after[2] == before[2]
    assert store.heartbeat(search, "a", [1, 2, 3]) == [1]  # 2 is b's, 3 is WAITING
    assert store.heartbeat(search, "a", []) == []
    assert store.heartbeat(search, "nobody") == []
    with pytest.raises(StoreError, match="worker"):
        store.heartbeat(search, "")


def test_requeue_stale_is_a_compare_and_swap(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(3)])
    store.claim(search, 3, worker="a")
    seen = {x.number: x for x in store.leases(search)}
    _beat_until_changed(store, search, "a", {n: x.heartbeat_at for n, x in seen.items()})
    assert store.requeue_stale(search, seen) == []  # all beat since: nobody is robbed
    seen = {x.number: x for x in store.leases(search)}
    store.finish(search, 0, DONE, worker="a")
    assert store.requeue_stale(search, seen) == [1, 2]
    assert [t.state for t in store.trials(search)] == [C, W, W]
    again = store.trial(search, 1)
    assert again.worker is None and again.started_at is None
    assert store.requeue_stale(search, {}) == []


def test_requeue_stale_of_a_lease_that_changed_hands(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0)])
    store.claim(search, 1, worker="a")
    seen = {x.number: x for x in store.leases(search)}
    store.requeue(search)
    store.claim(search, 1, worker="b")
    assert store.requeue_stale(search, seen) == []
    assert store.trial(search, 0).worker == "b"


def test_requeue_stale_of_trials_added_without_a_worker(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(0)], R)
    seen = {x.number: x for x in store.leases(search)}
    assert seen[0].worker is None
    assert store.requeue_stale(search, seen) == [0]


def test_finish_by_a_worker_that_lost_its_lease(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(3)])
    store.claim(search, 3, worker="a")
    store.requeue(search, [0, 1])
    store.claim(search, 1, worker="b")  # trial 0 now b's, trial 1 WAITING
    for number in (0, 1):
        with pytest.raises(LeaseLostError, match="re-queued"):
            store.finish(search, number, DONE, worker="a")
    assert store.trial(search, 0).state is R and store.trial(search, 1).state is W
    assert store.trial(search, 0).metrics == {}
    assert store.finish(search, 0, DONE, worker="b").state is C
    with pytest.raises(LeaseLostError):  # finished by b: a's result is late, not a repeat
        store.finish(search, 0, DONE, worker="a")
    assert store.finish(search, 2, DONE, worker="a").state is C
    with pytest.raises(StoreError, match="immutable"):
        store.finish(search, 2, DONE, worker="a")


def test_trials_by_numbers_and_after(store: SQLStore, search: str) -> None:
    store.add_trials(search, [arch(i) for i in range(6)], R)
    store.finish(search, 4, DONE)
    assert [t.number for t in store.trials(search, after=3)] == [4, 5]
    assert [t.number for t in store.trials(search, numbers=[5, 1, 9])] == [1, 5]
    assert store.trials(search, numbers=[]) == []
    got = store.trials(search, [C], with_curves=True, numbers=[4, 5], after=0)
    assert [t.number for t in got] == [4] and got[0].curve == DONE.curve
    assert dict(got[0].metrics) == dict(DONE.metrics)


def test_claims_from_two_stores_never_overlap(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("an in-memory store is one process's")
    first, second = backend.open(), backend.open()
    try:
        first.create_search("s", OBJECTIVES, 10, {})
        first.add_trials("s", [arch(i) for i in range(10)])
        got = []
        while True:
            a, b = first.claim("s", 2, "a"), second.claim("s", 3, "b")
            if not a and not b:
                break
            got += [t.number for t in a + b]
        assert sorted(got) == list(range(10))
        assert {x.worker for x in second.leases("s")} == {"a", "b"}
    finally:
        first.close()
        second.close()


def test_unique_adds_leave_out_architectures_the_search_holds(store: SQLStore,
                                                              search: str) -> None:
    store.add_trials(search, [arch(0), arch(1)], R, worker="a")
    added = store.add_trials(search, [arch(1), arch(2), arch(2), arch(3)], R, worker="b",
                             unique=True)
    assert [(t.number, t.arch_id) for t in added] == [(2, arch(2).arch_id),
                                                      (3, arch(3).arch_id)]
    assert store.add_trials(search, [arch(0)], unique=True) == []
    assert len(store.add_trials(search, [arch(0)])) == 1  # without unique: as asked
    capped = store.add_trials(search, [arch(4), arch(5)], unique=True, limit=6)
    assert [t.number for t in capped] == [5]
