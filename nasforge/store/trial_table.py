"""`TrialTable`: a search's trials as plain columns (`Store.trial_table`), for readers that
want every trial at once (the dashboard) and would pay more for a record per trial (an
`Architecture`, timezone-aware datetimes, a metrics mapping) than for the read itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from itertools import chain

from nasforge.records import TrialRecord

#: The text form of `TrialTable` times: UTC, microseconds always written.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class TrialTable:
    """Trials ordered by number, one tuple per column (index i: the i-th trial).

    ``arch_json`` is each trial's canonical architecture JSON (`Architecture.json`); times
    are UTC text in `TIME_FORMAT` (``"2026-01-31 12:00:00.000000"``), None where unset.
    Metrics are long form, one entry per (trial, metric), by number then name:
    ``metric_number[j]`` has ``metric_name[j] = metric_value[j]`` (NaN as the store keeps
    it). Curves are left out.
    """

    number: tuple[int, ...] = ()
    state: tuple[str, ...] = ()
    error: tuple[str | None, ...] = ()
    arch_json: tuple[str, ...] = ()
    started_at: tuple[str | None, ...] = ()
    finished_at: tuple[str | None, ...] = ()
    metric_number: tuple[int, ...] = ()
    metric_name: tuple[str, ...] = ()
    metric_value: tuple[float, ...] = ()
    arch_id: tuple[str, ...] = ()
    worker: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return len(self.number)


def concat_tables(tables: Iterable[TrialTable]) -> TrialTable:
    """The trials of `tables` one after the other (by number when each follows the last)."""
    parts = list(tables)
    return TrialTable(*(tuple(chain.from_iterable(getattr(t, f.name) for t in parts))
                        for f in fields(TrialTable)))


def table_of_records(records: Sequence[TrialRecord]) -> TrialTable:
    """The `TrialTable` of trial records (in their order): what `Store.trial_table` returns
    for the same trials, for callers that already hold records."""
    metrics = [(t.number, name, value) for t in records
               for name, value in sorted(t.metrics.items())]
    m_number, m_name, m_value = zip(*metrics, strict=True) if metrics else ((), (), ())
    return TrialTable(
        tuple(t.number for t in records), tuple(t.state.value for t in records),
        tuple(t.error for t in records), tuple(t.arch.json for t in records),
        tuple(_text(t.started_at) for t in records),
        tuple(_text(t.finished_at) for t in records), m_number, m_name, m_value,
        tuple(t.arch_id for t in records), tuple(t.worker for t in records))


def _text(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(timezone.utc).strftime(TIME_FORMAT)
