"""The part of `SQLStore` that answers `nasforge list` from SQL aggregates: the best trial of
each objective without reading every trial of the search."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from nasforge.best import best_trial
from nasforge.records import TrialRecord, TrialState
from nasforge.store.schema import trial_metrics, trials
from nasforge.store.sql_host import SQLHost

if TYPE_CHECKING:
    from nasforge.records import SearchRecord

_COMPLETE = TrialState.COMPLETE.value


class SummaryMethods(SQLHost):
    """best_trials (mixed into `SQLStore`)."""

    if TYPE_CHECKING:
        def get_search(self, name: str) -> SearchRecord: ...

        def trials(self, name: str, states: Iterable[TrialState] | None = None,
                   with_curves: bool = False, *, numbers: Iterable[int] | None = None,
                   after: int | None = None) -> list[TrialRecord]: ...

    def best_trials(self, name: str) -> dict[str, TrialRecord]:
        """For each objective of the search (keyed by ``str(objective)``), the COMPLETE trial
        with the best finite value, ties broken as `nasforge.best.best_trial` breaks them;
        objectives no COMPLETE trial has a finite value of are left out. The best value is
        an aggregate (MAX or MIN) and only the trials that reach it are read (no curves)."""
        search = self.get_search(name)
        tied: dict[str, list[int]] = {}
        with self._tx(write=False) as conn:
            sid = self._search_id(conn, name)
            for objective in search.objectives:
                finite = (trials.c.search_id == sid, trials.c.state == _COMPLETE,
                          trial_metrics.c.name == objective.metric,
                          trial_metrics.c.value.is_not(None),
                          trial_metrics.c.value > -math.inf, trial_metrics.c.value < math.inf)
                pick = func.max if objective.sign() > 0 else func.min
                top = conn.execute(
                    select(pick(trial_metrics.c.value))
                    .join(trials, trials.c.id == trial_metrics.c.trial_id).where(*finite)
                ).scalar()
                if top is None:
                    continue
                tied[str(objective)] = list(conn.execute(
                    select(trials.c.number)
                    .join(trial_metrics, trials.c.id == trial_metrics.c.trial_id)
                    .where(*finite, trial_metrics.c.value == top)).scalars())
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
