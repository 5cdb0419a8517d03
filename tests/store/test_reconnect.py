"""A store survives dropped database connections: server restarts, terminated backends, a
server that is down for a while; COMMITs whose outcome was lost never double-record.

PostgreSQL tests run on a throwaway cluster of this module's own (`pg_cluster`), which they
stop and restart; the classification tests need no server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pg_cluster import PgCluster, pg_cluster
from sqlalchemy import create_engine, event, exc, pool, text
from store_helpers import OBJECTIVES, arch

from nasforge.errors import LeaseLostError, StoreError
from nasforge.records import EvalResult, TrialState
from nasforge.store import SQLStore
from nasforge.store.retry import is_disconnect

DONE = EvalResult(TrialState.COMPLETE, {"accuracy": 0.9, "params": 10.0})


# classification (no server) ---------------------------------------------------------------
class _PgError(Exception):
    def __init__(self, sqlstate: str | None, message: str = "boom") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class OperationalError(_PgError):
    __module__ = "psycopg"


def _wrapped(orig: BaseException, invalidated: bool = False) -> StoreError:
    err = exc.OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)
    store_err = StoreError("The store x failed")
    store_err.__cause__ = err
    return store_err


@pytest.mark.parametrize("code", ["08006", "08001", "57P01", "57P02", "57P03"])
def test_dropped_connections_are_disconnects(code: str | None) -> None:
    assert is_disconnect(_wrapped(OperationalError(code)))


# libpq's own connection failures carry no SQLSTATE: their message tells an outage from a typo
REFUSED = ('connection failed: connection to server at "127.0.0.1", port 1 failed: '
           "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
           "connections?")
STARTING = 'connection failed: ... failed: FATAL:  the database system is starting up'
NO_HOST = "failed to resolve host 'nohost.invalid': [Errno -2] Name or service not known"
NO_DB = 'connection failed: ... failed: FATAL:  database "x" does not exist'
NO_ROLE = 'connection failed: ... failed: FATAL:  role "x" does not exist'
BAD_PASSWORD = ('connection failed: ... failed: FATAL:  password authentication failed for '
                'user "x"')


@pytest.mark.parametrize("message", [REFUSED, STARTING, "server closed the connection "
                                     "unexpectedly", "connection timeout expired"])
def test_an_unreachable_server_is_an_outage_when_opening_and_later(message: str) -> None:
    err = _wrapped(OperationalError(None, message))
    assert is_disconnect(err, opening=True) and is_disconnect(err)


@pytest.mark.parametrize("message", [NO_DB, NO_ROLE, BAD_PASSWORD, "boom"])
def test_a_url_that_can_never_work_is_no_outage(message: str) -> None:
    err = _wrapped(OperationalError(None, message))
    assert not is_disconnect(err, opening=True) and not is_disconnect(err)


def test_a_host_name_that_does_not_resolve_is_a_typo_when_opening_an_outage_later() -> None:
    err = _wrapped(OperationalError(None, NO_HOST))
    assert not is_disconnect(err, opening=True)
    assert is_disconnect(err)


@pytest.mark.parametrize("code", ["23505", "42601", "53100", "40001", "57014", "28P01"])
def test_other_errors_are_not(code: str) -> None:
    assert not is_disconnect(_wrapped(OperationalError(code)))


def test_invalidated_connections_are_disconnects_and_our_errors_are_not() -> None:
    assert is_disconnect(_wrapped(ValueError("gone"), invalidated=True))
    assert not is_disconnect(StoreError("finished trials are immutable"))
    assert not is_disconnect(LeaseLostError("re-queued"))
    assert not is_disconnect(exc.IntegrityError("INSERT", {}, OperationalError("23505")))


def test_retry_seconds_is_checked(tmp_path: Any) -> None:
    with pytest.raises(StoreError, match="retry_seconds"):
        SQLStore(f"sqlite:///{tmp_path / 's.db'}", retry_seconds=-1)


# PostgreSQL ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as c:
        yield c


@pytest.fixture
def store(cluster: PgCluster) -> Iterator[SQLStore]:
    s = SQLStore(cluster.url, retry_seconds=20)
    yield s
    s.close()


@pytest.fixture
def name(store: SQLStore) -> str:
    """A search with trials 0-2 WAITING, 3 RUNNING under worker w, 4 COMPLETE."""
    n = f"s{uuid.uuid4().hex[:8]}"
    store.create_search(n, OBJECTIVES, 100, {"seed": 1})
    store.add_trials(n, [arch(i) for i in range(3)])
    store.add_trials(n, [arch(3), arch(4)], TrialState.RUNNING, worker="w")
    store.finish(n, 4, DONE, worker="w")
    return n


def _states(store: SQLStore, name: str) -> list[tuple[int, str, str | None]]:
    return [(t.number, t.state.value, t.worker) for t in store.trials(name)]


CALLS: dict[str, Callable[[SQLStore, str], Any]] = {
    "create_search": lambda s, n: s.create_search(n + "x", OBJECTIVES, 5, {"a": 1}),
    "get_search": lambda s, n: s.get_search(n),
    "list_searches": lambda s, n: s.list_searches(),
    "set_budget": lambda s, n: s.set_budget(n, 50),
    "set_diagnostics": lambda s, n: s.set_diagnostics(n, {"note": "x"}),
    "add_trials": lambda s, n: s.add_trials(n, [arch(7)]),
    "finish": lambda s, n: s.finish(n, 3, DONE, worker="w"),
    "clear_checkpoints": lambda s, n: s.clear_checkpoints(n, [4]),
    "trials": lambda s, n: s.trials(n),
    "trial_table": lambda s, n: s.trial_table(n),
    "trial": lambda s, n: s.trial(n, 4),
    "claim": lambda s, n: s.claim(n, 2, worker="v"),
    "heartbeat": lambda s, n: s.heartbeat(n, "w"),
    "leases": lambda s, n: s.leases(n),
    "requeue": lambda s, n: s.requeue(n, [3]),
    "requeue_stale": lambda s, n: s.requeue_stale(n, {3: s.leases(n)[0]}),
    "add_pool": lambda s, n: s.add_pool(n, {"winner": "w", "scores": {}}),
    "pools": lambda s, n: s.pools(n),
}


@pytest.mark.slow
def test_every_method_works_after_a_restart(cluster: PgCluster, store: SQLStore,
                                            name: str) -> None:
    cluster.restart()
    for method, call in CALLS.items():
        if method in ("requeue", "requeue_stale"):
            continue  # trial 3 is finished by then
        call(store, name)
    assert [t.state.value for t in store.trials(name)] == [
        "RUNNING", "RUNNING", "WAITING", "COMPLETE", "COMPLETE", "WAITING"]


@pytest.mark.slow
def test_calls_wait_for_a_server_that_is_down(cluster: PgCluster, store: SQLStore,
                                              name: str, caplog: Any) -> None:
    cluster.stop()
    threading.Timer(0.5, cluster.start).start()
    added = store.add_trials(name, [arch(8)])
    assert [t.number for t in added] == [5]
    assert [t.number for t in store.trials(name)] == list(range(6))
    assert "dropped connection" in caplog.text


#: calls that run one statement once the store knows the search's id
ONE_STATEMENT = ("clear_checkpoints", "heartbeat", "leases", "add_pool", "pools")


@contextmanager
def _terminate_at(cluster: PgCluster, store: SQLStore, statement: int = 2) -> Iterator[None]:
    """pg_terminate_backend the store's connection before its `statement`-th statement."""
    admin = create_engine(cluster.url, poolclass=pool.NullPool)
    seen = 0

    def hook(conn: Any, *_: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == statement:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as a:
                # (PostgreSQL 14+: wait up to 5 s for the backend to be gone)
                a.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)
        admin.dispose()
    assert seen > statement  # it was killed mid-call and the call ran again


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_terminated_backend_is_survived(cluster: PgCluster, store: SQLStore, name: str,
                                          method: str, caplog: Any) -> None:
    # killed before the second statement, or the only one (the store knows the search's id)
    with _terminate_at(cluster, store, 1 if method in ONE_STATEMENT else 2):
        CALLS[method](store, name)
    assert "dropped connection" in caplog.text
    numbers = [t.number for t in store.trials(name)]
    assert numbers == list(range(6 if method == "add_trials" else 5))  # once, not twice


@pytest.mark.slow
def test_restarts_while_threads_write_lose_and_duplicate_nothing(
        cluster: PgCluster, store: SQLStore) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    store.create_search(name, OBJECTIVES, 10_000, {})
    added: list[int] = []
    finished: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            i, deadline = 0, time.monotonic() + 60
            while time.monotonic() < deadline and (not stop.is_set() or store.leases(name)
                                                   or store.trials(name, [TrialState.WAITING])):
                if not stop.is_set():
                    added.extend(t.number for t in store.add_trials(name, [arch(i), arch(i)]))
                for t in store.claim(name, 2, worker=worker):
                    store.finish(name, t.number, DONE, worker=worker)
                    finished.append(t.number)
                i += 1
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"w{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for _ in range(2):
        time.sleep(0.4)
        cluster.restart()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors
    trials = store.trials(name)
    assert len(trials) > 20
    assert [t.number for t in trials] == list(range(len(trials)))
    assert sorted(added) == sorted(finished) == [t.number for t in trials]
    assert {t.state for t in trials} == {TrialState.COMPLETE}


@pytest.mark.slow
def test_an_outage_longer_than_retry_seconds_is_a_store_error(cluster: PgCluster,
                                                              name: str) -> None:
    impatient = SQLStore(cluster.url, retry_seconds=1)
    before = _states(impatient, name)
    cluster.stop()
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match=r"127\.0\.0\.1.*unreachable for 1\.\d s"):
            impatient.add_trials(name, [arch(9)])
        assert 0.9 < time.monotonic() - start < 3
    finally:
        cluster.start()
    assert _states(impatient, name) == before  # nothing half-written
    impatient.close()


@pytest.fixture
def lost_commit(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Arm: the next COMMIT goes through, then the connection 'drops' (psycopg error)."""
    import psycopg

    dialect = store.engine.dialect
    real = dialect.do_commit
    armed = [False]

    def do_commit(dbapi_conn: Any) -> None:
        real(dbapi_conn)
        if armed[0]:
            armed[0] = False
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    return lambda: armed.__setitem__(0, True)


@pytest.mark.slow
def test_a_lost_commit_of_finish_returns_the_record(store: SQLStore, name: str,
                                                    lost_commit: Callable[[], None]) -> None:
    lost_commit()
    record = store.finish(name, 3, DONE, worker="w")
    assert record.state is TrialState.COMPLETE and dict(record.metrics) == dict(DONE.metrics)
    assert store.trial(name, 3).finished_at == record.finished_at
    with pytest.raises(StoreError, match="immutable"):  # a real second finish still fails
        store.finish(name, 3, DONE, worker="w")


@pytest.mark.slow
def test_a_lost_commit_of_add_trials_adds_once(store: SQLStore, name: str,
                                               lost_commit: Callable[[], None]) -> None:
    lost_commit()
    added = store.add_trials(name, [arch(5), arch(6)])
    assert [t.number for t in added] == [5, 6]
    assert [t.number for t in store.trials(name)] == list(range(7))
    assert [t.arch for t in store.trials(name, numbers=[5, 6])] == [arch(5), arch(6)]


@pytest.mark.slow
def test_a_lost_commit_of_add_pool_adds_it_once(store: SQLStore, name: str,
                                                lost_commit: Callable[[], None]) -> None:
    store.add_pool(name, {"winner": "a"})
    lost_commit()
    store.add_pool(name, {"winner": "b"})
    store.add_pool(name, {"winner": "b"})  # the same pool again, by a later call: kept
    assert [p["winner"] for p in store.pools(name)] == ["a", "b", "b"]


@pytest.mark.slow
def test_a_lost_commit_of_create_search_and_claim(store: SQLStore, name: str,
                                                  lost_commit: Callable[[], None]) -> None:
    lost_commit()
    record = store.create_search(name + "n", OBJECTIVES, 7, {"seed": 2})
    assert record.budget == 7 and store.get_search(name + "n").created_at == record.created_at
    lost_commit()
    claimed = store.claim(name, 2, worker="v")
    assert [t.number for t in claimed] == [0, 1]
    assert [(n, s) for n, s, w in _states(store, name) if w == "v"] == [
        (0, "RUNNING"), (1, "RUNNING")]
    assert _states(store, name)[2] == (2, "WAITING", None)


@pytest.mark.slow
def test_a_lost_commit_of_add_trials_under_a_limit_adds_once(
        store: SQLStore, name: str, lost_commit: Callable[[], None]) -> None:
    lost_commit()
    added = store.add_trials(name, [arch(5), arch(6), arch(7)], limit=6)
    assert [t.number for t in added] == [5]
    assert [t.number for t in store.trials(name)] == list(range(6))
