"""Objectives: named metrics with a direction, e.g. ``accuracy:max``, ``params:min``.

Multi-objective is the general case; a single objective is a one-element tuple.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nasforge.errors import ConfigError, did_you_mean

DIRECTIONS = ("max", "min")


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    direction: str = "max"

    def __post_init__(self) -> None:
        if not self.metric or not isinstance(self.metric, str):
            raise ConfigError(f"Objective metric {self.metric!r} must be a non-empty name.")
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"Objective {self.metric!r} has direction {self.direction!r}; use 'max' or 'min' "
                f"(written as \"{self.metric}:max\" or \"{self.metric}:min\")."
            )

    @classmethod
    def parse(cls, text: str) -> Objective:
        """Parse ``"metric:direction"``; a bare metric name means ``max``."""
        if not isinstance(text, str):
            raise ConfigError(f"Objective {text!r} must be a string like \"accuracy:max\".")
        metric, sep, direction = text.partition(":")
        return cls(metric.strip(), direction.strip() if sep else "max")

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"

    def sign(self) -> float:
        """+1 for max, -1 for min: multiply a value by it to turn the objective into 'max'."""
        return 1.0 if self.direction == "max" else -1.0

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "max" else a < b


def parse_objectives(texts: Iterable[str]) -> tuple[Objective, ...]:
    objectives = tuple(Objective.parse(t) for t in texts)
    if not objectives:
        raise ConfigError('At least one objective is needed, e.g. objectives = ["accuracy:max"].')
    metrics = [o.metric for o in objectives]
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"Objectives {metrics} name a metric twice; list each metric once.")
    return objectives


def check_objectives(objectives: Sequence[Objective], metrics: Sequence[str], task: str) -> None:
    """Every objective must name a metric the evaluator reports for this task."""
    for objective in objectives:
        if objective.metric not in metrics:
            raise ConfigError(
                f"Objective {str(objective)!r} names a metric that is not measured for a {task} "
                f"task.{did_you_mean(objective.metric, metrics)} Measured metrics: "
                f"{', '.join(sorted(metrics))}."
            )


def objective_matrix(metrics: Sequence[Mapping[str, float]],
                     objectives: Sequence[Objective]) -> list[list[float]]:
    """Rows of objective values, each turned into 'maximise' by its sign (NaN where missing)."""
    return [[o.sign() * float(m.get(o.metric, float("nan"))) for o in objectives] for m in metrics]
