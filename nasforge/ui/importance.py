"""Parameter importance of a search, by Optuna's evaluators on an in-memory study filled
from a trials frame (`queries.trials_frame`). Optuna is imported only when asked."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import pandas as pd

from nasforge.objectives import Objective
from nasforge.records import TrialState
from nasforge.ui.queries import PARAM_PREFIX, param_columns

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: fANOVA's cost grows with the trials; a seeded sample of this many keeps it ~1 s.
MAX_TRIALS = 1000


def _distribution(values: pd.Series) -> BaseDistribution | None:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    distinct = values.drop_duplicates().tolist()
    if len(distinct) < 2:
        return None  # a constant tells nothing
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in distinct)
    if numeric and all(float(v).is_integer() and not isinstance(v, float) for v in distinct):
        return IntDistribution(int(min(distinct)), int(max(distinct)))
    if numeric:
        return FloatDistribution(float(min(distinct)), float(max(distinct)))
    return CategoricalDistribution(sorted(str(v) for v in distinct))


def param_importances(frame: pd.DataFrame, objective: Objective, *, seed: int = 0,
                      evaluator: str = "fanova") -> pd.DataFrame:
    """Importance of each parameter (column ``param``, without the prefix) for `objective`,
    normalised to sum 1, largest first (columns param, importance). Parameters that some
    trials lack (conditional ones) or that never vary are left out; an empty frame when
    fewer than two COMPLETE trials have the objective. `evaluator`: "fanova" or
    "mean_decrease_impurity"."""
    import optuna
    from optuna.importance import (
        FanovaImportanceEvaluator,
        MeanDecreaseImpurityImportanceEvaluator,
    )

    empty = pd.DataFrame({"param": [], "importance": []})
    if objective.metric not in frame:
        return empty
    done = frame[(frame["state"] == TrialState.COMPLETE.value) & frame[objective.metric].notna()]
    if len(done) > MAX_TRIALS:
        done = done.sample(MAX_TRIALS, random_state=seed)
    columns = [c for c in param_columns(done) if done[c].notna().all()]
    distributions = {c: d for c in columns if (d := _distribution(done[c])) is not None}
    if len(done) < 2 or not distributions:
        return empty
    study = optuna.create_study(direction="maximize" if objective.direction == "max"
                                else "minimize")
    for _, row in done.iterrows():
        params = {c: (str(row[c]) if type(d).__name__ == "CategoricalDistribution"
                      else row[c].item() if hasattr(row[c], "item") else row[c])
                  for c, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, value=float(row[objective.metric])))
    chosen = (FanovaImportanceEvaluator(seed=seed) if evaluator == "fanova"
              else MeanDecreaseImpurityImportanceEvaluator(seed=seed))
    scores = optuna.importance.get_param_importances(study, evaluator=chosen)
    return pd.DataFrame({"param": [k[len(PARAM_PREFIX):] for k in scores],
                         "importance": list(scores.values())})
