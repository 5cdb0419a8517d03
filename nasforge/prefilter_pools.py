"""Where the proxy pre-filter's pools are kept: a row each in the store (`Store.add_pool`,
table ``prefilter_pools``), read back on resume and shown by ``nasforge show NAME --json``
(under ``diagnostics.prefilter.pools``).

Why not trials: a discarded candidate is not a trial (it must not count in the budget, appear
in the trials table or the front). Why not the search's diagnostics: each new pool would
rewrite the whole list, O(B^2 P) bytes for B trained candidates with pools of P, and two
workers adding pools at once would lose one; a row per pool is one INSERT at any history size.
"""

from __future__ import annotations

from nasforge.errors import SearchNotFoundError
from nasforge.store.base import Store
from nasforge.strategies.prefilter import Pool


class PoolArchive:
    """The stored pools of search `name` (`load`) and the callback that stores a new one
    (`keep`, one insert each)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def load(self) -> list[Pool]:
        """The stored pools, oldest first (none for a new search)."""
        try:
            return [Pool.from_json(value) for value in self.store.pools(self.name)]
        except SearchNotFoundError:
            return []

    def keep(self, pool: Pool) -> None:
        self.store.add_pool(self.name, pool.to_json())
