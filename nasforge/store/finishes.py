"""The statements `SQLStore.finish` runs: one UPDATE of a trial still RUNNING that returns
the row (whose worker the caller checks), then its metrics and curve points; the
slower path (read the row, then update it by id) finds out why a trial cannot be finished
and recognises a retried call whose COMMIT went through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from nasforge.errors import LeaseLostError
from nasforge.records import CurvePoint, TrialState
from nasforge.store import rows as R
from nasforge.store.schema import curve_points, trial_metrics, trials

_RUNNING = TrialState.RUNNING.value
_TRIAL_COLS = (trials.c.id, trials.c.number, trials.c.arch_json, trials.c.state,
               trials.c.error, trials.c.worker, trials.c.created_at, trials.c.started_at,
               trials.c.finished_at, trials.c.checkpoint)
_INSERT_METRIC = insert(trial_metrics)
_INSERT_POINT = insert(curve_points)
TRIAL_BY_NUMBER = select(*_TRIAL_COLS).where(trials.c.search_id == bindparam("sid"),
                                             trials.c.number == bindparam("number"))
FINISH = (update(trials)
          .where(trials.c.id == bindparam("tid"), trials.c.state == _RUNNING)
          .values(state=bindparam("state"), error=bindparam("error"),
                  checkpoint=bindparam("checkpoint"), finished_at=bindparam("now"),
                  heartbeat_at=bindparam("now")))
#: finish's one statement when the trial is still RUNNING (the caller checks its worker)
FINISH_RUNNING = (update(trials)
                  .where(trials.c.search_id == bindparam("sid"),
                         trials.c.number == bindparam("n"), trials.c.state == _RUNNING)
                  .values(state=bindparam("state"), error=bindparam("error"),
                          checkpoint=bindparam("checkpoint"), finished_at=bindparam("now"),
                          heartbeat_at=bindparam("now"))
                  .returning(*_TRIAL_COLS))


def insert_results(conn: Connection, trial_id: int, metric_rows: list[dict[str, Any]],
                   curve: tuple[CurvePoint, ...]) -> None:
    """The metrics and curve points of a trial being finished."""
    if metric_rows:
        conn.execute(_INSERT_METRIC, [{"trial_id": trial_id, **m} for m in metric_rows])
    points = R.curve_rows(trial_id, curve)
    if points:
        conn.execute(_INSERT_POINT, points)


def lease_lost(name: str, number: int, state: str, holder: str | None,
               worker: str) -> LeaseLostError:
    """The refusal of `worker`'s result for a trial it no longer holds."""
    return LeaseLostError(
        f"Trial {number} of search {name!r} was re-queued (its heartbeat went stale); it "
        f"is {state} with worker {holder!r}, so the result of {worker!r} was dropped. "
        "Nothing was changed; raise the heartbeat timeout if healthy workers lose trials.")
