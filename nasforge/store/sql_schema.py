"""The parts of `SQLStore` about the schema itself: reading an older schema as it is (the
columns it lacks read as NULL), and the search-level JSON columns (the diagnostics, and the
data fingerprint of revision 0004)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, null, select, update

from nasforge.store import rows as R
from nasforge.store.schema import searches
from nasforge.store.sql_host import SQLHost

if TYPE_CHECKING:
    from nasforge.records import SearchRecord


def readable(columns: Iterable[Column[Any]], missing: frozenset[str]) -> tuple[Any, ...]:
    """`columns`, with those an older schema lacks read as NULL (read-only stores)."""
    return tuple(null().label(c.name) if f"{c.table.name}.{c.name}" in missing else c
                 for c in columns)


class SchemaMethods(SQLHost):
    """set_diagnostics, set_data_fingerprint / data_fingerprint (mixed into `SQLStore`)."""

    def set_diagnostics(self, name: str, diagnostics: Mapping[str, object]) -> SearchRecord:
        """Replace the search's diagnostics (a JSON-serialisable mapping), one transaction."""
        text = R.dump_config(diagnostics)  # the same JSON rules as a config
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name, lock=True)
            conn.execute(update(searches).where(searches.c.id == sid).values(diagnostics=text))
            return self._get_search(conn, name)

    def set_data_fingerprint(self, name: str, fingerprint: Mapping[str, object], *,
                             replacing: Mapping[str, object] | None = None
                             ) -> dict[str, object] | None:
        """Store the fingerprint of the data the search trains on (a JSON-serialisable
        mapping; see `nasforge.evaluator.data.fingerprint`) where the stored one is still
        `replacing` (None: where the search has none), atomically: of two workers storing
        one at once, the second keeps the first's. Returns the fingerprint stored
        afterwards, this one or the one that was there."""
        text = R.dump_config(fingerprint)
        column = searches.c.data_fingerprint
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name, lock=True)
            current = conn.execute(select(column).where(searches.c.id == sid)).scalar()
            seen = json.loads(current) if current else None
            expected = None if replacing is None else json.loads(R.dump_config(replacing))
            if seen == expected:
                unchanged = column.is_(None) if current is None else column == current
                conn.execute(update(searches).where(searches.c.id == sid, unchanged)
                             .values(data_fingerprint=text))
                current = conn.execute(select(column).where(searches.c.id == sid)).scalar()
        return json.loads(current) if current else None

    def data_fingerprint(self, name: str) -> dict[str, object] | None:
        """The stored fingerprint of the search's data; None for a search stored without
        one (before schema revision 0004)."""
        column = self._search_cols[list(searches.columns).index(searches.c.data_fingerprint)]
        with self._tx(write=False) as conn:
            row = conn.execute(select(column).where(searches.c.name == name)).first()
            if row is None:
                raise self._not_found(conn, name)
        return json.loads(row[0]) if row[0] else None
