"""Where the proxy pre-filter's pools are kept: the search's diagnostics (`Store.set_diagnostics`,
key ``prefilter``: ``{"pools": [Pool.to_json(), ...]}``), read back on resume and shown by
``nasforge show NAME --json``.

Why there and not a table of its own: a discarded candidate is not a trial (it must not count
in the budget, appear in the trials table or the front), and the diagnostics column already
holds search-level findings as JSON in both SQLite and PostgreSQL, so no schema change and no
migration are needed. Each new pool rewrites the list (a few hundred bytes per candidate), so
a search of B trained candidates with pools of P writes O(B^2 P) bytes in all: fine for the
thousands of trials a proxy-filtered search trains, not for millions.
"""

from __future__ import annotations

from nasforge.errors import SearchNotFoundError
from nasforge.frozen import thaw
from nasforge.store.base import Store
from nasforge.strategies.prefilter import Pool

KEY = "prefilter"


class PoolArchive:
    """The stored pools of search `name` (`load`) and the callback that stores a new one
    (`keep`, one transaction each)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def load(self) -> list[Pool]:
        """The stored pools, oldest first (none for a new search)."""
        try:
            diagnostics = thaw(self.store.get_search(self.name).diagnostics)
        except SearchNotFoundError:
            return []
        entry = diagnostics.get(KEY) or {}
        assert isinstance(entry, dict)  # written by `keep` only
        return [Pool.from_json(value) for value in entry.get("pools", [])]

    def keep(self, pool: Pool) -> None:
        diagnostics = thaw(self.store.get_search(self.name).diagnostics)
        entry = diagnostics.setdefault(KEY, {})
        assert isinstance(entry, dict)
        entry.setdefault("pools", []).append(pool.to_json())
        self.store.set_diagnostics(self.name, diagnostics)
