"""The trials frame built in bulk from the store's columnar read (`table_frame` of
`Store.trial_table`) holds, row for row, what the trial records say: the values checked here
come from `store.trials`, not from the frame builder."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nasforge.objectives import parse_objectives
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.ui import queries
from nasforge.ui.table_frame import table_frame


def _arch(i: int) -> Architecture:
    """Parameters of every kind, two of them conditional (a bool and an int)."""
    values: dict[str, object] = {"family": "mlp", "depth": 1 + i % 3, "lr": 0.001 * (i + 1),
                                 "act": ["relu", "gelu"][i % 2]}
    if i % 3:
        values["bn"] = bool(i % 2)
        values["width"] = 16 * (i % 4 + 1)
    return Architecture(values)


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'frame.db'}")
    store.create_search("s", parse_objectives(["accuracy:max"]), 100, {})
    store.add_trials("s", [_arch(i) for i in range(9)], TrialState.RUNNING)
    results = [EvalResult(TrialState.COMPLETE, {"accuracy": 0.9, "params": 10.0}),
               EvalResult(TrialState.COMPLETE, {"accuracy": math.nan, "params": math.inf}),
               EvalResult(TrialState.FAILED, error="diverged"),
               EvalResult(TrialState.PRUNED, {"accuracy": 0.2}, error="pruned"),
               EvalResult(TrialState.COMPLETE, {"inherited_accuracy": 0.5, "params": 1.0}),
               EvalResult(TrialState.COMPLETE, {"accuracy": 0.7, "latency_ms": 0.1})]
    for number, result in enumerate(results):
        store.finish("s", number, result)
    store.add_trials("s", [_arch(9)])  # WAITING; 6-8 stay RUNNING
    yield store
    store.close()


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float)
                      and math.isnan(a) and math.isnan(b))


def test_every_column_holds_what_the_records_say(store):
    records = store.trials("s")
    frame = table_frame(store.trial_table("s"))
    assert list(frame.columns) == [
        *queries.FRAME_COLUMNS, "accuracy", "inherited_accuracy", "latency_ms", "params",
        "param.act", "param.bn", "param.depth", "param.family", "param.lr", "param.width"]
    assert frame["number"].tolist() == [t.number for t in records]
    assert frame["state"].tolist() == [t.state.value for t in records]
    assert [e if isinstance(e, str) else None for e in frame["error"]] == [
        t.error for t in records]
    assert frame["weights"].tolist() == ["trained"] * 4 + ["inherited"] + ["trained"] * 5
    for column in ("started_at", "finished_at"):
        assert [None if pd.isna(v) else v.to_pydatetime() for v in frame[column]] == [
            getattr(t, column) for t in records]
    for row, t in zip(frame.itertuples(index=False), records, strict=True):
        if t.finished_at is not None and t.started_at is not None:
            assert row.seconds == pytest.approx((t.finished_at - t.started_at).total_seconds())
        else:
            assert math.isnan(row.seconds)
        assert Architecture.from_json(row.arch) == t.arch
    for metric in ("accuracy", "inherited_accuracy", "latency_ms", "params"):
        assert all(_same(v, t.metrics.get(metric, math.nan))
                   for v, t in zip(frame[metric], records, strict=True)), metric
    assert frame["param.bn"].tolist() == [t.arch.get("bn") for t in records]  # None: absent
    assert frame["param.depth"].dtype == "int64" and frame["param.lr"].dtype == "float64"
    widths = [t.arch.get("width", math.nan) for t in records]
    assert all(_same(float(v), float(w)) for v, w in zip(frame["param.width"], widths,
                                                          strict=True))


def test_the_frame_of_records_is_the_frame_of_the_columnar_read(store):
    pd.testing.assert_frame_equal(queries.trials_frame(store.trials("s")),
                                  table_frame(store.trial_table("s")))
    pd.testing.assert_frame_equal(queries.load_trials(store, "s"),
                                  table_frame(store.trial_table("s")))


def test_shown_rows_and_hover_text_parse_the_architecture_json(store):
    pytest.importorskip("plotly")
    from nasforge.ui import charts

    records = store.trials("s")
    frame = queries.load_trials(store, "s")
    shown = queries.described(frame.iloc[[1, 4]])
    assert shown["arch_id"].tolist() == [records[1].arch_id, records[4].arch_id]
    assert shown["summary"].tolist() == [queries.arch_summary(records[i].arch) for i in (1, 4)]
    hover = charts.hover_text(frame.iloc[[2]], ["accuracy"])
    assert queries.arch_summary(records[2].arch) in hover[0]


def test_an_empty_read_gives_the_frame_columns(store):
    store.create_search("empty", parse_objectives(["accuracy:max"]), 10, {})
    frame = table_frame(store.trial_table("empty"))
    assert frame.empty and list(frame.columns) == list(queries.FRAME_COLUMNS)


def _has_arrow() -> bool:
    try:
        import pyarrow.json  # noqa: F401
    except ImportError:
        return False
    return True


PARAM_CASES = {
    "conditional": [_arch(i).json for i in range(7)],
    "several JSON types": [Architecture({"k": v}).json for v in (1, "x", 2.5, True)],
    "a date as text": [Architecture({"d": d, "n": i}).json
                       for i, d in enumerate(("2020-01-01", "2021-02-03"))],
    "floats and ints": [Architecture({"lr": v}).json for v in (1, 0.5, 2)],
}


@pytest.mark.parametrize("case", sorted(PARAM_CASES))
def test_parameter_columns_are_the_same_with_arrow_or_without(case, monkeypatch):
    from nasforge.ui import table_frame as module

    texts = PARAM_CASES[case]
    if case in ("conditional", "floats and ints"):  # what Arrow reads (where it is there)
        assert module._arrow_params(texts) is not None or not _has_arrow()
    else:
        assert module._arrow_params(texts) is None
    either = module._param_columns(texts)
    monkeypatch.setattr(module, "_arrow_params", lambda _: None)
    parsed = module._param_columns(texts)
    pd.testing.assert_frame_equal(either, parsed)
    for i, text in enumerate(texts):  # the values of each architecture, None where absent
        values = Architecture.from_json(text)
        for column in parsed.columns:
            cell = parsed[column].iloc[i]
            expected = values.get(column.removeprefix("param."))
            assert _same(cell, expected) or (expected is None and pd.isna(cell)), (column, i)
    if case == "a date as text":
        assert parsed["param.d"].tolist() == ["2020-01-01", "2021-02-03"]
