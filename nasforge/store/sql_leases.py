"""Who runs which trial: claims, heartbeats and re-queues of the SQL store (a mixin of
`SQLStore`, which provides `_tx`, `_search_id`, `_pg` and the error helpers).

Lifecycle of a lease: `claim` (or `add_trials(..., RUNNING, worker)`) gives a worker a trial
with a fresh `heartbeat_at`; the worker's `heartbeat` refreshes it while it evaluates;
`finish(..., worker=)` ends it. A worker that dies stops beating: another process sees the
same `heartbeat_at` in `leases` for longer than its timeout (by its own clock) and calls
`requeue_stale` with what it saw. That is a compare-and-swap: a trial whose heartbeat moved
on in the meantime stays where it is, so a slow but living worker is never robbed.

Across a dropped connection (see `nasforge.store.retry`) `claim` is retried; if the COMMIT
of the attempt that died went through, the retry finds the trials it claimed (RUNNING,
that worker, ``started_at`` the call's time) and returns them rather than claiming more.
Even if that failed, they would only stay RUNNING under the worker until `requeue_stale`
(or the resume of the search) sends them back. `heartbeat`, `requeue` and `requeue_stale`
are safe to repeat; a repeat after a lost COMMIT may return fewer numbers (those it moved
the first time are not moved again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from nasforge.records import Lease, TrialRecord, TrialState
from nasforge.store import rows as R
from nasforge.store.retry import after_disconnect, call_now
from nasforge.store.schema import trials
from nasforge.store.sql_host import SQLHost

_RUNNING = TrialState.RUNNING.value
_WAITING = TrialState.WAITING.value
_TRIAL_COLS = (trials.c.id, trials.c.number, trials.c.arch_json, trials.c.state,
               trials.c.error, trials.c.worker, trials.c.created_at, trials.c.started_at,
               trials.c.finished_at, trials.c.checkpoint)
_RELEASED = {"state": _WAITING, "worker": None, "started_at": None, "heartbeat_at": None}


def _now() -> datetime:
    return call_now()  # one time for all attempts of a retried call


class LeaseMethods(SQLHost):
    """claim / heartbeat / leases / requeue / requeue_stale; see the module docstring."""

    def claim(self, name: str, n: int, worker: str | None = None) -> list[TrialRecord]:
        """Atomically move up to `n` WAITING trials (lowest numbers first) to RUNNING."""
        if worker is not None:
            self._check_worker(worker)
        if n < 1:
            return []
        now = _now()
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            if after_disconnect():  # did our lost COMMIT go through?
                mine = conn.execute(select(*_TRIAL_COLS).where(
                    trials.c.search_id == sid, trials.c.state == _RUNNING,
                    trials.c.started_at == now,
                    trials.c.worker.is_(None) if worker is None else trials.c.worker == worker)
                    .order_by(trials.c.number).limit(n)).all()
                if mine:
                    return [R.trial_record(name, r) for r in mine]
            stmt = (select(*_TRIAL_COLS)
                    .where(trials.c.search_id == sid, trials.c.state == _WAITING)
                    .order_by(trials.c.number).limit(n))
            if self._pg:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = conn.execute(stmt).all()
            if rows:
                conn.execute(update(trials)
                             .where(trials.c.id.in_([r.id for r in rows]))
                             .values(state=_RUNNING, worker=worker, started_at=now,
                                     heartbeat_at=now))
        return [R.trial_record(name, r, state=TrialState.RUNNING, worker=worker,
                               started_at=now) for r in rows]

    def heartbeat(self, name: str, worker: str,
                  numbers: Iterable[int] | None = None) -> list[int]:
        """Refresh `heartbeat_at` of the RUNNING trials `worker` holds (all, or those
        numbered); returns the numbers it still holds (a missing one was re-queued)."""
        self._check_worker(worker)
        where = [trials.c.state == _RUNNING, trials.c.worker == worker]
        if numbers is not None:
            wanted = sorted({int(n) for n in numbers})
            if not wanted:
                return []
            where.append(trials.c.number.in_(wanted))
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            held = conn.execute(update(trials).where(trials.c.search_id == sid, *where)
                                .values(heartbeat_at=_now())
                                .returning(trials.c.number)).scalars().all()
        return sorted(held)

    def leases(self, name: str) -> list[Lease]:
        """The RUNNING trials of a search, by number, with holder and last heartbeat."""
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            rows = conn.execute(
                select(trials.c.number, trials.c.worker, trials.c.heartbeat_at)
                .where(trials.c.search_id == sid, trials.c.state == _RUNNING)
                .order_by(trials.c.number)).all()
        return [Lease(r.number, r.worker, r.heartbeat_at) for r in rows]

    def requeue(self, name: str, numbers: Iterable[int] | None = None) -> list[int]:
        """Move RUNNING trials (all of the search, or those numbered) back to WAITING;
        returns the numbers moved. StoreError (and nothing moved) if a number is missing
        or finished; numbered trials that are already WAITING are left as they are."""
        wanted = None if numbers is None else sorted({int(n) for n in numbers})
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            where = [trials.c.search_id == sid, trials.c.state == _RUNNING]
            if wanted is not None:
                if not wanted:
                    return []
                stmt = select(trials.c.number, trials.c.state).where(
                    trials.c.search_id == sid, trials.c.number.in_(wanted))
                found = dict(conn.execute(stmt.with_for_update() if self._pg else stmt).all())
                for number in wanted:
                    if number not in found:
                        raise self._no_trial(name, number)
                    if TrialState(found[number]).is_finished:
                        raise self._not_running(name, number, found[number], "re-queued")
                where.append(trials.c.number.in_(wanted))
            moved = conn.execute(update(trials).where(*where).values(**_RELEASED)
                                 .returning(trials.c.number)).scalars().all()
        return sorted(moved)

    def requeue_stale(self, name: str, seen: Mapping[int, Lease]) -> list[int]:
        """Move back to WAITING each trial of `seen` (number -> the lease as seen earlier in
        `leases`) that is still RUNNING with the same worker and heartbeat; returns the
        numbers moved. Trials that beat, finished or changed hands since are left alone."""
        if not seen:
            return []
        match = [and_(trials.c.number == int(number),
                      trials.c.worker.is_(None) if lease.worker is None
                      else trials.c.worker == lease.worker,
                      trials.c.heartbeat_at.is_(None) if lease.heartbeat_at is None
                      else trials.c.heartbeat_at == lease.heartbeat_at)
                 for number, lease in seen.items()]
        with self._tx(write=True) as conn:
            sid = self._search_id(conn, name)
            moved = conn.execute(
                update(trials).where(trials.c.search_id == sid, trials.c.state == _RUNNING,
                                     or_(*match))
                .values(**_RELEASED).returning(trials.c.number)).scalars().all()
        return sorted(moved)
