"""`nasforge worker NAME`: bad inputs exit 2 and write nothing; a worker joined to a running
search shares its budget with it, every trial finished exactly once."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.errors import StoreError
from nasforge.records import TrialRecord, TrialState
from nasforge.store import open_store
from nasforge.ui.cli import app

runner = CliRunner()

# digits, an MLP trained for 20 epochs: ~0.3 s a trial (after a ~2 s first one); the lr is
# continuous, so two trials with one arch_id would mean one candidate added twice
CONFIG = """
[search]
name = "tiny"
budget = {budget}
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "digits"

[training]
epochs = {epochs}
measure_latency = false

[space]
families = ["mlp"]
activation = ["relu", "gelu"]
norm = ["none", "batch"]
lr = {{ low = 1e-3, high = 1e-2, log = true }}

[space.mlp]
depth = {{ low = 1, high = 2 }}
width = [16, 32, 64]
"""


def write_config(folder: Path, budget: int, epochs: int = 20) -> Path:
    path = folder / "run.toml"
    path.write_text(CONFIG.format(budget=budget, epochs=epochs))
    return path


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

def start(tmp_path: Path, label: str, *args: str) -> subprocess.Popen:
    """`python -m nasforge ARGS` with its output in files (a pipe nobody reads could fill)."""
    env = {**os.environ, "NASFORGE_CACHE_DIR": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}  # several processes share the cores
    out = (tmp_path / f"{label}.out").open("w")
    err = (tmp_path / f"{label}.err").open("w")
    try:
        return subprocess.Popen([sys.executable, "-m", "nasforge", *args], env=env,
                                stdout=out, stderr=err, text=True)
    finally:
        out.close()
        err.close()


def output(tmp_path: Path, label: str) -> str:
    return (tmp_path / f"{label}.out").read_text() + (tmp_path / f"{label}.err").read_text()


def snapshot(url: str, name: str = "tiny") -> list[TrialRecord] | None:
    """The trials of the search, or None while the store or the search does not exist."""
    try:
        store = open_store(url, create=False)
    except StoreError:
        return None
    try:
        return store.trials(name)
    except StoreError:  # not created yet (or busy): ask again
        return None
    finally:
        store.close()


def wait_for(condition, procs: list[subprocess.Popen], what: str, limit: float = 90.0):
    """Poll `condition()` until it is truthy (returns it); fail if a process exits first."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def worker_of(proc: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{proc.pid}"


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
