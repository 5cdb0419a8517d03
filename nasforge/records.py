"""Snapshot records shared by the search loop, strategies, evaluators and stores.

They are frozen values: a store returns copies, never live rows. Lifecycle of a trial:
``WAITING -> RUNNING -> COMPLETE | FAILED | PRUNED`` (``RUNNING -> WAITING`` when a run is
abandoned and re-queued).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from nasforge.frozen import freeze
from nasforge.objectives import Objective
from nasforge.searchspace.architecture import Architecture


class TrialState(str, enum.Enum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    PRUNED = "PRUNED"

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)


FINISHED_STATES = (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)


def _frozen_metrics(metrics: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({str(k): float(v) for k, v in sorted(dict(metrics).items())})


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Metrics of one epoch of training (e.g. train_loss, val_loss, val_accuracy)."""

    epoch: int
    metrics: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What an evaluator returns for one architecture.

    `state` is COMPLETE, FAILED (with `error` saying why) or PRUNED; `metrics` are the final
    measurements, `curve` the per-epoch learning curve; `checkpoint` the path of the trained
    model's saved state_dict, when the evaluator kept one (the search stores it relative to
    its checkpoint root).
    """

    state: TrialState
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: tuple[CurvePoint, ...] = ()
    error: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if not self.state.is_finished:
            raise ValueError(f"An EvalResult must be finished, got {self.state}.")
        if self.state is TrialState.FAILED and not self.error:
            raise ValueError("A FAILED EvalResult must say why (error).")
        object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        object.__setattr__(self, "curve", tuple(self.curve))

    @classmethod
    def failed(cls, reason: str, metrics: Mapping[str, float] | None = None) -> EvalResult:
        return cls(TrialState.FAILED, metrics or {}, (), reason)



@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A snapshot of one trial of a search. `checkpoint`: its saved state_dict, relative to
    the search's checkpoint root (`nasforge.checkpoint_policy`), or None (none kept, or pruned)."""

    search: str
    number: int
    arch: Architecture
    state: TrialState
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: tuple[CurvePoint, ...] = ()
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        object.__setattr__(self, "curve", tuple(self.curve))

    @property
    def arch_id(self) -> str:
        return self.arch.arch_id


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a RUNNING trial and when it last said so (`Store.leases`). `heartbeat_at`
    is only compared for equality (has it changed since I last looked?), never with a
    clock, so workers on machines whose clocks disagree still agree on staleness."""

    number: int
    worker: str | None
    heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True)
class SearchRecord:
    """A snapshot of one search: its name, objectives, budget and the config it ran with.
    `diagnostics`: search-level findings as plain JSON values (the supernet strategy's
    ranking correlation: kendall_tau, spearman_rho, sample_size), empty when none."""

    name: str
    objectives: tuple[Objective, ...]
    budget: int
    config: Mapping[str, object] = field(default_factory=dict)
    created_at: datetime | None = None
    trial_counts: Mapping[str, int] = field(default_factory=dict)
    diagnostics: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "config", freeze(self.config))
        object.__setattr__(self, "diagnostics", freeze(self.diagnostics))
        object.__setattr__(self, "trial_counts", MappingProxyType(dict(self.trial_counts)))

    @property
    def finished(self) -> int:
        return sum(self.trial_counts.get(s.value, 0) for s in FINISHED_STATES)
