"""Reading never writes: a store opened read-only (`open_store(url, readonly=True)`, what
`list`, `show`, `export` and the dashboard use) leaves the file's bytes alone, works in a
read-only folder, reads an older schema as it is, and refuses writes. Beside a WAL-mode store
in a folder it may write, SQLite's reader creates its -shm and an empty -wal (that is how it
sees a running writer); a rollback-journal store gets nothing beside it. PostgreSQL: the
session is read-only."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import OBJECTIVES, arch, postgres_backend

from nasforge.errors import StoreError
from nasforge.store import open_store

REPO = Path(__file__).resolve().parents[2]


def _filled(path: Path) -> str:
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.create_search("s", OBJECTIVES, 5, {"seed": 1})
    store.add_trials("s", [arch(0), arch(1)])
    store.close()
    return url


def _state(path: Path) -> tuple[bytes, int, list[str]]:
    return (path.read_bytes(), path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.iterdir()))


def test_a_rollback_journal_store_is_read_without_switching_it_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = _filled(path)
    with sqlite3.connect(path) as conn:  # e.g. a store on a network file system
        conn.execute("PRAGMA journal_mode = DELETE")
    before = _state(path)
    store = open_store(url, create=False, readonly=True)
    try:
        assert [s.name for s in store.list_searches()] == ["s"]
        assert len(store.trials("s")) == 2
        assert {p.name for p in tmp_path.iterdir()} == {"s.db"}  # no -wal, no -shm
    finally:
        store.close()
    assert _state(path) == before


def test_a_read_only_store_refuses_writes_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = _filled(path)
    # a WAL store: a reader may create SQLite's -wal/-shm lock files beside it (that is how
    # it sees a running writer); the store file itself must not change
    before = _state(path)[:2]
    store = open_store(url, create=False, readonly=True)
    try:
        with pytest.raises(StoreError, match="read-only"):
            store.set_budget("s", 9)
        with pytest.raises(StoreError, match="read-only"):
            store.add_trials("s", [arch(5)])
        assert store.get_search("s").budget == 5
    finally:
        store.close()
    assert _state(path)[:2] == before


def test_reading_a_wal_store_leaves_only_sqlites_shm_and_an_empty_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = _filled(path)
    assert {p.name for p in tmp_path.iterdir()} == {"s.db"}  # the writer folded its WAL in
    before = _state(path)[:2]
    store = open_store(url, create=False, readonly=True)
    try:
        assert len(store.trials("s")) == 2
    finally:
        store.close()
    assert _state(path)[:2] == before
    beside = {p.name: p.stat().st_size for p in tmp_path.iterdir() if p.name != "s.db"}
    assert set(beside) <= {"s.db-wal", "s.db-shm"}
    assert beside.get("s.db-wal", 0) == 0


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", create=True, readonly=True)
    assert list(tmp_path.iterdir()) == []


_READ_AS_NOBODY = """
import os, sys
from nasforge.store import open_store
import sqlite3, nasforge.store.sql, sqlalchemy.dialects.sqlite, alembic.runtime.migration  # noqa
if os.geteuid() == 0:  # root ignores permissions: read as nobody, like a user would
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
store = open_store(sys.argv[1], create=False, readonly=True)
print([s.name for s in store.list_searches()], len(store.trials("s")))
store.close()
"""


def test_a_store_in_a_read_only_folder_can_be_read(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    url = _filled(folder / "s.db")
    for p in (tmp_path, folder):
        p.chmod(0o755)
    (folder / "s.db").chmod(0o444)
    folder.chmod(0o555)
    parent = tmp_path
    while parent != parent.parent:  # pytest's tmp folders are 0700: let nobody through
        if parent.stat().st_uid == os.geteuid() and not parent.stat().st_mode & 0o001:
            parent.chmod(parent.stat().st_mode | 0o001)
        parent = parent.parent
    before = _state(folder / "s.db")
    try:
        run = subprocess.run([sys.executable, "-c", _READ_AS_NOBODY, url], cwd=REPO,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        folder.chmod(0o755)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['s'] 2"
    assert _state(folder / "s.db") == before


def test_postgresql_read_only_sessions_refuse_writes() -> None:
    backend = postgres_backend()
    pg = next(backend)
    try:
        writer = pg.open()
        writer.create_search("s", OBJECTIVES, 5, {"seed": 1})
        writer.close()
        reader = open_store(pg.url, create=False, readonly=True)
        try:
            assert reader.get_search("s").budget == 5
            with reader.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
        finally:
            reader.close()
    finally:
        backend.close()


_KEEP_OPEN_AS_NOBODY = """
import os, sys
from nasforge.store import open_store
import sqlite3, nasforge.store.sql, sqlalchemy.dialects.sqlite, alembic.runtime.migration  # noqa
if os.geteuid() == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
store = open_store(sys.argv[1], create=False, readonly=True)  # kept open, as the dashboard does
for line in sys.stdin:
    print(sorted(s.name for s in store.list_searches()), len(store.trials("s")), flush=True)
store.close()
"""


def _let_nobody_through(tmp_path: Path) -> None:
    parent = tmp_path
    while parent != parent.parent:  # pytest's tmp folders are 0700: let nobody through
        if parent.stat().st_uid == os.geteuid() and not parent.stat().st_mode & 0o001:
            parent.chmod(parent.stat().st_mode | 0o001)
        parent = parent.parent


def test_a_reader_kept_open_in_a_folder_it_cannot_write_sees_later_writes(
        tmp_path: Path) -> None:
    """The dashboard keeps its read-only store open while the search (another user, who may
    write the folder) goes on: each read sees what was committed before it, whether the
    writer is still running (its -wal beside the file) or has finished."""
    if os.geteuid() != 0:
        pytest.skip("needs root to read as another user")
    folder = tmp_path / "runs"
    folder.mkdir()
    url = _filled(folder / "s.db")
    folder.chmod(0o755)  # writable by its owner (the search), not by the reader
    _let_nobody_through(tmp_path)
    reader = subprocess.Popen([sys.executable, "-c", _KEEP_OPEN_AS_NOBODY, url], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})

    def read() -> str:
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write("\n")
        reader.stdin.flush()
        line = reader.stdout.readline().strip()
        assert line, reader.stderr.read() if reader.stderr else ""
        return line

    try:
        assert read() == "['s'] 2"
        writer = open_store(url)  # a search goes on: its -wal and -shm appear
        writer.add_trials("s", [arch(2)])
        writer.create_search("t", OBJECTIVES, 5, {"seed": 2})
        assert read() == "['s', 't'] 3"
        writer.add_trials("s", [arch(3)])
        writer.close()  # the search ends: its WAL is folded into the file and removed
        assert not (folder / "s.db-wal").exists()
        assert read() == "['s', 't'] 4"
    finally:
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=60)
