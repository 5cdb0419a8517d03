"""`nasforge show` at scale: the front and the top trials with a count of the rest (`--all`
for every row), `show --json` streamed byte for byte as before, `list` from SQL aggregates."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore
from nasforge.store.trial_table import TIME_FORMAT, table_of_records
from nasforge.ui import report_json, show_command
from nasforge.ui.cli import app
from nasforge.ui.report import best_trials, pareto_numbers, search_report, trial_payload
from nasforge.ui.report_json import indented_json

runner = CliRunner()
OBJECTIVES = (Objective("accuracy", "max"), Objective("params", "min"))


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A search "s" of 60 trials (some FAILED, NaN, RUNNING) and an empty search "e"."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    rng = random.Random(3)
    with SQLStore(url) as store:
        store.create_search("s", OBJECTIVES, 80, {"seed": 3})
        store.create_search("e", OBJECTIVES, 5, {})
        archs = [Architecture({"family": "mlp", "width": 8 + i, "note": "a \"q\"\n\u00e9",
                               "bn": i % 2 == 0, "lr": 10.0 ** -(i % 4)})
                 for i in range(60)]
        for trial in store.add_trials("s", archs, TrialState.RUNNING, worker="w"):
            if trial.number == 59:
                continue  # stays RUNNING
            if trial.number % 11 == 3:
                result = EvalResult(TrialState.FAILED, {}, error="out of memory")
            else:
                acc = math.nan if trial.number == 7 else round(rng.random(), 2)
                result = EvalResult(TrialState.COMPLETE, {
                    "accuracy": acc, "params": float(rng.randrange(100, 900)),
                    "latency_ms": math.inf if trial.number == 8 else rng.random()})
            store.finish("s", trial.number, result, worker="w")
    return url


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(text: str) -> list[int]:
    return [int(line.split("│")[1]) for line in text.splitlines()
            if line.startswith("│") and line.split("│")[1].strip().isdigit()]


def test_show_prints_the_front_and_the_top_trials(url: str) -> None:
    with SQLStore(url) as store:
        trials = store.trials("s")
    front = set(pareto_numbers(trials, OBJECTIVES))
    others = sorted((-t.metrics["accuracy"], t.number) for t in trials
                    if t.state is TrialState.COMPLETE and t.number not in front
                    and math.isfinite(t.metrics["accuracy"]))
    top = {n for _, n in others[:show_command.TOP]}
    text = invoke("show", "s", "--storage", url)
    assert rows(text) == sorted(front | top)
    assert len(front) >= 2 and len(top) == 20
    hidden = 60 - len(front | top)
    assert f"... and {hidden} more trials (--all to list them)" in text
    assert text.splitlines()[0].startswith("s  objectives accuracy:max, params:min  budget 80")
    for key, best in best_trials(trials, OBJECTIVES).items():
        assert f"best {key}: trial {best['number']} ({best['value']:.4g})" in text

    every = invoke("show", "s", "--all", "--storage", url)
    assert rows(every) == list(range(60)) and "more trials" not in every


def test_show_without_hidden_trials_has_no_count(url: str) -> None:
    text = invoke("show", "e", "--storage", url)
    assert "more trials" not in text and rows(text) == []


@pytest.mark.parametrize("chunk", [1, 7, 500])
@pytest.mark.parametrize("name", ["s", "e"])
def test_show_json_is_streamed_byte_for_byte(url: str, name: str, chunk: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(show_command, "CHUNK", chunk)
    with SQLStore(url) as store:
        report = search_report(store.get_search(name), store.trials(name))
    text = invoke("show", name, "--storage", url, "--json")
    assert text == json.dumps(report, indent=2) + "\n"
    assert json.loads(text) == json.loads(json.dumps(report))
    assert len(json.loads(text)["trials"]) == (60 if name == "s" else 0)


@pytest.mark.parametrize("chunk", [1, 2, 500])
@pytest.mark.parametrize("diagnostics", [{}, {"kendall_tau": 0.5, "note": {"a": [1, 2]}}])
def test_show_json_streams_the_prefilter_pools_under_the_diagnostics(
        url: str, chunk: int, diagnostics: dict[str, object],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(show_command, "CHUNK", chunk)
    pools = [{"winner": f"w{i}", "discarded": [{"width": i, "note": "\u00e9"}],
              "scores": {f"w{i}": {"synflow": 1.5 * i, "zc_seconds": 0.01},
                         f"d{i}": {"synflow": None, "zc_seconds": 0.02}}} for i in range(3)]
    with SQLStore(url) as store:
        if diagnostics:
            store.set_diagnostics("s", diagnostics)
        for pool in pools:
            store.add_pool("s", pool)
        report = search_report(store.get_search("s"), store.trials("s"))
    report["diagnostics"] = {**diagnostics, "prefilter": {"pools": pools}}
    text = invoke("show", "s", "--storage", url, "--json")
    assert text == json.dumps(report, indent=2) + "\n"
    assert json.loads(text)["diagnostics"]["prefilter"]["pools"] == pools


def test_list_reads_the_best_trials_from_the_store(url: str) -> None:
    with SQLStore(url) as store:
        expected = {s.name: best_trials(store.trials(s.name), s.objectives)
                    for s in store.list_searches()}
    listed = json.loads(invoke("list", "--storage", url, "--json"))
    assert {row["name"]: row["best"] for row in listed} == expected
    assert expected["s"] and expected["e"] == {}
    assert listed[0]["counts"] == {"COMPLETE": 53, "FAILED": 6, "RUNNING": 1}
    table = invoke("list", "--storage", url)
    best = expected["s"]["accuracy:max"]
    assert f"accuracy:max {best['value']:.4g} (#{best['number']})" in table


@pytest.mark.parametrize("payload", [
    {"n": 1, "f": -0.0, "big": 1e300, "tiny": 5e-324, "nan": math.nan, "inf": -math.inf,
     "s": "\u2603\t\"", "t": True, "no": None, "arch": {"x": 1.5, "y": "z", "b": False}},
    {"arch": {}, "m": {"a": [1, {"b": None}]}, "l": [], "d": {"k": {"deep": [2.5]}}},
    {"first": {"x": 1}, "ints": {1: "a", 2: {"b": 2}}, "t": (1, "x"), "last": 0.5},
])
def test_indented_json_writes_what_json_dumps_writes(payload: dict[str, object]) -> None:
    expected = json.dumps([payload], indent=2)[1:-2].replace("\n", "\n  ")
    assert "\n    " + indented_json(payload, 2) == expected
    for depth in range(3):
        assert indented_json(payload, depth) == json.dumps(payload, indent=2).replace(
            "\n", "\n" + "  " * depth)


@pytest.mark.parametrize("micro", [0, 1, 250000, 999999])
def test_table_times_read_as_isoformat(micro: int) -> None:
    when = datetime(2026, 1, 31, 12, 0, 5, micro, tzinfo=timezone.utc)
    assert report_json._iso(when.strftime(TIME_FORMAT)) == when.isoformat()
    assert report_json._iso(None) is None


TRICKY = ["}", "{", "},\n      {", "a\"},\n        {\"b", "\u00e9\u2603", "\\", "", ": ,"]


@pytest.mark.parametrize("empty_first", [True, False])
def test_trials_json_is_the_payloads_indented_whatever_the_strings(empty_first: bool) -> None:
    """A page of trials written from columns (two calls of the C encoder for the whole page)
    is each trial's payload as ``json.dumps(..., indent=2)`` writes it two levels deep: keys
    and values that look like the encoder's separators, empty architectures and empty
    metrics first, last and between."""
    when = datetime(2026, 1, 31, 12, 0, 5, 250000, tzinfo=timezone.utc)
    records = []
    for i, text in enumerate(TRICKY * 2):
        arch = {} if (i % 5 == 0) == empty_first else {text + "k": text, "w": i, "f": 0.1 * i,
                                                       "b": i % 2 == 0}
        metrics = {} if (i % 3 == 0) == empty_first else {
            text or "m": 1.0 / (i + 1), "nan": math.nan, "inf": -math.inf, "z": -0.0}
        records.append(TrialRecord("s", i, Architecture(arch), TrialState.COMPLETE, metrics,
                                   error=text if i % 2 else None, worker=text or None,
                                   started_at=when if i % 4 else None,
                                   finished_at=when.replace(microsecond=0)))
    written = report_json.trials_json(table_of_records(records))
    assert written == [indented_json(trial_payload(t), 2) for t in records]


PLAIN_ARCHS = [{"family": "mlp", "lr": 1.5e-06, "w": -3, "big": 2**70, "z": -0.0, "bn": True,
                "note": "a b{c}[d] e", "mlp.depth": 2}, {}, {"x": 0.1}]
DECODED_ARCHS = [[{"s": "x,y"}], [{"a:b": 1}], [{"s": "caf\u00e9"}], [{"s": "q\"q"}],
                 [{"x": 1}, {"s": "x,y"}]]


@pytest.mark.parametrize("archs", [PLAIN_ARCHS, PLAIN_ARCHS[::-1], [{}], *DECODED_ARCHS])
def test_architectures_are_respaced_as_stored_or_decoded(
        archs: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Architectures without a comma, colon or escape in their strings are re-spaced from
    their stored text (no decoding: `json.loads` is not called); the others are decoded; both
    give what indenting the decoded architectures gives."""
    texts = [Architecture(a).json for a in archs]
    want = [indented_json(json.loads(t), 3) for t in texts]
    decoded: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text: decoded.append(text) or real_loads(text))
    got = [report_json._braced(inner) for inner in report_json._arch_inners(texts)]
    assert got == want
    assert bool(decoded) == any(a in DECODED_ARCHS for a in [archs])
