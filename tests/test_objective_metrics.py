"""An objective naming a metric the evaluator never returns fails the search loudly at the
first finished trial, which is stored FAILED with that reason (no search of COMPLETE trials
with an empty front)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nasforge.config import from_dict
from nasforge.errors import NasforgeError
from nasforge.objective_metrics import MissingMetricError, missing_objective
from nasforge.objectives import parse_objectives
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store

RAW = {
    "search": {"name": "s", "budget": 4, "batch": 2,
               "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu"], "norm": ["none"], "lr": 0.01,
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}


class LossOnlyEvaluator:
    """Returns `loss` and `params` but never `accuracy`."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return [EvalResult(TrialState.COMPLETE, {"loss": 0.5, "params": 10.0}) for _ in archs]


def test_missing_objective_names_the_metric_and_what_was_returned():
    objectives = parse_objectives(["accuracy:max", "params:min"])
    message = missing_objective(EvalResult(TrialState.COMPLETE, {"loss": 0.5, "params": 1.0}),
                                objectives)
    assert message is not None
    assert "'accuracy'" in message and "loss" in message and "params" in message
    assert missing_objective(EvalResult(TrialState.COMPLETE, {"accuracy": 1.0, "params": 1.0}),
                             objectives) is None
    assert missing_objective(EvalResult.failed("diverged"), objectives) is None


def test_search_fails_loudly_and_stores_the_trials_failed(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with pytest.raises(MissingMetricError) as err:
            Search(from_dict(RAW), store, LossOnlyEvaluator()).run()
        assert isinstance(err.value, NasforgeError)
        assert "'accuracy'" in str(err.value) and "loss" in str(err.value)
        trials = store.trials("s")
        assert trials, "the trials of the failing batch are kept"
        assert all(t.state is TrialState.FAILED for t in trials)
        assert all("'accuracy'" in (t.error or "") for t in trials)
        assert trials[0].metrics["loss"] == 0.5  # the returned metrics are kept too
    finally:
        store.close()
