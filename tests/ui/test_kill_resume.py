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


def complete_count(url: str) -> int:
    try:
        store = open_store(url, create=False)
    except StoreError:
        return 0
    try:
        return len(store.trials("tiny", [TrialState.COMPLETE]))
    except StoreError:
        return 0
    finally:
        store.close()


def test_sigkill_then_resume_loses_nothing_and_duplicates_nothing(tmp_path, write_config):
    budget = 8
    config = write_config(budget=budget, epochs=25, depth="{ low = 2, high = 3 }")
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    proc = nasforge("search", str(config), "--storage", url, cache=tmp_path)
    deadline = time.monotonic() + 120
    while complete_count(url) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "search too slow to reach 3 trials"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    store = open_store(url, create=False)
    before = {t.number: t for t in store.trials("tiny") if t.state is TrialState.COMPLETE}
    states = [t.state for t in store.trials("tiny")]
    store.close()
    assert len(before) < budget, "the kill came too late to test anything"

    resumed = nasforge("resume", "tiny", "--storage", url, cache=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    store = open_store(url, create=False)
    trials = store.trials("tiny")
    store.close()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget, (states, trials)
    assert [t.number for t in trials] == list(range(budget))
    assert len({t.arch_id for t in trials}) == budget
    for number, record in before.items():  # finished trials are kept, untouched
        assert trials[number].metrics == record.metrics
        assert trials[number].arch == record.arch
