"""Where results live: the Store protocol and its SQL implementation.

    from nasforge.store import open_store
    store = open_store("sqlite:///nasforge.db")       # or postgresql+psycopg://user@host/db

Importing this package imports SQLAlchemy but never torch.
"""

from __future__ import annotations

from nasforge.store.base import Store
from nasforge.store.dberrors import safe_url
from nasforge.store.engine import check_persistent, is_memory_url, sqlite_file, upgrade_database
from nasforge.store.sql import SQLStore

__all__ = ["DEFAULT_URL", "SQLStore", "Store", "check_persistent", "is_memory_url",
           "open_store", "safe_url", "sqlite_file", "upgrade_database"]

DEFAULT_URL = "sqlite:///nasforge.db"


def open_store(url: str = DEFAULT_URL, create: bool = True, *, readonly: bool = False,
               retry_seconds: float = 60.0) -> Store:
    """Open (and with `create`, create if missing) the store at `url`; StoreError if the URL
    is invalid, the database unreachable for `retry_seconds`, or its schema newer than this
    nasforge. `readonly`: read an existing store without writing anything to it (an older
    schema is read as it is, never migrated; writes raise StoreError)."""
    return SQLStore(url, create=create, retry_seconds=retry_seconds, readonly=readonly)
