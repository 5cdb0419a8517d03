"""What `nasforge show` and `nasforge list` print, as plain data (testable without a terminal).

The keys of `search_report` are a public, stable API: name, objectives, trials (number, state,
arch_id, arch, metrics) and pareto. Later features add keys; none are renamed or removed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

from nasforge.best import best_trial, non_dominated
from nasforge.frozen import thaw
from nasforge.objectives import Objective
from nasforge.records import SearchRecord, TrialRecord, TrialState


class BestTrial(TypedDict):
    """The best trial of one objective (`best_trials`)."""

    number: int
    value: float


class SearchSummary(TypedDict):
    """One row of `nasforge list` (`search_summary`)."""

    name: str
    created_at: str | None
    budget: int
    counts: dict[str, int]
    objectives: list[str]
    best: dict[str, BestTrial]


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def trial_payload(trial: TrialRecord) -> dict[str, object]:
    return {
        "number": trial.number,
        "state": trial.state.value,
        "arch_id": trial.arch_id,
        "arch": dict(trial.arch),
        "metrics": {k: _json_number(v) for k, v in trial.metrics.items()},
        "error": trial.error,
        "worker": trial.worker,
        "started_at": trial.started_at.isoformat() if trial.started_at else None,
        "finished_at": trial.finished_at.isoformat() if trial.finished_at else None,
    }


def pareto_numbers(trials: Sequence[TrialRecord], objectives: Sequence[Objective]) -> list[int]:
    """Numbers of the COMPLETE trials on the Pareto front of `objectives`."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE
                and all(o.metric in t.metrics for o in objectives)]
    columns = [[o.sign() * t.metrics[o.metric] for t in complete] for o in objectives]
    return [complete[i].number for i in non_dominated(columns)]


def best_trials(trials: Sequence[TrialRecord], objectives: Sequence[Objective]
                ) -> dict[str, BestTrial]:
    """For each objective, the COMPLETE trial with the best finite value (ties broken by the
    other objectives: `best.best_trial`, the trial `nasforge export --best` exports)."""
    best: dict[str, BestTrial] = {}
    for objective in objectives:
        top = best_trial(trials, objective, objectives)
        if top is not None:
            best[str(objective)] = {"number": top.number,
                                    "value": top.metrics[objective.metric]}
    return best


def worker_counts(trials: Sequence[TrialRecord]) -> dict[str, dict[str, int]]:
    """Per worker (host:pid) that holds or ran trials: how many it finished and holds now."""
    counts: dict[str, dict[str, int]] = {}
    for trial in trials:
        if trial.worker is None or trial.state is TrialState.WAITING:
            continue
        row = counts.setdefault(trial.worker, {"finished": 0, "running": 0})
        row["finished" if trial.state.is_finished else "running"] += 1
    return dict(sorted(counts.items()))


def search_report(search: SearchRecord, trials: Sequence[TrialRecord], *,
                  payloads: bool = True) -> dict[str, object]:
    """What `nasforge show` prints; with `payloads` False, "trials" is left empty (for the
    caller to fill in with the rows it shows or streams)."""
    return {
        "name": search.name,
        "objectives": [str(o) for o in search.objectives],
        "budget": search.budget,
        "created_at": search.created_at.isoformat() if search.created_at else None,
        "counts": dict(search.trial_counts),
        "best": best_trials(trials, search.objectives),
        "pareto": pareto_numbers(trials, search.objectives),
        "trials": [trial_payload(t) for t in trials] if payloads else [],
        "workers": worker_counts(trials),
        "config": thaw(search.config),
        # search-level findings, e.g. the supernet's kendall_tau, spearman_rho, sample_size
        "diagnostics": thaw(search.diagnostics),
    }


def search_summary(search: SearchRecord, best: Mapping[str, TrialRecord]) -> SearchSummary:
    """One row of `nasforge list`, from the search and its best trials (`Store.best_trials`,
    the same trials `best_trials` picks from the whole list)."""
    return {
        "name": search.name,
        "created_at": search.created_at.isoformat() if search.created_at else None,
        "budget": search.budget,
        "counts": dict(search.trial_counts),
        "objectives": [str(o) for o in search.objectives],
        "best": {str(o): {"number": best[str(o)].number,
                          "value": best[str(o)].metrics[o.metric]}
                 for o in search.objectives if str(o) in best},
    }
