"""The proxy pre-filter's pools in the store (`add_pool`, `pools`; table ``prefilter_pools``,
revision 0007), on SQLite file, SQLite in memory and PostgreSQL: appended and read in order,
one INSERT each at any history size, never lost when workers add them at once, gone with
their search, refused by a read-only store, and added to a store at revision 0006 by the
upgrade without touching its data."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, select
from store_helpers import OBJECTIVES, Backend, arch

from nasforge.errors import SearchNotFoundError, StoreError
from nasforge.records import EvalResult, TrialState
from nasforge.store import SQLStore, open_store
from nasforge.store.engine import current_revision
from nasforge.store.schema import SCHEMA_REVISION, prefilter_pools, searches


def pool(i: int, members: int = 4) -> dict[str, object]:
    ids = [f"{i:04d}{m:012d}" for m in range(members)]
    return {"winner": ids[0], "discarded": [{"width": m} for m in range(1, members)],
            "scores": {a: {"synflow": float(i + m), "zc_seconds": 0.01}
                       for m, a in enumerate(ids)}}


def _timeless(parameters: object) -> object:
    """The parameters with each timestamp replaced by one placeholder: a timestamp's text
    varies in length with its microseconds (72065 vs 185210), not with the history."""
    if isinstance(parameters, dict):
        return {k: _timeless(v) for k, v in parameters.items()}
    if isinstance(parameters, (list, tuple)):
        return [_timeless(v) for v in parameters]
    return "<timestamp>" if isinstance(parameters, datetime) else parameters


@contextmanager
def statements(store: SQLStore) -> Iterator[list[tuple[str, str]]]:
    """The statements the store sends inside the block, with their parameters as text."""
    seen: list[tuple[str, str]] = []

    def record(_conn, _cursor, statement: str, parameters, *_args) -> None:
        if statement.lstrip().split()[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen.append((statement, repr(_timeless(parameters))))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_pools_read_back_in_the_order_they_were_added(store: SQLStore, search: str) -> None:
    assert store.pools(search) == []
    added = [pool(i) for i in range(5)]
    for p in added:
        store.add_pool(search, p)
    assert store.pools(search) == added
    assert store.pools(search, offset=2, limit=2) == added[2:4]
    assert store.pools(search, offset=4, limit=10) == added[4:]
    assert store.pools(search, offset=5) == []
    store.create_search("other", OBJECTIVES, 5, {})
    store.add_pool("other", pool(9))
    assert store.pools("other") == [pool(9)] and store.pools(search) == added
    assert store.get_search(search).diagnostics == {}  # pools are not diagnostics


def test_bad_pools_and_unknown_searches_are_refused(store: SQLStore, search: str) -> None:
    with pytest.raises(SearchNotFoundError, match="nope"):
        store.add_pool("nope", pool(0))
    with pytest.raises(SearchNotFoundError, match="nope"):
        store.pools("nope")
    with pytest.raises(StoreError, match="mapping"):
        store.add_pool(search, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="winner is an arch_id"):
        store.add_pool(search, {"winner": 12})
    with pytest.raises(StoreError, match="JSON"):
        store.add_pool(search, {"winner": "a", "scores": object()})
    with pytest.raises(StoreError, match="offset"):
        store.pools(search, offset=-1)
    assert store.pools(search) == []


def test_adding_a_pool_is_one_insert_of_the_same_size_at_any_history(
        store: SQLStore, search: str) -> None:
    store.add_pool(search, pool(0))
    with statements(store) as early:
        store.add_pool(search, pool(1))
    for i in range(2, 60):  # a longer history: trained trials and many pools
        store.add_pool(search, pool(i))
    store.add_trials(search, [arch(i) for i in range(40)], TrialState.RUNNING, worker="w")
    for number in range(40):
        store.finish(search, number, EvalResult(TrialState.COMPLETE, {"accuracy": 0.5}),
                     worker="w")
    with statements(store) as late:
        store.add_pool(search, pool(1))
    assert len(early) == len(late) == 1, late
    assert late[0][0].lstrip().upper().startswith("INSERT")
    assert len(late[0][1]) == len(early[0][1])  # the bytes sent do not grow with history
    assert len(store.pools(search)) == 61


def test_workers_adding_pools_at_once_keep_all_of_them(backend: Backend) -> None:
    first = backend.open()
    first.create_search("s", OBJECTIVES, 100, {})
    # a second process where the database is shared; else a second thread on the one store
    stores = [first, backend.open() if backend.shared else first]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def add(worker: int) -> None:
        try:
            start.wait()
            for i in range(25):
                stores[worker].add_pool("s", pool(100 * worker + i))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=add, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        kept = first.pools("s")
        assert sorted(p["winner"] for p in kept) == sorted(
            pool(100 * w + i)["winner"] for w in range(2) for i in range(25))
        for w in range(2):  # each worker's own pools stay in the order it added them
            mine = [pool(100 * w + i) for i in range(25)]
            assert [p for p in kept if p in mine] == mine
    finally:
        for s in {id(s): s for s in stores}.values():
            s.close()


def test_a_searchs_pools_go_with_it(store: SQLStore, search: str) -> None:
    store.add_pool(search, pool(0))
    store.create_search("kept", OBJECTIVES, 5, {})
    store.add_pool("kept", pool(1))
    with store.engine.begin() as conn:  # no store method deletes a search: the cascade does
        conn.execute(delete(searches).where(searches.c.name == search))
        left = conn.execute(select(func.count()).select_from(prefilter_pools)).scalar()
    assert left == 1 and store.pools("kept") == [pool(1)]


def _at_0006(path: Path) -> str:
    """A store file as revision 0006 left it (no pools table), holding a search with trials."""
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        store.create_search("s", OBJECTIVES, 5, {"seed": 1})
        store.add_trials("s", [arch(0), arch(1)])
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE prefilter_pools")
        con.execute("UPDATE alembic_version SET version_num = '0006'")
    return url


def test_a_revision_0006_store_gains_the_pools_table_and_keeps_its_data(
        tmp_path: Path) -> None:
    url = _at_0006(tmp_path / "old.db")
    with open_store(url) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == SCHEMA_REVISION == "0007"
        assert [t.arch for t in store.trials("s")] == [arch(0), arch(1)]
        assert store.pools("s") == []
        store.add_pool("s", pool(0))
        assert store.pools("s") == [pool(0)]


def test_a_read_only_store_reads_pools_and_refuses_to_add_them(tmp_path: Path) -> None:
    old = _at_0006(tmp_path / "old.db")
    with open_store(old, create=False, readonly=True) as store:  # read as it is
        assert "0006" in (store.upgrade_note or "") and store.pools("s") == []
        with pytest.raises(StoreError, match="read-only"):
            store.add_pool("s", pool(0))
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with open_store(url) as store:
        store.create_search("s", OBJECTIVES, 5, {})
        store.add_pool("s", pool(0))
    with open_store(url, create=False, readonly=True) as store:
        assert store.pools("s") == [pool(0)]
        with pytest.raises(StoreError, match="read-only"):
            store.add_pool("s", pool(1))
        assert store.pools("s") == [pool(0)]
