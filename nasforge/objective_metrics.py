"""Objectives against what an evaluator really returns.

A search whose objective names a metric the evaluator never returns would otherwise finish
with COMPLETE trials and an empty Pareto front. The search loop checks each finished result:
the first COMPLETE one lacking an objective metric is stored FAILED with the reason below,
and the search stops with `MissingMetricError` (exit code 2 from the CLI).
Not the metric names themselves: those are `nasforge.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

from nasforge.errors import NasforgeError
from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialState


class MissingMetricError(NasforgeError):
    """An objective names a metric that the evaluator did not return."""


def missing_objective(result: EvalResult, objectives: Sequence[Objective]) -> str | None:
    """Why `result` cannot be ranked (an objective metric it lacks), or None when it can.
    Only COMPLETE results are checked: FAILED and PRUNED ones need not carry metrics."""
    if result.state is not TrialState.COMPLETE:
        return None
    missing = [o.metric for o in objectives if o.metric not in result.metrics]
    if not missing:
        return None
    returned = ", ".join(repr(m) for m in sorted(result.metrics)) or "none"
    return (f"objective metric {', '.join(map(repr, missing))} was not returned by the "
            f"evaluator (it returned: {returned}); name a returned metric in [search] "
            "objectives, or make the evaluator return it.")


__all__ = ["MissingMetricError", "missing_objective"]
