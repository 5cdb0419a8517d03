"""Open a store database: validate the URL, make the engine, bring the schema to head (or,
read-only, read it as it is).

SQLite connections get ``busy_timeout``, ``foreign_keys=ON`` and ``synchronous=NORMAL`` on
every connect; the file is switched to WAL once when opened (journal mode is stored in the
file, and a database we refuse must not be touched). SQLAlchemy emits BEGIN itself (the
pysqlite recipe): ``BEGIN IMMEDIATE`` for write transactions, so concurrent writers queue on
the busy timeout instead of failing with "database is locked", and plain ``BEGIN`` for reads.

Read-only (`open_database(..., readonly=True)`: list, show, export, the dashboard) never changes
the store: SQLite opens the file as a ``mode=ro`` URI, one connection per read transaction
(``immutable=1`` while we cannot write its folder and no writer is running:
`_immutable_when_idle`), PostgreSQL sessions are ``read only``; no migration, no journal-mode
change. The database file's bytes stay as they were, but a reader of a WAL-mode file in a folder
it may write creates SQLite's -shm (and an empty -wal) beside it if they are missing, and leaves
them: that is how SQLite readers and writers coordinate. An older schema is read as it is when
what it lacks are nullable columns or indexes (all the migrations so far add only those): the
columns read as NULL; `upgrade_note` names the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, StaticPool

from nasforge.errors import StoreError
from nasforge.store.dberrors import safe_url, translate_errors
from nasforge.store.schema import LATER_TABLES, SCHEMA_REVISION, metadata

log = logging.getLogger(__name__)

EXAMPLES = "e.g. sqlite:///nasforge.db or postgresql+psycopg://user@host/db"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "nasforge_write"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}
_PG_MIGRATION_LOCK = 0x6E6173666F726765  # "nasforge": serialises concurrent upgrades


@dataclass(frozen=True)
class Opened:
    """An open database: its engine, the engines for reads and for writes (options of the
    first, sharing its pool and its event listeners), and its kind."""

    engine: Engine
    read: Engine
    write: Engine
    backend: str
    memory: bool
    readonly: bool = False
    missing: frozenset[str] = frozenset()  # "table.column" an older schema lacks (read-only)
    note: str | None = None  # read-only, older schema: how to upgrade it


def _bad_url(url: str, what: str) -> StoreError:
    return StoreError(f"The store URL {safe_url(url)!r} {what}; use a URL like {EXAMPLES}.")


def parse_url(url: str) -> URL:
    """Validate `url` without touching any file or server; StoreError says what is wrong."""
    if not isinstance(url, str):
        raise StoreError(f"The store URL must be a string, got {type(url).__name__}; use a "
                         f"URL like {EXAMPLES}.")
    if not url.strip():
        raise StoreError(f"The store URL is empty; use a URL like {EXAMPLES}.")
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise _bad_url(url, "is malformed (expected DATABASE[+DRIVER]://...)") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        near = difflib.get_close_matches(backend, SUPPORTED_BACKENDS, n=1, cutoff=0.5)
        guess = f" (did you mean {near[0]!r}?)" if near else ""
        raise _bad_url(url, f"names the unknown database {backend!r}{guess}; nasforge "
                            "stores results in SQLite or PostgreSQL")
    try:
        dialect = parsed.get_dialect()
    except exc.NoSuchModuleError:
        raise _bad_url(url, f"names the unknown driver {parsed.get_driver_name()!r} "
                            f"for {backend}") from None
    if getattr(dialect, "is_async", False):
        raise _bad_url(url, f"names the asyncio driver {parsed.get_driver_name()!r}; "
                            "nasforge needs a synchronous driver")
    try:
        dialect.import_dbapi()
    except ImportError as err:
        driver = dialect.driver
        package = _PACKAGES.get(driver, driver)
        raise StoreError(
            f"The store URL {safe_url(url)!r} needs the database driver {driver!r}, which is "
            f"not installed ({err}); pip install '{package}', or use a driver you have. URLs "
            f"look like {EXAMPLES}."
        ) from None
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite file store (absolute, against the working directory as
    the store opens it); None for another database, in-memory SQLite, a sqlite3 URI
    filename or a URL that does not parse."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return None
    if (parsed.get_backend_name() != "sqlite" or _is_memory(parsed)
            or parsed.query.get("uri") in ("true", "1")):
        return None
    return Path(str(parsed.database)).expanduser().absolute()


def _is_memory(parsed: URL) -> bool:
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def is_memory_url(url: str) -> bool:
    """True for an in-memory SQLite URL (its data vanish when the process ends)."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return False
    return parsed.get_backend_name() == "sqlite" and (
        _is_memory(parsed) or str(parsed.database).startswith(":memory:"))


def check_persistent(url: str) -> None:
    """Refuse an in-memory store for a search: its results would vanish with the process."""
    if is_memory_url(url):
        raise StoreError(
            f"The store {safe_url(url)} is an in-memory SQLite database: a search there "
            "vanishes when the process ends, and no other process can resume or join it. "
            "Use a file, e.g. --storage sqlite:///nasforge.db, or a PostgreSQL URL.")


def _read_only_sqlite(parsed: URL) -> URL:
    """The URL of the same file opened read-only (``mode=ro``; see `_immutable_when_idle`)."""
    if parsed.query.get("uri") in ("true", "1"):
        return parsed.update_query_dict({"mode": "ro"})
    path = Path(str(parsed.database)).expanduser().absolute()
    return parsed.set(database="file:" + quote(str(path))).update_query_dict(
        {"uri": "true", "mode": "ro"})


def _immutable_when_idle(engine: Engine, path: Path) -> None:
    """Decide on every connect (read-only engines do not pool: one connection per read
    transaction) how to read `path`: ``mode=ro``, unless we cannot write its folder and no
    -wal file is there. A WAL database needs its -shm file, which a reader there could not
    create, so then it is read ``immutable=1``: without locks or a page cache kept across
    transactions, which is safe because no writer is running (a writer always has a -wal);
    a writer that starts later (the search of a dashboard kept open) creates its -wal, and
    the next transaction reads ``mode=ro`` through it and sees its commits."""
    wal = path.with_name(path.name + "-wal")

    @event.listens_for(engine, "do_connect")
    def _choose(_dialect: Any, _record: Any, cargs: list[Any], _cparams: Any) -> None:
        if not os.access(path.parent, os.W_OK) and not wal.exists():
            cargs[0] = str(cargs[0]).replace("mode=ro", "immutable=1")


def _check_sqlite_file(url: str, parsed: URL, create: bool) -> None:
    if parsed.query.get("uri") in ("true", "1"):
        return  # a sqlite3 URI filename: the driver decides
    path = Path(str(parsed.database))
    if path.is_dir():
        raise StoreError(f"The store {safe_url(url)} points at the folder {path}, not a file; "
                         f"name a file, {EXAMPLES}.")
    if not path.exists():
        if not create:
            raise StoreError(f"There is no store at {path}; run `nasforge search` first or "
                             "pass --storage.")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise StoreError(f"The store {safe_url(url)} cannot be created: the folder "
                             f"{folder.absolute()} does not exist; create it or choose "
                             f"another path, {EXAMPLES}.")


def _sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, parsed: URL, readonly: bool = False) -> Opened:
    """The engine for a validated URL (no connection made yet); `readonly`: see the module
    docstring."""
    backend = parsed.get_backend_name()
    memory = backend == "sqlite" and _is_memory(parsed)
    watched = sqlite_file(url) if readonly else None  # see _immutable_when_idle
    if readonly and backend == "sqlite" and not memory:
        parsed = _read_only_sqlite(parsed)
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif watched is not None:
        kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}, "poolclass": NullPool}
    elif backend == "sqlite":
        kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}, "pool_size": 8,
                  "max_overflow": 24}
    else:
        kwargs = {"pool_pre_ping": True}
        if readonly:
            kwargs["execution_options"] = {"postgresql_readonly": True}
    with translate_errors(url, "cannot be opened"):
        engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        _sqlite_listeners(engine)
        if watched is not None:
            _immutable_when_idle(engine, watched)
        read = engine
    else:  # several SELECTs of one read see one snapshot
        read = engine.execution_options(isolation_level="REPEATABLE READ")
    write = engine.execution_options(**{WRITE_OPTION: True})
    return Opened(engine, read, write, backend, memory, readonly)


def current_revision(conn: Connection) -> str | None:
    found = [] if not inspect(conn).has_table("alembic_version") else conn.execute(
        text("SELECT version_num FROM alembic_version")).scalars().all()  # no Alembic import
    if len(found) > 1:
        raise StoreError(f"The store records several schema revisions: {found}; not nasforge's.")
    return str(found[0]) if found else None


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        return script.get_revision(revision) is not None
    except (RevisionError, CommandError):
        return False


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _newer(url: str, revision: str) -> StoreError:
    return StoreError(
        f"The store {safe_url(url)} has schema revision {revision!r}, which this nasforge "
        f"does not know (it knows up to {SCHEMA_REVISION!r}): it was written by a newer "
        "nasforge. Upgrade nasforge to open it; the store was left unchanged."
    )


def _check_revision(url: str, revision: str | None, create: bool) -> None:
    if revision is None and not create:
        raise StoreError(f"There is no nasforge store at {safe_url(url)}; run `nasforge "
                         "search` first or pass --storage.")
    if revision not in (None, SCHEMA_REVISION) and not _known(revision):
        raise _newer(url, revision)


def migrate(url: str, db: Opened, create: bool) -> str | None:
    """Bring the schema to head; refuse (unchanged) a database from a newer nasforge. The
    revision it had (None: a new database)."""
    with translate_errors(url, "cannot be opened"):
        with db.read.connect() as conn:
            revision = found = current_revision(conn)
        _check_revision(url, revision, create)
        if db.backend == "sqlite" and not db.memory:
            raw = db.read.raw_connection()
            try:
                driver = raw.driver_connection
                assert driver is not None  # a checked-out connection always has its driver's
                mode = driver.execute("PRAGMA journal_mode = WAL").fetchone()
            finally:
                raw.close()
            if mode and str(mode[0]).lower() != "wal":
                log.warning("Store %s stays in journal mode %s (WAL refused).",
                            safe_url(url), mode[0])
        if revision == SCHEMA_REVISION:
            return found
        with db.write.begin() as conn:
            if db.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": _PG_MIGRATION_LOCK})
            revision = current_revision(conn)  # again: another process may have upgraded
            _check_revision(url, revision, create)
            if revision != SCHEMA_REVISION:
                log.info("Upgrading store %s from revision %s to %s.", safe_url(url),
                         revision, SCHEMA_REVISION)
                _upgrade(conn)
    return found


def _upgrade_hint(url: str, revision: str) -> str:
    return (f"this store has schema {revision}, nasforge {_version()} reads "
            f"{SCHEMA_REVISION}: run `nasforge upgrade --storage {safe_url(url)}` (back up "
            "first; older nasforge versions cannot open it afterwards)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nasforge")
    except PackageNotFoundError:
        return "(development)"


def _missing_columns(url: str, conn: Connection, revision: str) -> frozenset[str]:
    """The nullable columns ("table.column") and later tables (read as empty) an older schema
    lacks; StoreError with the upgrade hint for anything else (a table, a NOT NULL column)."""
    tables = inspect(conn)
    present = set(tables.get_table_names())
    missing: set[str] = set(LATER_TABLES - present)
    for table in (t for t in metadata.sorted_tables if t.name not in missing):
        if table.name not in present:
            raise StoreError(f"The store {safe_url(url)} cannot be read as it is (it has no "
                             f"table {table.name}): {_upgrade_hint(url, revision)}.")
        have = {c["name"] for c in tables.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise StoreError(f"The store {safe_url(url)} cannot be read as it is (it has "
                                 f"no column {table.name}.{column.name}): "
                                 f"{_upgrade_hint(url, revision)}.")
            missing.add(f"{table.name}.{column.name}")
    return frozenset(missing)


def inspect_read_only(url: str, db: Opened) -> Opened:
    """Check the schema of a read-only database without writing: no store, a newer one (both
    StoreError), or an older one (its missing nullable columns, and a note on upgrading)."""
    with translate_errors(url, "cannot be opened"), db.read.connect() as conn:
        revision = current_revision(conn)
        _check_revision(url, revision, create=False)
        if revision == SCHEMA_REVISION:
            return db
        assert revision is not None
        missing = _missing_columns(url, conn, revision)
    note = f"reading the store {safe_url(url)} as it is: {_upgrade_hint(url, revision)}."
    log.info("%s", note)
    return dataclasses.replace(db, missing=missing, note=note)


def _engine_for(url: str, create: bool, readonly: bool) -> Opened:
    """The engine of a validated URL whose SQLite file exists (or, with `create`, may be
    created); nothing connected yet."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and not _is_memory(parsed):
        _check_sqlite_file(url, parsed, create and not readonly)
    return make_engine(url, parsed, readonly)


def open_database(url: str, create: bool, readonly: bool = False) -> Opened:
    """Validate `url`, make the engine and bring the schema to head, or with `readonly`
    check it and write nothing (see module docstring)."""
    db = _engine_for(url, create, readonly)
    try:
        if readonly:
            db = inspect_read_only(url, db)
        else:
            migrate(url, db, create)
    except BaseException:
        db.engine.dispose()
        raise
    return db


def upgrade_database(url: str) -> tuple[str, str]:
    """Bring an existing store to this nasforge's schema; its revisions before and after.
    StoreError if there is no store or it is newer."""
    db = _engine_for(url, create=False, readonly=False)
    try:
        before = migrate(url, db, create=False)
    finally:
        db.engine.dispose()
    return str(before), SCHEMA_REVISION
