"""The part of `SQLStore` that keeps the proxy pre-filter's pools (`add_pool`, `pools`): a
row appended per pool (table ``prefilter_pools``, revision 0007), so adding one is a single
INSERT whatever the search holds, and workers adding pools at once all keep theirs."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import bindparam, insert, select

from nasforge.errors import StoreError
from nasforge.store import rows as R
from nasforge.store.retry import after_disconnect, call_now, retry_methods
from nasforge.store.schema import ARCH_ID_LENGTH, prefilter_pools
from nasforge.store.sql_host import SQLHost

_INSERT = insert(prefilter_pools)
_SAME = select(prefilter_pools.c.id).where(  # this call's own row, committed before a retry
    prefilter_pools.c.search_id == bindparam("sid"),
    prefilter_pools.c.created_at == bindparam("now"), prefilter_pools.c.pool == bindparam("pool"))


@retry_methods("add_pool", "pools")
class PoolMethods(SQLHost):
    """add_pool, pools (mixed into `SQLStore`)."""

    def add_pool(self, name: str, pool: Mapping[str, object]) -> None:
        """Append a pool (a JSON-serialisable mapping; its ``winner``, an arch_id, is kept
        beside it) to the search's pools: one INSERT in one transaction."""
        if not isinstance(pool, Mapping):
            raise StoreError(f"A pool is a mapping (Pool.to_json()), got {type(pool).__name__}.")
        winner = pool.get("winner")
        if winner is not None and not (isinstance(winner, str)
                                       and len(winner) <= ARCH_ID_LENGTH):
            raise StoreError(f"A pool's winner is an arch_id (text of at most "
                             f"{ARCH_ID_LENGTH} characters), got {winner!r}.")
        text, now = R.dump_config(pool), call_now()
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            if after_disconnect() and conn.execute(  # did our lost COMMIT go through?
                    _SAME, {"sid": sid, "now": now, "pool": text}).first() is not None:
                return
            conn.execute(_INSERT, {"search_id": sid, "winner": winner, "pool": text,
                                   "created_at": now})

    def pools(self, name: str, *, offset: int = 0, limit: int | None = None
              ) -> list[dict[str, object]]:
        """The search's pools in the order they were added (from the `offset`-th, at most
        `limit` of them: a page). SearchNotFoundError for an unknown search; none for a
        read-only store at a schema before revision 0007."""
        for value, what in ((offset, "offset"), (limit, "limit")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise StoreError(f"pools {what} must be an integer >= 0, got {value!r}.")
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            if prefilter_pools.name in self._missing:
                return []
            stmt = (select(prefilter_pools.c.pool).where(prefilter_pools.c.search_id == sid)
                    .order_by(prefilter_pools.c.id).offset(offset or None).limit(limit))
            return [json.loads(text) for text in conn.execute(stmt).scalars()]
