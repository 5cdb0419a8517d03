"""The data fingerprint column: the first write is atomic (two workers resuming a search
stored without one cannot overwrite each other), and a refresh replaces only the value the
caller saw."""

from __future__ import annotations

from store_helpers import OBJECTIVES

from nasforge.store import SQLStore

OURS = {"version": 1, "dataset": "csv:a.csv", "files": {"a.csv": "aa"}, "split": "1"}
THEIRS = {"version": 1, "dataset": "csv:a.csv", "files": {"a.csv": "bb"}, "split": "2"}
OLD = {"dataset": "csv:a.csv", "files": {"a.csv": "aa"}}  # before fingerprints had a version


def test_the_first_write_wins_and_each_writer_gets_what_is_stored(store: SQLStore) -> None:
    store.create_search("s", OBJECTIVES, 5, {"seed": 1})
    assert store.data_fingerprint("s") is None
    # two workers both read None, then both write: the second gets the first one's back
    assert store.set_data_fingerprint("s", THEIRS) == THEIRS
    assert store.set_data_fingerprint("s", OURS) == THEIRS
    assert store.data_fingerprint("s") == THEIRS


def test_a_refresh_replaces_only_the_fingerprint_the_caller_saw(store: SQLStore) -> None:
    store.create_search("s", OBJECTIVES, 5, {"seed": 1}, data_fingerprint=OLD)
    assert store.set_data_fingerprint("s", OURS) == OLD  # none expected, one stored: kept
    assert store.set_data_fingerprint("s", OURS, replacing=OLD) == OURS
    assert store.set_data_fingerprint("s", THEIRS, replacing=OLD) == OURS  # raced: kept
    assert store.data_fingerprint("s") == OURS
