"""Several processes sharing one search through the store (here: threads, each with its own
store connection and worker id), heartbeats, stale leases and lost leases."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from nasforge.config import from_dict
from nasforge.errors import ConfigError, SearchNotFoundError
from nasforge.leases import Heartbeat, StaleWatch, dead_here, orphaned
from nasforge.records import EvalResult, Lease, TrialState
from nasforge.search import Search, peer_seed
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.ui.report import search_report

RAW = {
    "search": {"name": "s", "budget": 30, "objectives": ["accuracy:max"], "batch": 2},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu", "tanh"], "norm": ["none"],
              "lr": {"low": 1e-4, "high": 1e-1, "log": True},
              "mlp": {"depth": {"low": 1, "high": 3}, "width": {"low": 8, "high": 512}}},
}
C, R, W = TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING


def config(**search):
    return from_dict({**RAW, "search": {**RAW["search"], **search}})


class SlowEvaluator:
    """accuracy from the width, after `delay` seconds per batch; records what it ran."""

    def __init__(self, delay: float = 0.01, on_batch=None) -> None:
        self.delay, self.on_batch = delay, on_batch
        self.calls: list[Architecture] = []

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        if self.on_batch is not None:
            self.on_batch(archs)
        time.sleep(self.delay)
        self.calls += archs
        return [EvalResult(C, {"accuracy": a["mlp.width"] / 512}) for a in archs]


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'shared.db'}"


def _check_exactly_once(url: str, budget: int) -> list:
    with open_store(url) as store:
        trials = store.trials("s")
    assert [t.number for t in trials] == list(range(budget))
    assert all(t.state is C for t in trials)
    assert len({t.arch_id for t in trials}) == budget
    return trials


def test_two_workers_share_the_budget_exactly(url):
    with open_store(url) as first:
        Search(config(budget=1), first, SlowEvaluator()).run()  # the search exists
        first.set_budget("s", 40)
    evaluators = [SlowEvaluator(), SlowEvaluator()]
    errors = []

    def work(i: int) -> None:
        try:
            with open_store(url) as store:
                Search(config(budget=40), store, evaluators[i], join=i == 1, resume=i == 0,
                       worker=f"w{i}").run()
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    trials = _check_exactly_once(url, 40)
    assert {t.worker for t in trials[1:]} == {"w0", "w1"}
    ran = evaluators[0].calls + evaluators[1].calls
    assert len(ran) == 39 and len({a.arch_id for a in ran}) == 39  # nothing evaluated twice
    with open_store(url) as store:
        workers = search_report(store.get_search("s"), store.trials("s"))["workers"]
    assert {w: row["running"] for w, row in workers.items() if w in ("w0", "w1")} == {
        "w0": 0, "w1": 0}
    assert workers["w0"]["finished"] + workers["w1"]["finished"] == 39


def test_a_joined_worker_sees_the_others_trials_as_progress(url):
    with open_store(url) as store:
        Search(config(budget=4), store, SlowEvaluator()).run()
        store.set_budget("s", 6)
        seen = []

        class Observer:
            def on_start(self, search, history):
                seen.append(("start", len(history)))

            def on_trial(self, record):
                seen.append(record.number)

        Search(config(), store, SlowEvaluator(), join=True, observer=Observer()).run()
    assert seen == [("start", 4), 4, 5]


def test_join_needs_an_existing_search_and_never_changes_its_budget(url):
    with open_store(url) as store:
        with pytest.raises(SearchNotFoundError):
            Search(config(), store, SlowEvaluator(), join=True).run()
        Search(config(budget=2), store, SlowEvaluator()).run()
        Search(config(budget=9), store, SlowEvaluator(), join=True).run()
        assert store.get_search("s").budget == 2 and len(store.trials("s")) == 2


def test_joined_workers_seed_their_strategy_apart():
    assert peer_seed(0, "a:1") != peer_seed(0, "b:1") != 0
    assert peer_seed(0, "a:1") == peer_seed(0, "a:1")


def test_trials_of_a_silent_worker_are_requeued_after_the_timeout(url):
    with open_store(url) as store:
        Search(config(budget=2), store, SlowEvaluator()).run()
        store.set_budget("s", 6)
        archs = [config().space.sample(np.random.default_rng(99 + i)) for i in range(3)]
        store.add_trials("s", archs, R, worker="elsewhere:1")  # another machine, then silence
        evaluator = SlowEvaluator()
        started = time.monotonic()
        Search(config(budget=6), store, evaluator, resume=True, heartbeat_timeout=0.4,
               worker="me").run()
        waited = time.monotonic() - started
        trials = store.trials("s")
    assert [t.state for t in trials] == [C] * 6
    assert {t.worker for t in trials[2:5]} == {"me"}  # re-run here under their own numbers
    ran = [a.arch_id for a in evaluator.calls]
    assert set(ran[-3:]) == {a.arch_id for a in archs}  # the one new trial ran while waiting
    assert waited >= 0.4  # not before the timeout


def test_trials_of_a_dead_process_of_this_host_are_requeued_at_once(url):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open_store(url) as store:
        Search(config(budget=2), store, SlowEvaluator()).run()
        store.set_budget("s", 3)
        arch = store.trials("s")[0].arch.replace(**{"mlp.width": 11})
        store.add_trials("s", [arch], R, worker=f"{socket.gethostname()}:{gone.pid}")
        evaluator = SlowEvaluator()
        Search(config(budget=3), store, evaluator, join=True, heartbeat_timeout=3600).run()
        assert store.trial("s", 2).state is C and evaluator.calls == [arch]


def test_a_late_result_of_a_worker_presumed_dead_is_dropped(url, caplog):
    with open_store(url) as store, open_store(url) as thief:
        Search(config(budget=1, batch=1), store, SlowEvaluator()).run()
        store.set_budget("s", 3)

        def steal(archs):  # while "me" evaluates, its lease goes stale and another takes it
            if len(stolen) == 0:
                number = thief.leases("s")[0].number
                thief.requeue("s", [number])
                thief.claim("s", 1, worker="thief")
                thief.finish("s", number, EvalResult(C, {"accuracy": -1.0}), worker="thief")
                stolen.append(number)

        stolen: list[int] = []
        Search(config(budget=3, batch=1), store, SlowEvaluator(on_batch=steal),
               resume=True, worker="me").run()
        trials = store.trials("s")
    assert [t.state for t in trials] == [C] * 3
    assert trials[stolen[0]].worker == "thief" and trials[stolen[0]].metrics["accuracy"] == -1
    assert "re-queued" in caplog.text


def test_an_interrupted_worker_hands_back_only_its_own_trials(url):
    with open_store(url) as store:
        Search(config(budget=1), store, SlowEvaluator()).run()
        store.set_budget("s", 5)
        other = store.add_trials("s", [store.trials("s")[0].arch.replace(**{"mlp.width": 9})],
                                 R, worker="other")[0]

        def interrupt(archs):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            Search(config(budget=5), store, SlowEvaluator(on_batch=interrupt), join=True,
                   worker="me").run()
        states = {t.number: (t.state, t.worker) for t in store.trials("s")}
    assert states[other.number] == (R, "other")
    assert all(s is W for n, (s, _) in states.items() if n > other.number)


def test_supernet_searches_cannot_be_joined(url):
    raw = {**RAW, "search": {**RAW["search"], "strategy": "supernet"}}
    with open_store(url) as store, pytest.raises(ConfigError, match="cannot join"):
        Search(from_dict(raw), store, SlowEvaluator(), join=True).run()


def test_stale_watch_judges_by_its_own_clock():
    now = [0.0]
    watch = StaleWatch(10, "me", clock=lambda: now[0], alive=lambda pid: True)
    beat = Lease(0, "far:1", None)
    assert watch.stale([beat, Lease(1, "me", None)]) == {}
    now[0] = 9.9
    assert watch.stale([beat]) == {}
    now[0] = 10.0
    assert watch.stale([beat]) == {0: beat}
    moved = Lease(0, "far:1", "t2")  # it beat: the clock starts again
    assert watch.stale([moved]) == {}
    now[0] = 19.9
    assert watch.stale([moved]) == {}
    now[0] = 20.0
    assert watch.stale([moved]) == {0: moved}


def test_orphans_and_dead_processes():
    host = "h"
    leases = [Lease(0, None, None), Lease(1, "me", None), Lease(2, "h:5", None),
              Lease(3, "h:6", None), Lease(4, "g:5", None), Lease(5, "h:x", None)]
    found = orphaned(leases, "me", host=host, alive=lambda pid: pid == 6)
    assert sorted(found) == [0, 1, 2]
    assert not dead_here(None) and not dead_here("g:5", host, lambda pid: False)
    watch = StaleWatch(1e9, "me", host=host, alive=lambda pid: pid == 6)
    assert sorted(watch.stale(leases)) == [2]  # no worker: maybe a live caller's; wait


def test_heartbeat_refreshes_the_leases_while_open(url):
    with open_store(url) as store:
        Search(config(budget=1), store, SlowEvaluator()).run()
        store.add_trials("s", [store.trials("s")[0].arch.replace(**{"mlp.width": 9})], R,
                         worker="me")
        first = store.leases("s")[0].heartbeat_at
        with Heartbeat(store, "s", "me", 0.02) as beat:
            deadline = time.monotonic() + 5
            while beat.beats < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert beat.beats >= 2 and store.leases("s")[0].heartbeat_at != first
