"""What the mixins of `SQLStore` (`LeaseMethods`, `SchemaMethods`) use of the store itself,
declared for the type checker only: `SQLStore` defines these; the mixins never run alone."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from nasforge.errors import SearchNotFoundError, StoreError
    from nasforge.records import SearchRecord


class SQLHost:
    """Base of the `SQLStore` mixins; no behaviour (the declarations are not executed)."""

    if TYPE_CHECKING:
        url: str
        _pg: bool
        _search_cols: tuple[Any, ...]
        _missing: frozenset[str]  # what an older schema lacks (read-only stores)

        def _tx(self, write: bool) -> AbstractContextManager[Connection]: ...

        def _search_id(self, conn: Connection, name: str, lock: bool = False) -> int: ...

        def _not_found(self, conn: Connection, name: str) -> SearchNotFoundError: ...

        def _get_search(self, conn: Connection, name: str) -> SearchRecord: ...

        def _check_worker(self, worker: object) -> str: ...

        def _no_trial(self, name: str, number: int) -> StoreError: ...

        @staticmethod
        def _not_running(name: str, number: int, state: str, verb: str) -> StoreError: ...
