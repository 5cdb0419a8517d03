"""Cached store reads for the pages. A search's trials are read when its trial counts change,
and then only the new trials and those last seen unfinished (`trial_cache.TrialCache`), so a
rerun (or the auto refresh) of a finished search costs one small query and of a running one
a query over the trials in flight. Every cache is Streamlit's, keyed by store URL and
search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from nasforge.errors import NasforgeError
from nasforge.records import SearchRecord, TrialRecord
from nasforge.store import Store, open_store
from nasforge.ui import queries
from nasforge.ui.architecture import SearchData, search_data
from nasforge.ui.dashboard.trial_cache import TrialCache

#: A page waits this long for a database server that is down, then shows the error (a
#: reload tries again); the commands wait 60 s, as a running search does.
PAGE_RETRY_SECONDS = 5.0


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return open_store(url, create=False, readonly=True, retry_seconds=PAGE_RETRY_SECONDS)


@st.cache_resource(show_spinner=False, max_entries=64)
def _trial_cache(url: str, name: str) -> TrialCache:
    return TrialCache(_store(url), name)


@st.cache_data(show_spinner=False, max_entries=256)
def _best(url: str, name: str, signature: tuple[object, ...]) -> dict[str, float]:
    """Each objective's best value; `signature` (the search's creation time and trial
    counts) is part of the cache key only: a refresh of an unchanged search reads nothing."""
    del signature
    store = _store(url)
    best = store.best_trials(name)
    return {str(o): float(best[str(o)].metrics[o.metric])
            for o in store.get_search(name).objectives if str(o) in best}


@st.cache_resource(show_spinner=False)
def _data(url: str, name: str, cache_dir: str | None) -> SearchData | str:
    try:
        store = _store(url)
        return search_data(store.get_search(name).config, Path(cache_dir) if cache_dir else None,
                           stored=store.data_fingerprint(name))
    except NasforgeError as err:
        return str(err)


@dataclass(frozen=True)
class Context:
    """What every page gets: the store URL (never shown: it may hold a password; see
    `nasforge.store.safe_url`), the searches, read once per run, and the store's note when
    an older nasforge wrote it (read as it is, as `nasforge list` does)."""

    url: str = field(repr=False)
    cache_dir: str | None
    searches: tuple[SearchRecord, ...]
    upgrade_note: str | None = None

    @classmethod
    def open(cls, url: str, cache_dir: str | None) -> Context:
        store = _store(url)
        return cls(url, cache_dir, tuple(store.list_searches()),
                   getattr(store, "upgrade_note", None))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.searches]

    def search(self, name: str) -> SearchRecord:
        return next(s for s in self.searches if s.name == name)

    def trials(self, name: str) -> pd.DataFrame:
        """The search's trials frame (shared between sessions: never change it in place)."""
        return _trial_cache(self.url, name).frame(self.search(name))

    def best(self, name: str) -> dict[str, float]:
        """The best value of each objective (``str(objective)`` -> value) over the COMPLETE
        trials, as the store finds them (without reading every trial)."""
        search = self.search(name)
        counts = tuple(sorted(search.trial_counts.items()))
        return _best(self.url, name, (search.created_at, counts))

    def trial(self, name: str, number: int) -> TrialRecord:
        return _store(self.url).trial(name, number)

    def data(self, name: str) -> SearchData | str:
        """The search's data shape and preprocessing, or why there are none."""
        return _data(self.url, name, self.cache_dir)

    def metrics(self, names: Sequence[str]) -> list[str]:
        found: dict[str, None] = {}
        for name in names:
            found.update(dict.fromkeys(queries.metric_columns(self.trials(name))))
        return list(found)
