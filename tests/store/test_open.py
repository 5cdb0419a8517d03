"""Opening a SQL store: URL validation, schema migrations, driver errors, package layout."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from store_helpers import OBJECTIVES, Backend, arch

from nasforge.errors import StoreError
from nasforge.store import DEFAULT_URL, SQLStore, open_store
from nasforge.store.dberrors import safe_url
from nasforge.store.engine import MIGRATIONS_DIR, current_revision
from nasforge.store.schema import SCHEMA_REVISION, metadata

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("sqlite:///nasforge.db", "postgresql+psycopg://user@host/db")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("url", "why"), [
    ("foo://x", "unknown database 'foo'"),
    ("postgres://u@h/db", "did you mean 'postgresql'"),
    ("sqlite+nosuchdriver:///x.db", "unknown driver 'nosuchdriver'"),
    ("not a url", "malformed"),
    ("", "empty"),
    ("sqlite:///nonexistent_dir/x.db", "nonexistent_dir does not exist; create it"),
])
def test_invalid_urls_explain_and_create_nothing(in_tmp: Path, url: str, why: str) -> None:
    with pytest.raises(StoreError, match=why) as info:
        SQLStore(url)
    if "nonexistent" not in url:
        assert all(example in str(info.value) for example in EXAMPLES)
    assert list(in_tmp.iterdir()) == []


def test_missing_driver_says_what_to_install(in_tmp: Path) -> None:
    for scheme, module in (("postgresql", None), ("postgresql+psycopg2", "psycopg2"),
                           ("postgresql+pg8000", "pg8000")):
        module = module or make_url(f"{scheme}://").get_dialect().driver
        if importlib.util.find_spec(module) is None:
            break
    else:
        pytest.skip("every PostgreSQL driver tried is installed here")
    with pytest.raises(StoreError, match=f"driver '{module}'.*not installed") as info:
        open_store(f"{scheme}://user:hunter2@localhost/db")
    message = str(info.value)
    assert "pip install" in message and all(example in message for example in EXAMPLES)
    assert "hunter2" not in message
    assert list(in_tmp.iterdir()) == []


def test_unreachable_server_is_a_store_error_without_password() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://nasforge:hunter2@127.0.0.1:1/db?connect_timeout=2"
    with pytest.raises(StoreError, match="127.0.0.1") as info:
        SQLStore(url)
    assert "hunter2" not in str(info.value) and "reachable" in str(info.value)


def test_create_false_needs_an_existing_store(in_tmp: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*missing\.db.*nasforge search"):
        SQLStore("sqlite:///missing.db", create=False)
    (in_tmp / "empty.db").touch()
    with pytest.raises(StoreError, match="no nasforge store"):
        SQLStore("sqlite:///empty.db", create=False)
    assert sorted(p.name for p in in_tmp.iterdir()) == ["empty.db"]
    assert (in_tmp / "empty.db").stat().st_size == 0


def test_default_url_and_repr_hide_nothing_they_should_not(in_tmp: Path) -> None:
    assert DEFAULT_URL == "sqlite:///nasforge.db"
    with open_store() as store:
        assert repr(store) == "SQLStore('sqlite:///nasforge.db')"
    assert (in_tmp / "nasforge.db").exists()
    assert safe_url("postgresql+psycopg://me:hunter2@db/x") == "postgresql+psycopg://me:***@db/x"
    assert "hunter2" not in safe_url("garbage://me:hunter2@")


def test_file_that_is_not_a_database(in_tmp: Path) -> None:
    (in_tmp / "notes.db").write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a database.*another --storage"):
        SQLStore("sqlite:///notes.db")
    with pytest.raises(StoreError, match="folder"):
        SQLStore(f"sqlite:///{in_tmp}")


def test_read_only_database_write_is_a_store_error(in_tmp: Path) -> None:
    with SQLStore("sqlite:///ro.db") as store:
        store.create_search("s", OBJECTIVES, 3, {})
    ro = SQLStore(f"sqlite:///file:{in_tmp / 'ro.db'}?mode=ro&uri=true")
    try:
        assert ro.get_search("s").budget == 3
        with pytest.raises(StoreError, match="read-only") as info:
            ro.add_trials("s", [arch(0)])
        assert "ro.db" in str(info.value)
    finally:
        ro.close()


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'p.db'}") as store:
        with store.engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "busy_timeout", "foreign_keys",
                                   "synchronous")}
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1,
                      "synchronous": 1}


# migrations ------------------------------------------------------------------
def test_schema_module_matches_the_migrations(backend: Backend) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == SCHEMA_REVISION
    with backend.open() as store, store.engine.connect() as conn:
        assert current_revision(conn) == SCHEMA_REVISION
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_newer_schema_is_refused_and_left_unchanged(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("needs a database that outlives a store")
    with backend.open() as store:
        store.create_search("s", OBJECTIVES, 3, {})
    _stamp(backend.url, "9999_from_the_future")
    before = backend.path.read_bytes() if backend.path else None
    with pytest.raises(StoreError, match=r"9999_from_the_future.*newer nasforge.*Upgrade"):
        backend.open()
    if backend.path is not None:
        assert backend.path.read_bytes() == before
        assert sorted(p.name for p in backend.path.parent.iterdir()) == [backend.path.name]
    engine = create_engine(backend.url)
    with engine.connect() as conn:
        assert current_revision(conn) == "9999_from_the_future"
    engine.dispose()


def test_old_rollback_journal_file_is_upgraded_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty SQLite file: no revision yet
    with SQLStore(f"sqlite:///{path}") as store:
        store.create_search("s", OBJECTIVES, 3, {})
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert version == SCHEMA_REVISION


# packaging -------------------------------------------------------------------
def test_migration_files_are_in_the_package() -> None:
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py",
                 "versions/0002_trial_checkpoint.py", "versions/0003_search_diagnostics.py"):
        assert (MIGRATIONS_DIR / name).is_file(), name


def test_import_does_not_pull_torch() -> None:
    code = "import sys, nasforge.store; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
