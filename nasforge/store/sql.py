"""SQLStore: the Store protocol on SQLAlchemy Core, for SQLite (default) and PostgreSQL.

Every method is one short transaction. Writes on SQLite begin with ``BEGIN IMMEDIATE`` (one
writer at a time, others wait on the busy timeout); on PostgreSQL they lock the rows they
change (``FOR UPDATE``; ``SKIP LOCKED`` in `claim`) so parallel workers never collide.
See `nasforge.store.base` for the contract and `nasforge.store.schema` for the tables.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from nasforge.errors import SearchExistsError, SearchNotFoundError, StoreError
from nasforge.objectives import Objective
from nasforge.records import CurvePoint, EvalResult, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import rows as R
from nasforge.store.appends import committed_earlier, unseen
from nasforge.store.dberrors import safe_url, translate_errors
from nasforge.store.engine import open_database
from nasforge.store.finishes import (
    FINISH,
    FINISH_RUNNING,
    TRIAL_BY_NUMBER,
    insert_results,
    lease_lost,
)
from nasforge.store.retry import after_disconnect, call_now, retry_methods, retry_open
from nasforge.store.schema import curve_points, searches, trial_metrics, trials
from nasforge.store.sql_leases import LeaseMethods
from nasforge.store.sql_pools import PoolMethods
from nasforge.store.sql_schema import SchemaMethods, readable
from nasforge.store.sql_summaries import SummaryMethods
from nasforge.store.sql_tables import TableMethods

_RUNNING = TrialState.RUNNING.value
_WAITING = TrialState.WAITING.value
_SEARCH_ID = select(searches.c.id).where(searches.c.name == bindparam("name"))
_NEXT_NUMBER = select(func.coalesce(func.max(trials.c.number), -1) + 1).where(
    trials.c.search_id == bindparam("sid"))
_INSERT_TRIAL = insert(trials)
_TRIAL_COLS = (trials.c.id, trials.c.number, trials.c.arch_json, trials.c.state,
               trials.c.error, trials.c.worker, trials.c.created_at, trials.c.started_at,
               trials.c.finished_at, trials.c.checkpoint)
_COUNTS = (select(trials.c.search_id, trials.c.state, func.count())
           .group_by(trials.c.search_id, trials.c.state))


def _now() -> datetime:
    return call_now()  # one time for all attempts of a retried call


@retry_methods("create_search", "get_search", "list_searches", "set_budget", "set_diagnostics",
               "set_data_fingerprint", "data_fingerprint", "add_trials", "finish",
               "clear_checkpoints", "trials", "trial", "claim", "heartbeat", "leases", "requeue",
               "requeue_stale", "best_trials", "metric_values", "worker_counts")
class SQLStore(LeaseMethods, PoolMethods, SchemaMethods, SummaryMethods, TableMethods):
    """The SQL store. ``SQLStore("sqlite:///nasforge.db")``; see `nasforge.store.base`.

    `url` has its password hidden. With ``create=False`` a missing store is an error rather
    than being created; with ``readonly=True`` nothing is ever written (no migration, writes
    raise StoreError; see `nasforge.store.engine`). Thread-safe: one instance may serve many
    threads. Opening, and any call, that finds the database server down or loses its
    connection (a restart) is retried for up to `retry_seconds` (0: not at all); see
    `nasforge.store.retry`.
    """

    def __init__(self, url: str, create: bool = True, retry_seconds: float = 60.0, *,
                 readonly: bool = False) -> None:
        self.url = safe_url(url) if isinstance(url, str) else repr(url)
        self._closed = False
        if isinstance(retry_seconds, bool) or not isinstance(retry_seconds, (int, float)) \
                or not retry_seconds >= 0:
            raise StoreError(f"retry_seconds {retry_seconds!r} must be a number of seconds "
                             ">= 0 (0: do not retry on a dropped connection).")
        self._retry_seconds = float(retry_seconds)
        db = retry_open(self.url, self._retry_seconds,
                        lambda: open_database(url, create, readonly=readonly))
        self._engine, self._read, self._write = db.engine, db.read, db.write
        self._pg, self._readonly, self._missing = (db.backend == "postgresql", db.readonly,
                                                   db.missing)
        self.upgrade_note = db.note  #: read-only at an older schema: how to upgrade; else None
        self._search_ids: dict[str, int] = {}  # search name -> row id (searches stay)
        self._search_cols = readable(searches.columns, db.missing)
        self._trial_cols = readable(_TRIAL_COLS, db.missing)
        # one shared in-memory connection: serialise its users
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if db.memory else contextlib.nullcontext())

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; keep to the methods otherwise)."""
        return self._engine

    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[Connection]:
        if self._closed:
            raise StoreError(f"The store {self.url} is closed; open it again with "
                             "open_store(url).")
        if write and self._readonly:
            raise StoreError(f"The store {self.url} was opened read-only (to read it without "
                             "changing it); nothing was written. Open it with "
                             "open_store(url) to write.")
        with self._lock, translate_errors(self.url), (
                self._write if write else self._read).begin() as conn:
            yield conn

    # searches ----------------------------------------------------------------
    def _search_id(self, conn: Connection, name: str, lock: bool = False) -> int:
        locking = lock and self._pg
        if not locking and name in self._search_ids:  # never deleted: the id stays valid
            return self._search_ids[name]
        stmt = _SEARCH_ID.with_for_update(key_share=True) if locking else _SEARCH_ID
        sid = conn.execute(stmt, {"name": name}).scalar()
        if sid is None:
            raise self._not_found(conn, name)
        self._search_ids[name] = int(sid)
        return int(sid)

    def _not_found(self, conn: Connection, name: str) -> SearchNotFoundError:
        names = conn.execute(select(searches.c.name)).scalars().all()
        if not names:
            return SearchNotFoundError(
                f"There is no search named {name!r} in the store {self.url}; it holds no "
                "searches yet. Start one with `nasforge search`.")
        ranked = sorted(names, key=lambda n: -difflib.SequenceMatcher(None, name, n).ratio())
        shown = ", ".join(repr(n) for n in ranked[:20])
        more = f" and {len(ranked) - 20} more" if len(ranked) > 20 else ""
        return SearchNotFoundError(
            f"There is no search named {name!r} in the store {self.url}. Searches there "
            f"(nearest first): {shown}{more}. Use one of these names or pass --storage.")

    def _counts(self, conn: Connection, sid: int | None) -> dict[int, dict[str, int]]:
        stmt = _COUNTS if sid is None else _COUNTS.where(trials.c.search_id == sid)
        counts: dict[int, dict[str, int]] = {}
        for search_id, state, count in conn.execute(stmt):
            counts.setdefault(search_id, {})[state] = int(count)
        return counts

    def create_search(self, name: str, objectives: Sequence[Objective], budget: int,
                      config: Mapping[str, object], *,
                      data_fingerprint: Mapping[str, object] | None = None) -> SearchRecord:
        """Create a search (with its data's fingerprint, if given); SearchExistsError if taken."""
        R.check_name("search name", name)
        objs = R.check_objectives(objectives)
        budget, config_text, created_at = R.check_budget(budget), R.dump_config(config), _now()
        row = {"name": name, "objectives": R.dump_objectives(objs),
               "budget": budget, "config": config_text,
               "created_at": created_at, "data_fingerprint": None if data_fingerprint is None
               else R.dump_config(data_fingerprint)}
        exists = SearchExistsError(
            f"A search named {name!r} already exists in the store {self.url}; pass --resume "
            "to continue it, or choose another --name.")
        try:
            with self._tx(write=True) as conn:
                if conn.execute(_SEARCH_ID, {"name": name}).first() is not None:
                    if after_disconnect():  # did our lost COMMIT go through?
                        mine = self._get_search(conn, name)
                        if (mine.created_at == created_at and mine.budget == budget
                                and mine.objectives == objs
                                and R.dump_config(mine.config) == config_text):
                            return mine
                    raise exists
                conn.execute(insert(searches), row)
        except IntegrityError as err:  # a concurrent create on PostgreSQL
            raise exists from err
        return SearchRecord(name, objs, budget, json.loads(config_text), created_at, {})

    def get_search(self, name: str) -> SearchRecord:
        """The search with its trial counts per state; SearchNotFoundError if absent."""
        with self._tx(write=False) as conn:
            return self._get_search(conn, name)

    def _get_search(self, conn: Connection, name: str) -> SearchRecord:
        row = conn.execute(select(*self._search_cols).where(searches.c.name == name)).first()
        if row is None:
            raise self._not_found(conn, name)
        return R.search_record(row, self._counts(conn, row.id).get(row.id, {}))

    def list_searches(self) -> list[SearchRecord]:
        """Every search, oldest first, with trial counts."""
        with self._tx(write=False) as conn:
            rows = conn.execute(select(*self._search_cols).order_by(searches.c.created_at,
                                                                    searches.c.id)).all()
            counts = self._counts(conn, None)
        return [R.search_record(row, counts.get(row.id, {})) for row in rows]

    def set_budget(self, name: str, budget: int) -> SearchRecord:
        """Change the budget of a search (to extend it on resume)."""
        R.check_budget(budget)
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name, lock=True)
            conn.execute(update(searches).where(searches.c.id == sid).values(budget=budget))
            return self._get_search(conn, name)

    # trials ------------------------------------------------------------------
    def add_trials(self, name: str, archs: Sequence[Architecture],
                   state: TrialState = TrialState.WAITING,
                   worker: str | None = None, *, limit: int | None = None,
                   unique: bool = False) -> list[TrialRecord]:
        """Append trials (WAITING, or RUNNING when the caller evaluates them itself).

        RUNNING trials get `started_at` and `worker`; WAITING ones get them when claimed.
        `limit`: the most trials the search may hold; only the first archs that fit are
        added (checked in the same transaction, so workers sharing a budget never overshoot
        it); the records returned say which. `unique`: leave out architectures (by
        arch_id) the search already holds, so workers proposing alike never train one twice.
        """
        state = TrialState(state)
        if state not in (TrialState.WAITING, TrialState.RUNNING):
            raise StoreError(f"New trials are WAITING or RUNNING, not {state.value}; add them "
                             "RUNNING and `finish` them with the result.")
        archs = list(archs)
        for arch in archs:
            if not isinstance(arch, Architecture):
                raise TypeError(f"add_trials takes Architecture values, got {arch!r}.")
        running = state is TrialState.RUNNING
        if running and worker is not None:
            R.check_name("worker", worker)
        now = _now()
        started = now if running else None
        who = worker if running else None
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name, lock=True)  # PostgreSQL: serialise numbering
            if unique and archs:
                archs = unseen(conn, sid, archs, now)
            if archs and after_disconnect():  # did our lost COMMIT go through?
                mine = committed_earlier(conn, name, sid, archs, now, state, who)
                if mine:
                    return mine
            first = int(conn.execute(_NEXT_NUMBER, {"sid": sid}).scalar_one())
            if limit is not None:  # numbers are 0.. and never reused: `first` trials exist
                archs = archs[:max(0, int(limit) - first)]
            if archs:
                conn.execute(_INSERT_TRIAL, [
                    {"search_id": sid, "number": first + i, "arch_json": arch.json,
                     "arch_id": arch.arch_id, "state": state.value, "error": None,
                     "worker": who, "created_at": now, "started_at": started,
                     "finished_at": None, "heartbeat_at": started}
                    for i, arch in enumerate(archs)])
        return [TrialRecord(name, first + i, arch, state, created_at=now, started_at=started,
                            worker=who) for i, arch in enumerate(archs)]

    def finish(self, name: str, number: int, result: EvalResult,
               worker: str | None = None) -> TrialRecord:
        """Record the result of a RUNNING trial: state, metrics, curve, error, in one
        transaction. StoreError (and nothing changed) if the trial is not RUNNING; with
        `worker`, LeaseLostError if that worker no longer holds it (it was re-queued)."""
        if not isinstance(result, EvalResult):
            raise TypeError(f"finish takes an EvalResult, got {result!r}.")
        curve = R.check_curve(result.curve)
        metric_rows = R.metric_rows(result.metrics)
        checkpoint = R.check_checkpoint(result.checkpoint)
        now = _now()
        params = {"n": number, "state": result.state.value, "error": result.error,
                  "checkpoint": checkpoint, "now": now}
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            if not after_disconnect():  # the common case: one UPDATE; else find out why not
                # the worker is checked on the row returned (a refusal rolls the UPDATE
                # back): in the WHERE, PostgreSQL may plan it through (search_id, worker,
                # state), whose dead entries of finished trials grow with the history
                row = conn.execute(FINISH_RUNNING, {**params, "sid": sid}).first()
                if row is not None and worker is not None and row.worker != worker:
                    raise lease_lost(name, number, _RUNNING, row.worker, worker)
                if row is not None:
                    insert_results(conn, row.id, metric_rows, curve)
                    return R.trial_record(name, row, state=result.state,
                                          metrics=result.metrics, curve=curve,
                                          error=result.error, finished_at=now,
                                          checkpoint=checkpoint)
            stmt = TRIAL_BY_NUMBER.with_for_update() if self._pg else TRIAL_BY_NUMBER
            row = conn.execute(stmt, {"sid": sid, "number": number}).first()
            if row is None:
                raise self._no_trial(name, number)
            if worker is not None and (row.state == _WAITING or row.worker != worker):
                raise lease_lost(name, number, row.state, row.worker, worker)
            mine = (row.state == result.state.value and row.finished_at == now
                    and after_disconnect())  # our lost COMMIT went through
            if row.state != _RUNNING and not mine:
                raise self._not_running(name, number, row.state, "finished")
            if not mine:
                done = conn.execute(FINISH, {"tid": row.id, "state": result.state.value,
                                             "error": result.error, "checkpoint": checkpoint,
                                             "now": now})
                if done.rowcount != 1:  # cannot happen under the lock; never write half
                    raise self._not_running(name, number, "changed", "finished")
                insert_results(conn, row.id, metric_rows, curve)
        return R.trial_record(name, row, state=result.state, metrics=result.metrics,
                              curve=curve, error=result.error, finished_at=now,
                              checkpoint=checkpoint)

    def clear_checkpoints(self, name: str, numbers: Iterable[int]) -> list[int]:
        """Forget the checkpoint paths of the numbered trials (before their files are
        deleted); returns the numbers that had one. The one change a finished trial allows."""
        wanted = sorted({int(n) for n in numbers})
        if not wanted:
            return []
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            cleared = conn.execute(
                update(trials).where(trials.c.search_id == sid, trials.c.number.in_(wanted),
                                     trials.c.checkpoint.is_not(None))
                .values(checkpoint=None).returning(trials.c.number)).scalars().all()
        return sorted(cleared)

    def _check_worker(self, worker: object) -> str:
        return R.check_name("worker", worker)

    def _no_trial(self, name: str, number: int) -> StoreError:
        return StoreError(f"Search {name!r} in the store {self.url} has no trial {number!r}; "
                          "trial numbers start at 0 (see `nasforge show`).")

    @staticmethod
    def _not_running(name: str, number: int, state: str, verb: str) -> StoreError:
        if state in (s.value for s in TrialState if s.is_finished):
            why = "finished trials are immutable"
        else:
            why = "only RUNNING trials can be " + verb
        return StoreError(f"Trial {number} of search {name!r} is {state}, not RUNNING: {why}. "
                          "Nothing was changed.")

    def trials(self, name: str, states: Iterable[TrialState] | None = None,
               with_curves: bool = False, *, numbers: Iterable[int] | None = None,
               after: int | None = None) -> list[TrialRecord]:
        """Trials of a search ordered by number, optionally filtered by state, by number
        (`numbers`) and to those numbered above `after`. Metrics come in one query; curves
        only when asked for (they are the bulk of the data)."""
        wanted = None if states is None else sorted({TrialState(s).value for s in states})
        picked = None if numbers is None else sorted({int(n) for n in numbers})
        if picked == []:
            return []
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            where = [trials.c.search_id == sid]
            if wanted is not None:
                where.append(trials.c.state.in_(wanted))
            if picked is not None:
                where.append(trials.c.number.in_(picked))
            if after is not None:
                where.append(trials.c.number > int(after))
            rows = conn.execute(select(*self._trial_cols).where(*where)
                                .order_by(trials.c.number)).all()
            if not rows:
                return []
            metrics = R.group_metrics(conn.execute(
                select(trial_metrics.c.trial_id, trial_metrics.c.name, trial_metrics.c.value)
                .join(trials, trials.c.id == trial_metrics.c.trial_id).where(*where)))
            curves: dict[int, tuple[CurvePoint, ...]] = {}
            if with_curves:
                curves = R.group_curves(conn.execute(
                    select(curve_points.c.trial_id, curve_points.c.epoch, curve_points.c.name,
                           curve_points.c.value)
                    .join(trials, trials.c.id == curve_points.c.trial_id).where(*where)
                    .order_by(curve_points.c.trial_id, curve_points.c.epoch)))
        return [R.trial_record(name, r, metrics=metrics.get(r.id, {}),
                               curve=curves.get(r.id, ())) for r in rows]

    def trial(self, name: str, number: int) -> TrialRecord:
        """One trial with its metrics and curve; StoreError if absent."""
        with self._tx(write=False) as conn:
            row: Row[Any] | None = conn.execute(
                select(*self._trial_cols).join(searches, searches.c.id == trials.c.search_id)
                .where(searches.c.name == name, trials.c.number == number)).first()
            if row is None:
                self._search_id(conn, name)  # SearchNotFoundError for an unknown search
                raise self._no_trial(name, number)
            metrics = R.group_metrics(conn.execute(
                select(trial_metrics.c.trial_id, trial_metrics.c.name, trial_metrics.c.value)
                .where(trial_metrics.c.trial_id == row.id)))
            curves = R.group_curves(conn.execute(
                select(curve_points.c.trial_id, curve_points.c.epoch, curve_points.c.name,
                       curve_points.c.value)
                .where(curve_points.c.trial_id == row.id).order_by(curve_points.c.epoch)))
        return R.trial_record(name, row, metrics=metrics.get(row.id, {}),
                              curve=curves.get(row.id, ()))

    def close(self) -> None:
        """Release the connections; later calls raise StoreError. Closing twice is fine."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()
