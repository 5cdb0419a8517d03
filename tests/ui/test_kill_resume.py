"""A search killed with SIGKILL and resumed ends with exactly the budget's trials complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nasforge.errors import StoreError
from nasforge.records import TrialState
from nasforge.store import open_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")]


def nasforge(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "NASFORGE_CACHE_DIR": str(kwargs.pop("cache"))}
    return subprocess.Popen([sys.executable, "-m", "nasforge", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def states(url: str) -> list[TrialState]:
    try:
        store = open_store(url, create=False)
    except StoreError:
        return []
    try:
        return [t.state for t in store.trials("tiny")]
    except StoreError:
        return []
    finally:
        store.close()


def kill_mid_trial(config, url: str, cache) -> list[TrialState]:
    """Start a search, SIGKILL it while a trial is RUNNING after 3 are complete; return the
    states the store holds afterwards."""
    proc = nasforge("search", str(config), "--storage", url, cache=cache)
    deadline = time.monotonic() + 120
    while True:
        now = states(url)
        if now.count(TrialState.COMPLETE) >= 3 and TrialState.RUNNING in now:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "search too slow to reach 3 trials"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return states(url)


def test_sigkill_then_resume_loses_nothing_and_duplicates_nothing(tmp_path, write_config):
    budget = 8
    config = write_config(budget=budget, epochs=25, depth="{ low = 2, high = 3 }")
    for attempt in range(3):  # the kill may land between two trials: then try again
        url = f"sqlite:///{tmp_path / f'kill{attempt}.db'}"
        after_kill = kill_mid_trial(config, url, tmp_path)
        if TrialState.RUNNING in after_kill:
            break
    assert TrialState.RUNNING in after_kill, "never killed a search in the middle of a trial"
    assert after_kill.count(TrialState.COMPLETE) < budget

    store = open_store(url, create=False)
    before = {t.number: t for t in store.trials("tiny") if t.state is TrialState.COMPLETE}
    store.close()

    resumed = nasforge("resume", "tiny", "--storage", url, cache=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    store = open_store(url, create=False)
    trials = store.trials("tiny")
    store.close()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget, (after_kill, trials)
    assert [t.number for t in trials] == list(range(budget))
    assert len({t.arch_id for t in trials}) == budget
    for number, record in before.items():  # finished trials are kept, untouched
        assert trials[number].metrics == record.metrics
        assert trials[number].arch == record.arch
