"""The metric names, defined once in `nasforge.metrics`, and their readers agreeing on them."""

from __future__ import annotations

from nasforge import metrics
from nasforge.strategies import halving
from nasforge.ui import queries


def test_every_reported_metric_and_curve_key_is_described() -> None:
    reported = set(metrics.trained_metrics("classification", cuda=True))
    curve = {metrics.TRAIN_LOSS, *metrics.CURVE_KEYS.values()}
    assert reported | curve == set(metrics.DESCRIPTIONS)
    assert metrics.LARGER_IS_BETTER <= set(metrics.DESCRIPTIONS)


def test_what_a_task_reports() -> None:
    regression = metrics.trained_metrics("regression", measure_latency=False)
    assert metrics.ACCURACY not in regression and metrics.LATENCY_MS not in regression
    assert metrics.PEAK_MEMORY_MB not in metrics.trained_metrics("classification")
    assert set(metrics.CURVE_KEYS) <= set(regression) | {metrics.ACCURACY}


def test_the_dashboard_and_halving_read_the_same_names() -> None:
    assert queries.larger_is_better is metrics.larger_is_better
    assert halving.CURVE_KEYS is metrics.CURVE_KEYS
    assert queries.direction_of("accuracy", ()).direction == "max"
    assert queries.direction_of("params", ()).direction == "min"
