"""The trials frame of `nasforge.ui.queries` built from a `TrialTable` (the store's columnar
read), column by column in bulk: no record, Architecture or datetime per trial. At 100k
trials this and the read are a dashboard page's whole load."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nasforge.store.trial_table import TIME_FORMAT, TrialTable
from nasforge.strategies.supernet import INHERITED

PARAM_PREFIX = "param."
#: Arrow types of parameter columns that convert to the pandas types of `_json_params`.
_ARROW_TYPES = frozenset(("int64", "double", "string", "bool"))
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
    params = _param_columns(table.arch_json)
    started = pd.to_datetime(list(table.started_at), utc=True, format=TIME_FORMAT)
    finished = pd.to_datetime(list(table.finished_at), utc=True, format=TIME_FORMAT)
    data: dict[str, object] = {
        "number": numbers, "state": list(table.state),
        "weights": np.where(inherited, "inherited", "trained").astype(object),
        "arch": pd.Series(table.arch_json, dtype=object), "error": list(table.error),
        "started_at": started, "finished_at": finished,
        "seconds": np.asarray((finished - started).total_seconds(), dtype=np.float64)}
    data.update((key, metrics[key]) for key in sorted(metrics))
    return pd.concat([pd.DataFrame(data), params], axis=1)


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


def _param_columns(arch_json: Sequence[str]) -> pd.DataFrame:
    """One column per parameter (``PARAM_PREFIX + name``, sorted), typed as pandas infers
    it; None where a trial lacks the parameter (a condition) and the column holds objects.
    Arrow's JSON reader parses the architectures into typed columns (3x faster) where it
    can and types them as pandas would; else (no pyarrow, one parameter of several JSON
    types, a string Arrow would take for a time) they are parsed here, in one call."""
    params = _arrow_params(arch_json)
    if params is None:
        params = _json_params(arch_json)
    params = params[sorted(params.columns)]
    params.columns = [PARAM_PREFIX + str(c) for c in params.columns]
    for column, dtype in params.dtypes.items():
        values = params[column]
        if pd.api.types.is_object_dtype(dtype) and values.isna().any():
            params[column] = values.where(values.notna(), None)  # NaN where a key is missing
    return params


def _json_params(arch_json: Sequence[str]) -> pd.DataFrame:
    """The parameter columns from Python's parser (it shares the key strings of one call)
    and pandas' transposition of the mappings."""
    return pd.DataFrame(json.loads("[" + ",".join(arch_json) + "]"))


def _arrow_params(arch_json: Sequence[str]) -> pd.DataFrame | None:
    """The parameter columns from Arrow's JSON reader; None where it cannot type them as
    `_json_params` does."""
    try:  # an optional dependency (pandas' own): no stubs
        import pyarrow.json  # type: ignore[import-untyped, import-not-found, unused-ignore]  # optional
    except ImportError:
        return None
    try:
        read = pyarrow.json.read_json(pyarrow.BufferReader("\n".join(arch_json).encode()))
    except pyarrow.ArrowInvalid:  # a parameter with values of several JSON types
        return None
    if len(read) != len(arch_json) or not all(
            str(t) in _ARROW_TYPES for t in read.schema.types):  # e.g. a date string as a time
        return None
    return read.to_pandas()
