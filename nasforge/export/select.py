"""Which trials of a search to export: one by number, the best by an objective, or the
Pareto front of the search's objectives. Torch-free."""

from __future__ import annotations

from nasforge.best import best_trial
from nasforge.errors import ConfigError, NasforgeError
from nasforge.records import TrialRecord, TrialState
from nasforge.store.base import Store
from nasforge.strategies.pareto import pareto_front


class TrialChoiceError(NasforgeError):
    """The requested trial cannot be exported (absent, not COMPLETE, no such objective)."""


def choose_trials(store: Store, name: str, *, trial: int | None = None,
                  best: str | None = None, pareto: bool = False) -> list[TrialRecord]:
    """The COMPLETE trials to export, in trial order; exactly one way of choosing."""
    if sum((trial is not None, best is not None, pareto)) != 1:
        raise ConfigError("Choose what to export with exactly one of --trial N, --best METRIC "
                          "or --pareto.")
    record = store.get_search(name)  # SearchNotFoundError names the search
    if trial is not None:
        chosen = store.trial(name, trial)
        if chosen.state is not TrialState.COMPLETE:
            raise TrialChoiceError(
                f"Trial {trial} of search {name!r} is {chosen.state.value}, not COMPLETE; "
                "only completed trials can be exported (see `nasforge show "
                f"{name}`).")
        return [chosen]
    complete = store.trials(name, [TrialState.COMPLETE])
    if best is not None:
        objective = next((o for o in record.objectives if o.metric == best), None)
        if objective is None:
            raise TrialChoiceError(
                f"--best {best!r}: not an objective of search {name!r}, so it has no "
                f"direction; use one of {', '.join(o.metric for o in record.objectives)}, "
                "or --trial N.")
        top = best_trial(complete, objective, record.objectives)
        if top is None:
            raise TrialChoiceError(f"Search {name!r} has no COMPLETE trial with metric "
                                   f"{best!r} to export.")
        return [top]
    usable = [t for t in complete if all(o.metric in t.metrics for o in record.objectives)]
    front = pareto_front([t.metrics for t in usable], record.objectives)
    if not front:
        raise TrialChoiceError(f"Search {name!r} has no COMPLETE trial to export.")
    return sorted((usable[i] for i in front), key=lambda t: t.number)
