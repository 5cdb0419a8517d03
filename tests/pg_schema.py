"""A scratch schema on the test PostgreSQL server (``NASFORGE_TEST_POSTGRES_URL``), for tests
that need an empty PostgreSQL store of their own (imported by name: tests/ is on sys.path)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ENV = "NASFORGE_TEST_POSTGRES_URL"


@contextmanager
def scratch_schema(prefix: str, password: str | None = None) -> Iterator[str]:
    """The URL (password shown) of a new empty schema `prefix_<random>`, made the search path,
    dropped afterwards. `password` goes into a URL that has none (a trust login ignores it).
    Skips when the variable is unset or the server unreachable."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as err:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {err.orig}")
    parsed = sqlalchemy.make_url(url)
    if password is not None and not parsed.password:
        parsed = parsed.set(password=password)
    scoped = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
