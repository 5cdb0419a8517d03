"""The part of `SQLStore` that reads a search's trials as columns (`trial_table`): one query
for the trials and one for their metrics, the driver's rows taken as they come (no SQLAlchemy
Row), times as the stored text (SQLite) or formatted by the server (PostgreSQL): no record,
Architecture or datetime per trial."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, String, func, select, type_coerce
from sqlalchemy.exc import DBAPIError

from nasforge.store.retry import retry_methods
from nasforge.store.schema import trial_metrics, trials
from nasforge.store.sql_host import SQLHost
from nasforge.store.trial_table import TrialTable

_NAN = math.nan
_PG_TIME = "YYYY-MM-DD HH24:MI:SS.US"  # trial_table.TIME_FORMAT in PostgreSQL's words


def fetch_all(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of `stmt` as the driver's tuples: SQLAlchemy's Row objects (and transposing
    them) would cost as much as the query at 100k trials. Driver errors while fetching are
    wrapped as SQLAlchemy wraps them in `execute`, so the store translates and retries them
    as it does any other."""
    result = conn.execute(stmt)
    try:
        return list(result.cursor.fetchall())
    except conn.dialect.loaded_dbapi.Error as err:
        raise DBAPIError.instance(str(stmt), None, err, conn.dialect.loaded_dbapi.Error
                                  ) from err
    finally:
        result.close()


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """The first `width` columns of `rows` (a comprehension per column: several times
    faster than ``zip(*rows)`` over many rows)."""
    return [tuple([row[i] for row in rows]) for i in range(width)]


@retry_methods("trial_table")
class TableMethods(SQLHost):
    """trial_table (mixed into `SQLStore`)."""

    def _time_text(self, column: Any) -> Any:
        if self._pg:
            return func.to_char(func.timezone("UTC", column), _PG_TIME)
        return type_coerce(column, String)  # SQLite keeps naive UTC text: read it as it is

    def _by_code_point(self, column: Any) -> Any:
        return column.collate("C") if self._pg else column  # SQLite's default: BINARY

    def trial_table(self, name: str, *, numbers: Iterable[int] | None = None,
                    after: int | None = None, limit: int | None = None) -> TrialTable:
        """The search's trials ordered by number as columns (`TrialTable`), optionally only
        those numbered (`numbers`), those numbered above `after` and the first `limit` of
        them; the same trials and values as `trials` (without curves). SearchNotFoundError
        for an unknown search."""
        picked = None if numbers is None else sorted({int(n) for n in numbers})
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            if picked == []:
                return TrialTable()
            where = [trials.c.search_id == sid]
            if picked is not None:
                where.append(trials.c.number.in_(picked))
            if after is not None:
                where.append(trials.c.number > int(after))
            if limit is not None and limit <= 0:
                return TrialTable()
            query = select(trials.c.number, trials.c.state, trials.c.error, trials.c.arch_json,
                           self._time_text(trials.c.started_at),
                           self._time_text(trials.c.finished_at), trials.c.arch_id,
                           trials.c.worker).where(*where).order_by(trials.c.number)
            rows = fetch_all(conn, query if limit is None else query.limit(int(limit)))
            if not rows:
                return TrialTable()
            if limit is not None:  # the metrics of this page: a range of numbers, no IN list
                where.append(trials.c.number <= rows[-1][0])
            metrics = fetch_all(conn,
                select(trials.c.number, trial_metrics.c.name, trial_metrics.c.value)
                .join(trials, trials.c.id == trial_metrics.c.trial_id).where(*where)
                .order_by(trials.c.number, self._by_code_point(trial_metrics.c.name)))
        number, state, error, arch_json, started, finished, arch_id, worker = _columns(rows, 8)
        m_number, m_name = _columns(metrics, 2)
        m_value = tuple([_NAN if row[2] is None else row[2] for row in metrics])
        return TrialTable(number, state, error, arch_json, started, finished, m_number, m_name,
                          m_value, arch_id, worker)
