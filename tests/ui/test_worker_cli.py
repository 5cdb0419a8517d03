"""`nasforge worker NAME`: bad inputs exit 2 and write nothing; a worker joined to a running
search shares its budget with it, every trial finished exactly once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_processes import (
    output,
    snapshot,
    start,
    stop,
    wait_for,
    worker_of,
    write_config,
)
from typer.testing import CliRunner

from nasforge.records import TrialState
from nasforge.ui.cli import app

runner = CliRunner()

def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def invoke(*args: str):
    return runner.invoke(app, list(args))


# -- bad inputs --------------------------------------------------------------------------

BAD_OPTIONS = {
    "timeout 0": (("--heartbeat-timeout", "0"), "--heartbeat-timeout 0"),
    "timeout -1": (("--heartbeat-timeout", "-1"), "--heartbeat-timeout -1"),
    "timeout nan": (("--heartbeat-timeout", "nan"), "--heartbeat-timeout nan"),
    "timeout inf": (("--heartbeat-timeout", "inf"), "--heartbeat-timeout inf"),
    "unknown executor": (("--executor", "slurm"), "--executor 'slurm'"),
    "ray address without ray": (("--ray-address", "auto"), "needs --executor ray"),
}


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=list(BAD_OPTIONS))
def test_bad_worker_options_exit_2_and_create_nothing(tmp_path, case):
    options, message = BAD_OPTIONS[case]
    db = tmp_path / "none.db"
    result = invoke("worker", "tiny", "--storage", f"sqlite:///{db}", *options)
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not db.exists()


def test_worker_of_a_missing_store_exits_2_and_creates_no_file(tmp_path):
    db = tmp_path / "none.db"
    result = invoke("worker", "tiny", "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    assert "no store" in result.stderr.lower() and "Traceback" not in result.output
    assert not db.exists()
    result = invoke("worker", "tiny", "--storage", f"sqlite:///{tmp_path / 'no' / 'dir.db'}")
    assert result.exit_code == 2 and "error:" in result.stderr, result.output
    assert list(tmp_path.glob("**/*.db")) == []


@pytest.mark.slow
def test_worker_of_a_missing_search_exits_2_and_changes_nothing(tmp_path):
    db = tmp_path / "q.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "NASFORGE_CACHE_DIR": str(tmp_path / "cache")}
    made = invoke("search", str(write_config(tmp_path, budget=1, epochs=1)), "--storage", url,
                  "--name", "other")
    assert made.exit_code == 0, made.output
    before = digest(db)
    # a real process: the exit code and message as a shell sees them
    proc = subprocess.run([sys.executable, "-m", "nasforge", "worker", "tiny", "--storage", url,
                           "--heartbeat-timeout", "2"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "error:" in proc.stderr and "tiny" in proc.stderr and "Traceback" not in proc.stderr
    assert digest(db) == before
    # bad options on a store that holds the search: refused before anything is written
    for options, message in BAD_OPTIONS.values():
        result = invoke("worker", "other", "--storage", url, *options)
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert digest(db) == before


# -- a joined worker ---------------------------------------------------------------------

@pytest.mark.slow
def test_a_joined_worker_shares_the_budget_and_every_trial_finishes_once(tmp_path):
    budget = 36
    url = f"sqlite:///{tmp_path / 'q.db'}"
    procs: list[subprocess.Popen] = []
    try:
        search = start(tmp_path, "search", "search", str(write_config(tmp_path, budget)),
                       "--storage", url, "--heartbeat-timeout", "2")
        procs.append(search)
        wait_for(lambda: snapshot(url) is not None, procs, "the search row")
        worker = start(tmp_path, "worker", "worker", "tiny", "--storage", url,
                       "--heartbeat-timeout", "2")
        procs.append(worker)
        assert worker.wait(timeout=120) == 0, output(tmp_path, "worker")
        assert search.wait(timeout=120) == 0, output(tmp_path, "search")
    finally:
        stop(procs)
    for label in ("search", "worker"):
        assert f"{budget} complete, 0 failed" in output(tmp_path, label)
    trials = snapshot(url)
    assert [t.number for t in trials] == list(range(budget))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget
    assert all(t.metrics and 0.0 <= t.metrics["accuracy"] <= 1.0 for t in trials)
    assert len({t.arch_id for t in trials}) == budget  # no candidate evaluated twice
    by = {t.worker for t in trials}
    assert by == {worker_of(search), worker_of(worker)}, by  # both evaluated some
