"""The dashboard's incremental trials read (`trial_cache.TrialCache`): after trials are added
and change state, the frame it keeps equals a whole read of the store, and it read only the
trials that could have changed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pandas as pd
import pytest

from nasforge.objectives import parse_objectives
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.ui import queries
from nasforge.ui.dashboard.trial_cache import TrialCache

OBJECTIVES = parse_objectives(["accuracy:max", "params:min"])


def _arch(i: int) -> Architecture:
    """Architectures whose parameters differ (a conditional width, a string, a float)."""
    values: dict[str, object] = {"family": "mlp", "mlp.depth": 1 + i % 3,
                                 "activation": ["relu", "gelu"][i % 2], "lr": 0.001 * (i + 1)}
    if i % 3:
        values["mlp.width.1"] = 16 * (i % 4 + 1)
    return Architecture(values)


def _result(i: int) -> EvalResult:
    if i % 7 == 3:
        return EvalResult(TrialState.FAILED, error="diverged (NaN loss)")
    metrics = {"accuracy": 0.5 + 0.01 * i, "params": float(1000 + 37 * (i % 11))}
    if i % 2:
        metrics["latency_ms"] = 0.1 * i  # a metric only some trials have
    if i % 5 == 0:
        metrics["inherited_accuracy"] = 0.4  # measured on shared weights
    return EvalResult(TrialState.COMPLETE, metrics)


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'inc.db'}")
    store.create_search("s", OBJECTIVES, 100, {})
    yield store
    store.close()


def _whole(store) -> pd.DataFrame:
    return queries.trials_frame(store.trials("s"))


def test_incremental_load_equals_a_full_load_after_trials_are_added_and_states_change(store):
    running = store.add_trials("s", [_arch(i) for i in range(12)], TrialState.RUNNING)
    for trial in running[:8]:
        store.finish("s", trial.number, _result(trial.number))
    store.add_trials("s", [_arch(i) for i in range(12, 15)])  # WAITING
    cache = TrialCache(store, "s")
    first = cache.frame(store.get_search("s"))
    assert cache.last_read is not None and cache.last_read.whole
    pd.testing.assert_frame_equal(first, _whole(store))

    # another writer: the RUNNING ones finish, WAITING ones are claimed, new ones come
    for trial in running[8:]:
        store.finish("s", trial.number, _result(trial.number))
    claimed = store.claim("s", 2)
    store.finish("s", claimed[0].number, _result(claimed[0].number))
    store.add_trials("s", [_arch(i) for i in range(15, 20)], TrialState.RUNNING)
    second = cache.frame(store.get_search("s"))
    assert not cache.last_read.whole
    assert cache.last_read.rows == 7 + 5  # the 7 seen unfinished and the 5 new, no more
    pd.testing.assert_frame_equal(second, _whole(store))
    assert first["state"].tolist().count("RUNNING") == 4  # the first frame is left alone

    for number in range(15, 20):
        store.finish("s", number, _result(number))
    third = cache.frame(store.get_search("s"))
    pd.testing.assert_frame_equal(third, _whole(store))
    assert set(third["weights"]) == {"inherited", "trained"}
    assert third["param.mlp.width.1"].isna().any() and third["latency_ms"].isna().any()


def test_unchanged_counts_read_nothing_and_a_search_made_again_is_read_whole(store):
    store.add_trials("s", [_arch(i) for i in range(3)], TrialState.RUNNING)
    cache = TrialCache(store, "s")
    search = store.get_search("s")
    frame = cache.frame(search)
    read = cache.last_read
    assert cache.frame(search) is frame and cache.last_read is read  # no query at all
    again = dataclasses.replace(search, created_at=search.created_at + timedelta(seconds=1))
    cache.frame(again)
    assert cache.last_read is not read and cache.last_read.whole


def test_a_search_without_trials_gives_an_empty_frame_then_its_first_trials(store):
    cache = TrialCache(store, "s")
    assert cache.frame(store.get_search("s")).empty
    store.add_trials("s", [_arch(0)], TrialState.RUNNING)
    store.finish("s", 0, _result(0))
    frame = cache.frame(store.get_search("s"))
    pd.testing.assert_frame_equal(frame, _whole(store))
    assert frame["state"].tolist() == ["COMPLETE"]
