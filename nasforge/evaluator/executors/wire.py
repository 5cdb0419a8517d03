"""Results across a process boundary (pool workers' pipes, Ray actors): an `EvalResult` as
plain JSON-like values, since the frozen records hold read-only mappings, which do not
pickle."""

from __future__ import annotations

from nasforge.records import CurvePoint, EvalResult, TrialState


def result_to_wire(result: EvalResult) -> tuple:
    return (result.state.value, dict(result.metrics),
            [(point.epoch, dict(point.metrics)) for point in result.curve], result.error,
            result.checkpoint)


def result_from_wire(wire: tuple) -> EvalResult:
    state, metrics, curve, error, *rest = wire  # 4-tuples: from before checkpoints
    return EvalResult(TrialState(state), metrics,
                      tuple(CurvePoint(epoch, values) for epoch, values in curve), error,
                      rest[0] if rest else None)
