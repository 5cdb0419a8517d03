"""Helpers of the store tests (imported by name: `from store_helpers import ...`).

Store backends for the contract suite: SQLite file, SQLite in memory, and PostgreSQL when
``NASFORGE_TEST_POSTGRES_URL`` names a reachable server (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/nasforge_test``); each PostgreSQL test gets a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pg_schema import scratch_schema

from nasforge.objectives import Objective
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore

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
    with scratch_schema("nasforge_test") as url:
        yield Backend("postgresql", url, shared=True)
