"""The trials frame of `nasforge.ui.queries` built from a `TrialTable` (the store's columnar
read), column by column in bulk: no record, Architecture or datetime per trial. At 100k
trials this and the read are a dashboard page's whole load."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from operator import itemgetter

import numpy as np
import pandas as pd

from nasforge.store.trial_table import TIME_FORMAT, TrialTable
from nasforge.strategies.supernet import INHERITED

PARAM_PREFIX = "param."
FRAME_COLUMNS = ("number", "state", "weights", "arch", "error", "started_at", "finished_at",
                 "seconds")


def table_frame(table: TrialTable) -> pd.DataFrame:
    """The trials frame (`nasforge.ui.queries`) of `table`, in its order; column ``arch``
    holds each trial's architecture JSON (`queries.described` parses the rows shown)."""
    n = len(table)
    if not n:
        return pd.DataFrame({c: [] for c in FRAME_COLUMNS})
    numbers = np.asarray(table.number, dtype=np.int64)
    metrics, inherited = _metric_columns(table, numbers)
    # one parse of all architectures (the parser is called once, and shares the key strings)
    mappings = json.loads("[" + ",".join(table.arch_json) + "]")
    params = _columns(mappings, np.full(n, None, dtype=object))
    started = pd.to_datetime(list(table.started_at), utc=True, format=TIME_FORMAT)
    finished = pd.to_datetime(list(table.finished_at), utc=True, format=TIME_FORMAT)
    data: dict[str, object] = {
        "number": numbers, "state": list(table.state),
        "weights": np.where(inherited, "inherited", "trained").astype(object),
        "arch": pd.Series(table.arch_json, dtype=object), "error": list(table.error),
        "started_at": started, "finished_at": finished,
        "seconds": np.asarray((finished - started).total_seconds(), dtype=np.float64)}
    data.update((key, metrics[key]) for key in sorted(metrics))
    # a list lets pandas infer each parameter's type (ints, floats, strings) as before
    data.update((PARAM_PREFIX + key, params[key].tolist()) for key in sorted(params))
    return pd.DataFrame(data)


def _metric_columns(table: TrialTable, numbers: np.ndarray
                    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One float column per metric name (NaN where a trial lacks it), and per trial whether
    it has a metric measured on shared weights (``inherited_*``)."""
    inherited = np.zeros(len(numbers), dtype=bool)
    if not table.metric_number:
        return {}, inherited
    order = np.argsort(numbers, kind="stable")  # the table is by number; be safe anyway
    rows = order[np.searchsorted(numbers, np.asarray(table.metric_number, dtype=np.int64),
                                 sorter=order)]
    codes, names = pd.factorize(np.asarray(table.metric_name, dtype=object))
    values = np.asarray(table.metric_value, dtype=np.float64)
    grid = np.full((len(names), len(numbers)), math.nan)
    grid[codes, rows] = values
    for code, name in enumerate(names):
        if name.startswith(INHERITED):
            inherited[rows[codes == code]] = True
    return {str(name): grid[code] for code, name in enumerate(names)}, inherited


def _columns(rows: Sequence[Mapping[str, object]], empty: np.ndarray) -> dict[str, np.ndarray]:
    """Mappings (one a trial) -> one array per key (`empty`'s fill where a row lacks it).
    Rows with the same keys (most of them) are transposed together, in C."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(i)
    columns: dict[str, np.ndarray] = {}
    for keys, members in groups.items():
        group = rows if len(members) == len(rows) else [rows[i] for i in members]
        index = np.asarray(members)
        for key in keys:
            if key not in columns:
                columns[key] = empty.copy()
            columns[key][index] = list(map(itemgetter(key), group))
    return columns
