"""What `SQLStore.add_trials` checks inside its transaction before it appends: which of the
architectures a search already holds (`unique`), and whether an earlier attempt of this very
call committed before its connection dropped (`committed_earlier`). Both recognise that
attempt by its timestamp: every attempt of one call shares one `now`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store.schema import trials

_TRIAL_COLS = (trials.c.id, trials.c.number, trials.c.arch_json, trials.c.state,
               trials.c.error, trials.c.worker, trials.c.created_at, trials.c.started_at,
               trials.c.finished_at, trials.c.checkpoint)

_HELD = select(trials.c.arch_id).where(  # built once: the per-call cost is the query alone
    trials.c.search_id == bindparam("sid"),
    trials.c.arch_id.in_(bindparam("ids", expanding=True)),
    trials.c.created_at != bindparam("now"))


def unseen(conn: Connection, sid: int, archs: list[Architecture],
           now: datetime) -> list[Architecture]:
    """`archs` without those the search already holds (added by any other call: trials
    created at `now` are this call's own) and without repeats, in order."""
    ids = sorted({a.arch_id for a in archs})
    held = set(conn.execute(_HELD, {"sid": sid, "ids": ids, "now": now}).scalars())
    out = []
    for arch in archs:
        if arch.arch_id not in held:
            held.add(arch.arch_id)
            out.append(arch)
    return out


def committed_earlier(conn: Connection, name: str, sid: int, archs: list[Architecture],
                      now: datetime, state: TrialState, who: str | None) -> list[TrialRecord]:
    """The trials an earlier attempt of this add_trials committed, or []."""
    rows = conn.execute(select(*_TRIAL_COLS).where(
        trials.c.search_id == sid, trials.c.created_at == now)
        .order_by(trials.c.number)).all()
    # claimed or finished since, maybe: match by creation time and architectures (a
    # prefix of them when `limit` cut the list)
    archs = archs[:len(rows)]
    if [r.arch_json for r in rows] != [a.json for a in archs]:
        return []
    started = now if state is TrialState.RUNNING else None
    return [TrialRecord(name, r.number, arch, state, created_at=now, started_at=started,
                        worker=who) for r, arch in zip(rows, archs, strict=True)]
