"""Where results live: the Store protocol and its SQL implementation.

    from nasforge.store import open_store
    store = open_store("sqlite:///nasforge.db")       # or postgresql+psycopg://user@host/db

Importing this package imports SQLAlchemy but never torch.
"""

from __future__ import annotations

from nasforge.store.base import Store
from nasforge.store.dberrors import safe_url
from nasforge.store.engine import sqlite_file
from nasforge.store.sql import SQLStore

__all__ = ["DEFAULT_URL", "SQLStore", "Store", "open_store", "safe_url", "sqlite_file"]

DEFAULT_URL = "sqlite:///nasforge.db"


def open_store(url: str = DEFAULT_URL, create: bool = True) -> Store:
    """Open (and with `create`, create if missing) the store at `url`; StoreError if the URL
    is invalid, the database unreachable, or its schema newer than this nasforge."""
    return SQLStore(url, create=create)
