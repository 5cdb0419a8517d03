"""Helpers of the store tests (imported by name: `from store_helpers import ...`).

Store backends for the contract suite: SQLite file, SQLite in memory, and PostgreSQL when
``NASFORGE_TEST_POSTGRES_URL`` names a reachable server (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/nasforge_test``); each PostgreSQL test gets a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nasforge.objectives import Objective
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore

POSTGRES_ENV = "NASFORGE_TEST_POSTGRES_URL"
OBJECTIVES = (Objective("accuracy", "max"), Objective("params", "min"))


@dataclass
class Backend:
    """How to open stores on one database; `shared`: a second store sees the first's data."""

    name: str
    url: str
    shared: bool
    path: Path | None = None

    def open(self, create: bool = True) -> SQLStore:
        return SQLStore(self.url, create=create)


def arch(i: int) -> Architecture:
    return Architecture({"width": 8 * (i + 1), "depth": i % 4, "act": "relu",
                         "lr": 10.0 ** -(1 + i % 3), "bn": bool(i % 2)})


def postgres_backend() -> Iterator[Backend]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL store tests")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = f"nasforge_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as err:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {err.orig}")
    scoped = sqlalchemy.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Backend("postgresql", scoped.render_as_string(hide_password=False), shared=True)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
