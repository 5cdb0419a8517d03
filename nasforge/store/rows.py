"""Conversions between records and table rows, with the checks a write needs first.

Pure functions (no connection): values to rows before a write, rows to frozen records after
a read. NaN is stored as NULL (see `nasforge.store.schema`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from nasforge.errors import StoreError
from nasforge.frozen import thaw
from nasforge.objectives import Objective
from nasforge.records import CurvePoint, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store.schema import NAME_LENGTH

__all__ = ["NAME_LENGTH", "check_budget", "check_checkpoint", "check_curve", "check_name",
           "check_objectives", "curve_rows",
           "dump_config", "dump_objectives", "group_curves", "group_metrics", "metric_rows",
           "search_record", "trial_record"]

_NAN = float("nan")
_STATES = {s.value: s for s in TrialState}
_KEEP: Any = object()  # "take it from the row"
CHECKPOINT_LENGTH = 4096


@lru_cache(maxsize=65536)
def architecture(arch_json: str) -> Architecture:
    """The Architecture of stored JSON (cached: architectures are immutable values)."""
    return Architecture.from_json(arch_json)


def _db_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _py_float(value: float | None) -> float:
    return _NAN if value is None else float(value)


def check_name(what: str, name: object) -> str:
    """A search or worker name: a non-empty string of at most NAME_LENGTH characters."""
    if not isinstance(name, str) or not name or len(name) > NAME_LENGTH:
        raise StoreError(f"The {what} {name!r} must be a non-empty string of at most "
                         f"{NAME_LENGTH} characters.")
    return name


def check_budget(budget: object) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise StoreError(f"The budget {budget!r} must be a whole number of trials >= 1.")
    return budget


def _check_metric_name(name: str, where: str) -> None:
    if not name or len(name) > NAME_LENGTH:
        raise StoreError(f"The metric name {name!r} {where} must be a non-empty string of at "
                         f"most {NAME_LENGTH} characters.")


# searches ---------------------------------------------------------------------
def check_objectives(objectives: Sequence[Objective | str]) -> tuple[Objective, ...]:
    objs = tuple(o if isinstance(o, Objective) else Objective.parse(o) for o in objectives)
    if not objs:
        raise StoreError('A search needs at least one objective, e.g. "accuracy:max".')
    return objs


def dump_objectives(objectives: Sequence[Objective]) -> str:
    return json.dumps([{"metric": o.metric, "direction": o.direction} for o in objectives])


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def dump_config(config: Mapping[str, object]) -> str:
    """The config as JSON text (read-only mappings and tuples allowed; read back as JSON)."""
    if not isinstance(config, Mapping):
        raise StoreError(f"A search config must be a mapping, got {type(config).__name__}.")
    try:
        return json.dumps(thaw(config), default=_plain)
    except (TypeError, ValueError) as err:
        raise StoreError(f"The search config cannot be stored as JSON: {err}; keep it to "
                         "strings, numbers, booleans, lists and mappings.") from None


def search_record(row: Any, counts: Mapping[str, int]) -> SearchRecord:
    objectives = tuple(Objective(o["metric"], o["direction"])
                       for o in json.loads(row.objectives))
    diagnostics = getattr(row, "diagnostics", None)
    return SearchRecord(row.name, objectives, row.budget, json.loads(row.config),
                        row.created_at, counts,
                        json.loads(diagnostics) if diagnostics else {})


# trials -----------------------------------------------------------------------
def check_curve(curve: Iterable[CurvePoint]) -> tuple[CurvePoint, ...]:
    """The curve sorted by epoch; StoreError for repeated epochs or points without metrics
    (a curve is stored as (epoch, metric) -> value, which cannot hold those)."""
    points = sorted(curve, key=lambda p: p.epoch)
    for i, point in enumerate(points):
        if isinstance(point.epoch, bool) or not isinstance(point.epoch, int):
            raise StoreError(f"Curve epoch {point.epoch!r} must be an integer.")
        if i and points[i - 1].epoch == point.epoch:
            raise StoreError(f"The curve has epoch {point.epoch} twice; give each epoch once.")
        if not point.metrics:
            raise StoreError(f"The curve point of epoch {point.epoch} has no metrics; leave "
                             "it out or measure something.")
        for name in point.metrics:
            _check_metric_name(name, f"at curve epoch {point.epoch}")
    return tuple(points)


def metric_rows(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    rows = []
    for name, value in metrics.items():
        _check_metric_name(name, "of the result")
        rows.append({"name": name, "value": _db_float(value)})
    return rows


def check_checkpoint(path: object) -> str | None:
    """None, or a checkpoint path as text (the store keeps it, never opens it)."""
    if path is None:
        return None
    if not isinstance(path, str) or not path or len(path) > CHECKPOINT_LENGTH:
        raise StoreError(f"The checkpoint path {path!r} must be a non-empty string of at most "
                         f"{CHECKPOINT_LENGTH} characters, or None.")
    return path


def curve_rows(trial_id: int, curve: Sequence[CurvePoint]) -> list[dict[str, Any]]:
    return [{"trial_id": trial_id, "epoch": p.epoch, "name": name, "value": _db_float(v)}
            for p in curve for name, v in p.metrics.items()]


def group_metrics(rows: Iterable[Any]) -> dict[int, dict[str, float]]:
    """(trial_id, name, value) rows -> {trial_id: {name: value}}."""
    out: dict[int, dict[str, float]] = {}
    for trial_id, name, value in rows:
        out.setdefault(trial_id, {})[name] = _py_float(value)
    return out


def group_curves(rows: Iterable[Any]) -> dict[int, tuple[CurvePoint, ...]]:
    """(trial_id, epoch, name, value) rows ordered by trial_id, epoch -> curves."""
    grouped: dict[int, dict[int, dict[str, float]]] = {}
    for trial_id, epoch, name, value in rows:
        grouped.setdefault(trial_id, {}).setdefault(epoch, {})[name] = _py_float(value)
    return {tid: tuple(CurvePoint(e, m) for e, m in epochs.items())
            for tid, epochs in grouped.items()}


def trial_record(search: str, row: Any, *, state: TrialState | None = None,
                 metrics: Mapping[str, float] | None = None,
                 curve: tuple[CurvePoint, ...] = (), error: str | None = _KEEP,
                 worker: str | None = _KEEP, started_at: datetime | None = _KEEP,
                 finished_at: datetime | None = _KEEP,
                 checkpoint: str | None = _KEEP) -> TrialRecord:
    """A frozen TrialRecord from a `trials` row, with the given fields replacing the row's."""
    return TrialRecord(
        search=search, number=row.number, arch=architecture(row.arch_json),
        state=_STATES[row.state] if state is None else state,
        metrics=metrics or {}, curve=curve,
        error=row.error if error is _KEEP else error,
        created_at=row.created_at,
        started_at=row.started_at if started_at is _KEEP else started_at,
        finished_at=row.finished_at if finished_at is _KEEP else finished_at,
        worker=row.worker if worker is _KEEP else worker,
        checkpoint=row.checkpoint if checkpoint is _KEEP else checkpoint,
    )
