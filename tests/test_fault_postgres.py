"""Fault injection: PostgreSQL restarts in the middle of a real search; the search completes
its budget and keeps every trial finished before the restart, each exactly once.

Runs on a throwaway cluster (`tests/store/pg_cluster.py`); skips without PostgreSQL, fails
without it when ``NASFORGE_TEST_POSTGRES_URL`` is set (CI).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "store"))
from pg_cluster import pg_cluster  # noqa: E402

from nasforge.config import from_dict  # noqa: E402
from nasforge.records import EvalResult, TrialState  # noqa: E402
from nasforge.search import Search  # noqa: E402
from nasforge.searchspace.architecture import Architecture  # noqa: E402
from nasforge.store import SQLStore  # noqa: E402

BUDGET = 48
RAW = {
    "search": {"name": "fault", "budget": BUDGET, "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none"],
              "lr": {"low": 1e-4, "high": 1e-1, "log": True},
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}


class SlowFakeEvaluator:
    """Instant scores (accuracy grows with width), 20 ms per architecture."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        time.sleep(0.02 * len(archs))
        return [EvalResult(TrialState.COMPLETE, {
            "accuracy": 0.5 + a["mlp.width"] / 100 + a["lr"],
            "params": float(a["mlp.width"] * a["mlp.depth"])}) for a in archs]


def _finished(store: SQLStore) -> dict[int, dict[str, float]]:
    return {t.number: dict(t.metrics) for t in store.trials("fault")
            if t.state.is_finished}


@pytest.mark.slow
def test_a_postgres_restart_mid_search_loses_nothing() -> None:
    with pg_cluster() as cluster:
        store = SQLStore(cluster.url, retry_seconds=30)
        watcher = SQLStore(cluster.url, retry_seconds=30)
        before: dict[int, dict[str, float]] = {}
        restarted = threading.Event()
        failures: list[BaseException] = []

        def restart_after_a_third() -> None:
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        done = _finished(watcher)
                    except Exception:  # noqa: BLE001 - the search is not created yet
                        done = {}
                    if len(done) >= BUDGET // 3:
                        before.update(done)
                        cluster.restart()
                        restarted.set()
                        return
                    time.sleep(0.01)
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)

        thread = threading.Thread(target=restart_after_a_third)
        thread.start()
        try:
            Search(from_dict(RAW), store, SlowFakeEvaluator()).run()
        finally:
            thread.join(60)
        assert not failures and restarted.is_set()
        assert BUDGET // 3 <= len(before) < BUDGET  # the restart came mid-search
        trials = store.trials("fault")
        assert [t.number for t in trials] == list(range(BUDGET))  # each exactly once
        assert all(t.state is TrialState.COMPLETE for t in trials)
        after = _finished(store)
        assert {n: after[n] for n in before} == before  # finished trials unchanged
        store.close()
        watcher.close()
