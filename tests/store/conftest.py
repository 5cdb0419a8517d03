"""Fixtures of the store tests: `backend` (SQLite file, SQLite in memory, PostgreSQL when
``NASFORGE_TEST_POSTGRES_URL`` is set), `store` on it, and `search` made in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import OBJECTIVES, Backend, postgres_backend

from nasforge.store import SQLStore


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite-file":
        path = tmp_path / "store.db"
        yield Backend("sqlite-file", f"sqlite:///{path}", shared=True, path=path)
    elif request.param == "sqlite-memory":
        yield Backend("sqlite-memory", "sqlite://", shared=False)
    else:
        yield from postgres_backend()


@pytest.fixture
def store(backend: Backend) -> Iterator[SQLStore]:
    s = backend.open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def search(store: SQLStore) -> str:
    store.create_search("s", OBJECTIVES, 100, {"seed": 1})
    return "s"
