"""The part of `SQLStore` that answers `nasforge list` and `nasforge show` without reading
every trial of a search: the best trial of each objective from SQL aggregates, the values of
a few metrics (the front is computed from those), and trials per worker."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import FromClause, and_, func, select

from nasforge.best import best_trial
from nasforge.records import TrialRecord, TrialState
from nasforge.store.schema import trial_metrics, trials
from nasforge.store.sql_host import SQLHost
from nasforge.store.sql_tables import fetch_all

if TYPE_CHECKING:
    from nasforge.records import SearchRecord

_COMPLETE = TrialState.COMPLETE.value
_WAITING = TrialState.WAITING.value
_FINISHED = tuple(s.value for s in TrialState if s.is_finished)


class SummaryMethods(SQLHost):
    """best_trials, metric_values, worker_counts (mixed into `SQLStore`)."""

    if TYPE_CHECKING:
        def get_search(self, name: str) -> SearchRecord: ...

        def trials(self, name: str, states: Iterable[TrialState] | None = None,
                   with_curves: bool = False, *, numbers: Iterable[int] | None = None,
                   after: int | None = None) -> list[TrialRecord]: ...

    def best_trials(self, name: str) -> dict[str, TrialRecord]:
        """For each objective of the search (keyed by ``str(objective)``), the COMPLETE trial
        with the best finite value, ties broken as `nasforge.best.best_trial` breaks them;
        objectives no COMPLETE trial has a finite value of are left out. The best value is
        the first row of the metric's index in that direction, and only the trials that reach it
are read (no curves)."""
        search = self.get_search(name)
        tied: dict[str, list[int]] = {}
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            for objective in search.objectives:
                finite = (trials.c.search_id == sid, trials.c.state == _COMPLETE,
                          trial_metrics.c.name == objective.metric,
                          trial_metrics.c.value.is_not(None),
                          trial_metrics.c.value > -math.inf, trial_metrics.c.value < math.inf)
                # best end first: the (name, value) index walks there and stops at once
                order = (trial_metrics.c.value.desc() if objective.sign() > 0
                         else trial_metrics.c.value.asc())
                top = conn.execute(
                    select(trial_metrics.c.value)
                    .join(trials, trials.c.id == trial_metrics.c.trial_id).where(*finite)
                    .order_by(order).limit(1)).scalar()
                if top is None:
                    continue
                tied[str(objective)] = list(conn.execute(
                    select(trials.c.number)
                    .join(trial_metrics, trials.c.id == trial_metrics.c.trial_id)
                    .where(trials.c.search_id == sid, trials.c.state == _COMPLETE,
                           trial_metrics.c.name == objective.metric,
                           trial_metrics.c.value == top)).scalars())  # finite: one lookup
        numbers = {n for ns in tied.values() for n in ns}
        records = self.trials(name, [TrialState.COMPLETE], numbers=numbers) if numbers else []
        best: dict[str, TrialRecord] = {}
        for objective in search.objectives:
            wanted = set(tied.get(str(objective), ()))
            chosen = best_trial([t for t in records if t.number in wanted], objective,
                                search.objectives)
            if chosen is not None:
                best[str(objective)] = chosen
        return best

    def metric_values(self, name: str, metrics: Sequence[str]
                      ) -> tuple[list[int], dict[str, list[float]]]:
        """The numbers of the search's COMPLETE trials (ascending) and, per metric of
        `metrics`, each one's value in that order (NaN where it is NaN or missing). One row
        per trial (a left join per metric), never whole trials."""
        wanted = list(dict.fromkeys(str(m) for m in metrics))
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            joined: FromClause = trials
            columns: list[Any] = []
            for i, metric in enumerate(wanted):
                alias = trial_metrics.alias(f"m{i}")
                joined = joined.outerjoin(alias, and_(alias.c.trial_id == trials.c.id,
                                                      alias.c.name == metric))
                columns.append(alias.c.value)
            rows = fetch_all(conn, select(trials.c.number, *columns).select_from(joined)
                              .where(trials.c.search_id == sid, trials.c.state == _COMPLETE)
                              .order_by(trials.c.number))
        if not rows:
            return [], {metric: [] for metric in wanted}
        numbers, *values = (list(column) for column in zip(*rows, strict=True))
        return numbers, {metric: [math.nan if v is None else float(v) for v in column]
                         for metric, column in zip(wanted, values, strict=True)}

    def worker_counts(self, name: str) -> dict[str, dict[str, int]]:
        """Per worker that holds or ran trials of the search (sorted by name): how many it
        finished and how many it holds (RUNNING) now; one GROUP BY."""
        counts: dict[str, dict[str, int]] = {}
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            rows = conn.execute(
                select(trials.c.worker, trials.c.state, func.count())
                .where(trials.c.search_id == sid, trials.c.worker.is_not(None),
                       trials.c.state != _WAITING)
                .group_by(trials.c.worker, trials.c.state))
            for worker, state, count in rows:
                row = counts.setdefault(worker, {"finished": 0, "running": 0})
                row["finished" if state in _FINISHED else "running"] += int(count)
        return dict(sorted(counts.items()))
