"""Faults of a shared search in real processes: SIGKILL of a joined worker, of the coordinator
(`nasforge search`), and a worker of another machine that went silent. In each, the search
completes its budget, every trial finished exactly once, finished trials kept unchanged.

(SIGKILL of a lone search followed by `nasforge resume`: tests/ui/test_kill_resume.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cli_processes import (
    kill,
    output,
    snapshot,
    start,
    stop,
    wait_for,
    worker_of,
    write_config,
)

from nasforge import config as config_module
from nasforge.records import TrialRecord, TrialState
from nasforge.store import open_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")]

TIMEOUT = "2"  # --heartbeat-timeout of every process: a sweep every 0.5 s

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


def finished_early(url: str, budget: int, procs: list[subprocess.Popen]) -> bool:
    """Whether both processes exit 0 with the whole budget complete (one of them ran it all
    before the other took a trial: nothing to kill, not a failure)."""
    for proc in procs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            return False
    trials = snapshot(url) or []
    return (all(proc.returncode == 0 for proc in procs) and len(trials) == budget
            and all(t.state is TrialState.COMPLETE for t in trials))


@dataclass
class Killed:
    """A shared search whose `victim` process was SIGKILLed while it held a trial (`held`)
    and the other had finished one; the `survivor` ran to the end. `before`: the trials
    right after the kill."""

    folder: Path
    url: str
    victim: str
    survivor: str
    survivor_label: str
    before: list[TrialRecord]
    held: list[int]


def kill_while_holding(tmp_path: Path, budget: int, kill_search: bool) -> Killed:
    for attempt in range(4):  # the kill may land between two of its trials: try again
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'q.db'}"
        procs: list[subprocess.Popen] = []
        try:
            search, worker = search_and_worker(folder, url, budget, procs)
            victim, survivor = (search, worker) if kill_search else (worker, search)
            ids = worker_of(victim), worker_of(survivor)
            finisher = ids[1] if kill_search else ids[0]  # a worker victim: finished one too
            try:
                wait_for(lambda: both(url, finisher, ids[0]),  # noqa: B023
                         procs, "a finished trial while the victim holds another")
            except AssertionError as err:
                if finished_early(url, budget, procs):  # a loaded machine: the first process
                    continue  # finished the budget before the second one started: again
                raise AssertionError(f"{err}\n--- search:\n{output(folder, 'search')}\n"
                                     f"--- worker:\n{output(folder, 'worker')}") from err
            kill(victim)
            before = snapshot(url)
            held = holds(before, ids[0], TrialState.RUNNING)
            if not held:
                continue
            label = "worker" if kill_search else "search"
            assert survivor.wait(timeout=120) == 0, output(folder, label)
            return Killed(folder, url, ids[0], ids[1], label, before, held)
        finally:
            stop(procs)
    raise AssertionError("never killed the victim while it held a trial")


def test_sigkill_of_a_joined_worker_its_running_trial_runs_again(tmp_path):
    budget = 24
    k = kill_while_holding(tmp_path, budget, kill_search=False)
    folder, url, before, held, victim = k.folder, k.url, k.before, k.held, k.victim
    assert f"{budget} complete, 0 failed" in output(folder, "search")
    after = snapshot(url)
    finished_once(after, budget)
    kept(before, after)
    assert holds(before, victim, TrialState.COMPLETE)  # kept, by the worker that ran them
    for number in held:  # run again by the survivor, the same candidate
        assert after[number].worker == k.survivor
        assert after[number].arch == before[number].arch
    assert set(holds(after, victim, TrialState.COMPLETE)) == set(
        holds(before, victim, TrialState.COMPLETE))


def test_sigkill_of_the_coordinator_the_worker_finishes_and_resume_has_nothing_to_do(tmp_path):
    budget = 24
    k = kill_while_holding(tmp_path, budget, kill_search=True)
    folder, url, before, held, joined = k.folder, k.url, k.before, k.held, k.survivor
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
