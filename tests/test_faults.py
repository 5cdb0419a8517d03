"""Faults of a shared search in real processes: SIGKILL of a joined worker, of the coordinator
(`nasforge search`), and a worker of another machine that went silent. In each, the search
completes its budget, every trial finished exactly once, finished trials kept unchanged.

(SIGKILL of a lone search followed by `nasforge resume`: tests/ui/test_kill_resume.py.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nasforge import config as config_module
from nasforge.errors import StoreError
from nasforge.records import TrialRecord, TrialState
from nasforge.store import open_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")]

TIMEOUT = "2"  # --heartbeat-timeout of every process: a sweep every 0.5 s

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
epochs = 20
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


def write_config(folder: Path, budget: int) -> Path:
    path = folder / "run.toml"
    path.write_text(CONFIG.format(budget=budget))
    return path


def start(folder: Path, label: str, *args: str) -> subprocess.Popen:
    """`python -m nasforge ARGS`, its output in files (a pipe nobody reads could fill)."""
    env = {**os.environ, "NASFORGE_CACHE_DIR": str(folder / "cache"),
           "OMP_NUM_THREADS": "1"}  # several processes share the cores
    with (folder / f"{label}.out").open("w") as out, (folder / f"{label}.err").open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "nasforge", *args], env=env,
                                stdout=out, stderr=err, text=True)


def output(folder: Path, label: str) -> str:
    return (folder / f"{label}.out").read_text() + (folder / f"{label}.err").read_text()


def snapshot(url: str) -> list[TrialRecord] | None:
    """The trials of search "tiny", or None while the store or the search does not exist."""
    try:
        store = open_store(url, create=False)
    except StoreError:
        return None
    try:
        return store.trials("tiny")
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


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)  # reaped: its pid is gone, as a dead process's on this host


def finished_once(trials: list[TrialRecord], budget: int) -> None:
    assert [t.number for t in trials] == list(range(budget)), [t.number for t in trials]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget, trials
    assert len({t.arch_id for t in trials}) == budget  # no candidate added twice


def kept(before: list[TrialRecord], after: list[TrialRecord]) -> None:
    """Every trial finished in `before` is the same in `after`."""
    now = {t.number: t for t in after}
    for old in before:
        if old.state.is_finished:
            new = now[old.number]
            assert (new.state, new.metrics, new.arch, new.worker, new.finished_at) == (
                old.state, old.metrics, old.arch, old.worker, old.finished_at), old.number


def holds(trials: list[TrialRecord] | None, worker: str, state: TrialState) -> list[int]:
    return [t.number for t in trials or () if t.worker == worker and t.state is state]


def both(url: str, finisher: str, holder: str) -> bool:
    """Whether `finisher` has finished a trial and `holder` holds one RUNNING."""
    trials = snapshot(url)
    return bool(holds(trials, finisher, TrialState.COMPLETE)
                and holds(trials, holder, TrialState.RUNNING))


def search_and_worker(folder: Path, url: str, budget: int, procs: list[subprocess.Popen]
                      ) -> tuple[subprocess.Popen, subprocess.Popen]:
    """`nasforge search` and, once its row exists, `nasforge worker` joined to it."""
    search = start(folder, "search", "search", str(write_config(folder, budget)),
                   "--storage", url, "--heartbeat-timeout", TIMEOUT)
    procs.append(search)
    wait_for(lambda: snapshot(url) is not None, procs, "the search row")
    worker = start(folder, "worker", "worker", "tiny", "--storage", url,
                   "--heartbeat-timeout", TIMEOUT)
    procs.append(worker)
    return search, worker


def test_sigkill_of_a_joined_worker_its_running_trial_runs_again(tmp_path):
    budget = 24
    for attempt in range(3):  # the kill may land between two of its trials: try again
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'q.db'}"
        procs: list[subprocess.Popen] = []
        try:
            search, worker = search_and_worker(folder, url, budget, procs)
            victim = worker_of(worker)
            wait_for(lambda: both(url, victim, victim), procs,  # noqa: B023
                     "the worker to finish a trial and hold another")
            kill(worker)
            before = snapshot(url)
            held = holds(before, victim, TrialState.RUNNING)
            if not held:
                continue
            assert search.wait(timeout=120) == 0, output(folder, "search")
        finally:
            stop(procs)
        break
    assert held, "never killed the worker while it held a trial"
    assert f"{budget} complete, 0 failed" in output(folder, "search")
    after = snapshot(url)
    finished_once(after, budget)
    kept(before, after)
    assert holds(before, victim, TrialState.COMPLETE)  # kept, by the worker that ran them
    for number in held:  # run again by the survivor, the same candidate
        assert after[number].worker == worker_of(search)
        assert after[number].arch == before[number].arch
    assert set(holds(after, victim, TrialState.COMPLETE)) == set(
        holds(before, victim, TrialState.COMPLETE))


def test_sigkill_of_the_coordinator_the_worker_finishes_and_resume_has_nothing_to_do(tmp_path):
    budget = 24
    for attempt in range(3):  # the kill may land between two of its trials: try again
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'q.db'}"
        procs: list[subprocess.Popen] = []
        try:
            search, worker = search_and_worker(folder, url, budget, procs)
            coordinator, joined = worker_of(search), worker_of(worker)
            wait_for(lambda: both(url, joined, coordinator), procs,  # noqa: B023
                     "the worker to finish a trial while the search holds one")
            kill(search)
            before = snapshot(url)
            held = holds(before, coordinator, TrialState.RUNNING)
            if not held:
                continue
            assert worker.wait(timeout=120) == 0, output(folder, "worker")
        finally:
            stop(procs)
        break
    assert held, "never killed the search while it held a trial"
    assert f"{budget} complete, 0 failed" in output(folder, "worker")
    after = snapshot(url)
    finished_once(after, budget)
    kept(before, after)
    for number in held:  # run again by the joined worker
        assert after[number].worker == joined and after[number].arch == before[number].arch

    began = time.monotonic()
    resume = start(folder, "resume", "resume", "tiny", "--storage", url,
                   "--heartbeat-timeout", TIMEOUT)
    try:
        assert resume.wait(timeout=120) == 0, output(folder, "resume")
    finally:
        stop([resume])
    assert time.monotonic() - began < 30  # start-up only: nothing to wait for
    assert f"{budget} complete, 0 failed" in output(folder, "resume")
    final = snapshot(url)
    assert final == after  # nothing run, nothing changed


def test_trials_of_a_silent_worker_elsewhere_run_again_after_the_timeout(tmp_path):
    """Another machine's worker that stopped beating: its RUNNING trials are re-queued after
    --heartbeat-timeout (not at once: its process cannot be looked up), then run here."""
    budget, timeout = 6, 1.5
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = config_module.load(write_config(tmp_path, budget))
    store = open_store(url)
    try:
        store.create_search(config.name, config.objectives, config.budget, config.raw)
        rng = np.random.default_rng(7)
        silent = store.add_trials("tiny", [config.space.sample(rng) for _ in range(2)],
                                  TrialState.RUNNING, worker="otherhost:1")
    finally:
        store.close()
    assert [t.number for t in silent] == [0, 1]

    began = time.monotonic()
    resume = start(tmp_path, "resume", "resume", "tiny", "--storage", url,
                   "--heartbeat-timeout", str(timeout))
    try:
        assert resume.wait(timeout=120) == 0, output(tmp_path, "resume")
    finally:
        stop([resume])
    elapsed = time.monotonic() - began
    assert f"{budget} complete, 0 failed" in output(tmp_path, "resume")
    trials = snapshot(url)
    finished_once(trials, budget)
    me = worker_of(resume)
    assert {t.worker for t in trials} == {me}
    for old in silent:  # the same candidates, run here
        assert trials[old.number].arch == old.arch
    # the new trials 2..5 ran first; the silent ones waited out the timeout (measured from
    # when this process first saw their lease, after its first trial had started)
    first_new = min(t.started_at for t in trials[2:])
    for old in silent:
        waited = (trials[old.number].started_at - first_new).total_seconds()
        assert timeout <= waited < timeout + 20, waited
    assert elapsed < 60, elapsed
