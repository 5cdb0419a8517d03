"""The best trial by one objective, as `nasforge show` reports it and `nasforge export --best`
exports it. Torch-free."""

from __future__ import annotations

import math
from collections.abc import Sequence

from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState


def best_trial(trials: Sequence[TrialRecord], objective: Objective,
               objectives: Sequence[Objective]) -> TrialRecord | None:
    """The COMPLETE trial with the best finite value of `objective`, or None.

    Ties are broken by the other `objectives`, in their order (a missing or NaN value counts
    as the worst), then by the lowest trial number. So the chosen trial is never one that an
    equally good trial dominates on the other objectives.
    """
    others = [o for o in objectives if o.metric != objective.metric]

    def value(trial: TrialRecord, o: Objective) -> float:
        v = trial.metrics.get(o.metric, math.nan)
        return o.sign() * v if math.isfinite(v) else -math.inf

    scored = [t for t in trials if t.state is TrialState.COMPLETE
              and math.isfinite(t.metrics.get(objective.metric, math.nan))]
    if not scored:
        return None
    return max(scored, key=lambda t: (value(t, objective), *(value(t, o) for o in others),
                                      -t.number))
