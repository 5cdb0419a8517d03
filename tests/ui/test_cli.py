"""The CLI end to end on digits, and every bad input of the foundation issue (exit code 2,
nothing written)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.ui.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def show_json(url: str, name: str = "tiny") -> dict:
    result = invoke("show", name, "--storage", url, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_show_list_end_to_end(tmp_path, write_config):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    result = invoke("search", str(write_config(budget=3)), "--storage", url)
    assert result.exit_code == 0, result.output
    assert "3 complete, 0 failed" in result.stdout

    report = show_json(url)
    assert report["name"] == "tiny"
    assert report["objectives"] == ["accuracy:max", "params:min"]
    trials = report["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(t["state"] == "COMPLETE" for t in trials)
    assert len({t["arch_id"] for t in trials}) == 3
    for trial in trials:
        assert {"accuracy", "test_accuracy", "params", "macs", "train_seconds", "loss",
                "epochs"} <= set(trial["metrics"])
        assert 0.0 <= trial["metrics"]["accuracy"] <= 1.0
        assert trial["arch"]["family"] == "mlp" and trial["arch"]["epochs"] == 2
    assert report["pareto"] and set(report["pareto"]) <= {0, 1, 2}
    best = max(trials, key=lambda t: t["metrics"]["accuracy"])
    assert best["number"] in report["pareto"]

    listed = invoke("list", "--storage", url, "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["counts"] == {"COMPLETE": 3}
    assert invoke("show", "tiny", "--storage", url).exit_code == 0


def test_overrides_and_extending_a_search(tmp_path, write_config):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = str(write_config(budget=2))
    assert invoke("search", config, "--storage", url, "--name", "b", "--budget", "1").exit_code == 0
    assert len(show_json(url, "b")["trials"]) == 1
    again = invoke("search", config, "--storage", url, "--name", "b")
    assert again.exit_code == 2 and "already exists" in again.stderr and "--resume" in again.stderr
    assert invoke("resume", "b", "--storage", url, "--budget", "2").exit_code == 0
    report = show_json(url, "b")
    assert [t["number"] for t in report["trials"]] == [0, 1] and report["budget"] == 2


def _store_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _bad_csv(tmp_path: Path) -> str:
    csv = tmp_path / "labels.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 3 - 1}\n" for i in range(40)))
    return f"csv:{csv}"


BAD_INPUTS = {
    "typo in a field": (dict(), ("[search]", "budgett = 3"), "Unknown field 'budgett'"),
    "unknown activation": (dict(activation='["relu", "gelux"]'), None, "Unknown activation"),
    "inverted bounds": (dict(depth="{ low = 3, high = 1 }"), None, "inverted"),
    "missing dataset file": (dict(dataset="csv:missing.csv"), None, "missing.csv"),
    "label out of range": ("bad_csv", None, "out of range"),
    "malformed toml": (dict(), ("[search]", "name = "), "not valid TOML"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_exits_2_and_writes_nothing(tmp_path, write_config, case):
    options, edit, message = BAD_INPUTS[case]
    if options == "bad_csv":
        options = dict(dataset=_bad_csv(tmp_path))
    path = write_config(**options)
    if edit:
        anchor, line = edit
        path.write_text(path.read_text().replace(anchor, f"{anchor}\n{line}", 1))
    db = tmp_path / "fresh.db"
    result = invoke("search", str(path), "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.output
    assert not db.exists()

    # against a store that already holds a search: it is left byte-for-byte unchanged
    good_db = tmp_path / "kept.db"
    kept = invoke("search", str(write_config(budget=1, name="good.toml")), "--storage",
                  f"sqlite:///{good_db}", "--name", "kept")
    assert kept.exit_code == 0, kept.output
    before = _store_digest(good_db)
    again = invoke("search", str(path), "--storage", f"sqlite:///{good_db}")
    assert again.exit_code == 2 and _store_digest(good_db) == before


@pytest.mark.parametrize("url, message", [
    ("foo://x", "foo"),
    ("mysql://user@localhost/db", "mysql"),
    ("sqlite:///{tmp}/no/such/dir/x.db", "x.db"),
])
def test_bad_storage_url_exits_2_and_creates_nothing(tmp_path, write_config, url, message):
    url = url.format(tmp=tmp_path)
    result = invoke("search", str(write_config()), "--storage", url)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert list(tmp_path.glob("**/*.db")) == []


def test_reading_commands_on_missing_things(tmp_path, write_config):
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    for args in (("list",), ("show", "x"), ("resume", "x")):
        result = invoke(*args, "--storage", missing)
        assert result.exit_code == 2 and "no store" in result.stderr.lower(), result.output
    assert not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(write_config(budget=1)), "--storage", url).exit_code == 0
    result = invoke("show", "tinny", "--storage", url)
    assert result.exit_code == 2 and "tiny" in result.stderr


def test_brackets_in_messages_are_printed_verbatim(tmp_path, write_config):
    path = write_config()
    path.write_text(path.read_text().replace("[space.mlp]", "[space.mlp]\nwidht = 3"))
    result = invoke("search", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 2 and "[space.mlp] has an unknown key 'widht'" in result.stderr
    odd = write_config(dataset="csv:[/]x.csv", name="odd.toml")
    result = invoke("search", str(odd), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 2 and "[/]x.csv" in result.stderr, result.output


def test_resume_budget_zero_is_refused(tmp_path, write_config):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(write_config(budget=1)), "--storage", url).exit_code == 0
    result = invoke("resume", "tiny", "--storage", url, "--budget", "0")
    assert result.exit_code == 2 and "budget = 0" in result.stderr, result.output


TIMING_METRICS = {"train_seconds", "train_cpu_seconds", "latency_ms", "latency_ms_p90",
                  "throughput"}


def _without_timing(report: dict) -> list[tuple]:
    return [(t["number"], t["arch_id"], t["state"],
             {k: v for k, v in t["metrics"].items() if k not in TIMING_METRICS})
            for t in report["trials"]]


@pytest.mark.slow
def test_workers_2_completes_the_budget_like_an_inline_run(tmp_path, write_config):
    import torch

    from nasforge.evaluator.executors.pool import threads_per_worker

    config = str(write_config(budget=4, epochs=1))
    pooled = f"sqlite:///{tmp_path / 'pool.db'}"
    result = invoke("search", config, "--storage", pooled, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "4 complete, 0 failed" in result.stdout
    report = show_json(pooled)
    assert [t["state"] for t in report["trials"]] == ["COMPLETE"] * 4
    assert len({t["arch_id"] for t in report["trials"]}) == 4

    inline = f"sqlite:///{tmp_path / 'inline.db'}"
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(2))  # bitwise equality needs the same threads
    try:
        assert invoke("search", config, "--storage", inline, "--workers", "1").exit_code == 0
    finally:
        torch.set_num_threads(threads)
    assert _without_timing(report) == _without_timing(show_json(inline))


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_bad_worker_counts_exit_2_and_write_nothing(tmp_path, write_config, workers):
    db = tmp_path / "w.db"
    result = invoke("search", str(write_config()), "--storage", f"sqlite:///{db}",
                    "--workers", workers)
    assert result.exit_code == 2 and "--workers" in result.stderr, result.output
    assert "whole number >= 1" in result.stderr and not db.exists()
    result = invoke("resume", "tiny", "--storage", f"sqlite:///{db}", "--workers", workers)
    assert result.exit_code == 2 and "whole number >= 1" in result.stderr, result.output


@pytest.mark.slow
def test_resume_with_workers_2_finishes_the_budget_once(tmp_path, write_config):
    import socket
    import subprocess
    import sys

    import numpy as np

    from nasforge.records import TrialState
    from nasforge.search import stored_config
    from nasforge.store import open_store

    url = f"sqlite:///{tmp_path / 'resume.db'}"
    result = invoke("search", str(write_config(budget=3, epochs=1)), "--storage", url,
                    "--workers", "2")
    assert result.exit_code == 0, result.output
    first = show_json(url)["trials"]
    # what a killed run leaves behind: a trial still RUNNING (it must run again, once)
    store = open_store(url)
    try:
        space, rng = stored_config(store, "tiny").space, np.random.default_rng(7)
        leftover = space.sample(rng)
        while leftover.arch_id in {t["arch_id"] for t in first}:
            leftover = space.sample(rng)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a killed run of this host
        gone.wait()
        store.add_trials("tiny", [leftover], TrialState.RUNNING,
                         f"{socket.gethostname()}:{gone.pid}")
    finally:
        store.close()

    result = invoke("resume", "tiny", "--storage", url, "--budget", "7", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "7 complete, 0 failed" in result.stdout
    report = show_json(url)
    trials = report["trials"]
    assert report["budget"] == 7 and [t["number"] for t in trials] == list(range(7))
    assert [t["state"] for t in trials] == ["COMPLETE"] * 7
    assert len({t["arch_id"] for t in trials}) == 7  # no duplicates
    assert trials[:3] == first  # the finished trials kept as they were
    assert trials[3]["arch_id"] == leftover.arch_id
