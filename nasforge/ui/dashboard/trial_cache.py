"""A search's trials frame kept in step with the store, read incrementally (no Streamlit here:
`data.py` keeps one per store URL and search in Streamlit's resource cache).

The first read takes every trial, as columns (`Store.trial_table`, built into the frame in
bulk by `nasforge.ui.table_frame`). Later ones, made only when the search's trial counts have
changed since the last, take the trials numbered above the highest seen (numbers grow in
commit order, so none is missed) and those last seen unfinished (WAITING, RUNNING), whose
state may have moved on, as `nasforge.shared_history.SharedHistory.news` does. A finished
trial never changes, so its row is never read again. A search that is gone and made again
under the same name (another ``created_at``), or holds fewer trials than seen, is read whole.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nasforge.records import SearchRecord, TrialState
from nasforge.store.base import Store
from nasforge.store.trial_table import concat_tables
from nasforge.ui.table_frame import FRAME_COLUMNS, PARAM_PREFIX, table_frame

_UNFINISHED = [s.value for s in TrialState if not s.is_finished]


@dataclass(frozen=True, slots=True)
class ReadStats:
    """What the last refresh read: ``whole`` (every trial) or only ``changed`` rows."""

    whole: bool
    rows: int


class TrialCache:
    """The trials frame of one search of one store. `frame` is safe to call from several
    threads (Streamlit sessions share it); the frame it returns is shared too: callers must
    not change it in place (pandas' filtering and `assign` make copies)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._signature: tuple[object, ...] | None = None
        self.last_read: ReadStats | None = None

    def frame(self, search: SearchRecord) -> pd.DataFrame:
        """The trials frame as of (at least) `search`'s trial counts."""
        signature = (search.created_at, tuple(sorted(search.trial_counts.items())))
        with self._lock:
            if self._frame is not None and signature == self._signature:
                return self._frame
            total = sum(search.trial_counts.values())
            stale = (self._frame is None or self._signature is None
                     or self._signature[0] != search.created_at or total < len(self._frame))
            self._frame = self._read_all() if stale else self._read_changes(self._frame)
            self._signature = signature
            return self._frame

    def _read_all(self) -> pd.DataFrame:
        frame = table_frame(self.store.trial_table(self.name))
        self.last_read = ReadStats(whole=True, rows=len(frame))
        return frame

    def _read_changes(self, frame: pd.DataFrame) -> pd.DataFrame:
        last = int(frame["number"].max()) if len(frame) else -1
        pending = frame.loc[frame["state"].isin(_UNFINISHED), "number"].tolist()
        parts = [self.store.trial_table(self.name, numbers=pending)] if pending else []
        parts.append(self.store.trial_table(self.name, after=last))
        changed = concat_tables(parts)  # pending numbers are all <= last: still by number
        self.last_read = ReadStats(whole=False, rows=len(changed))
        return merge(frame, table_frame(changed)) if len(changed) else frame


def merge(frame: pd.DataFrame, changed: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the rows of `changed` in place of its rows of the same number and the
    others appended, by number, in the column order of a frame read whole."""
    if not len(frame):
        return changed
    kept = frame[~np.isin(frame["number"].to_numpy(), changed["number"].to_numpy())]
    both = pd.concat([kept, changed], ignore_index=True, sort=False)
    both = both.sort_values("number", kind="stable", ignore_index=True)
    extra = [c for c in both.columns if c not in FRAME_COLUMNS]
    params = sorted(c for c in extra if c.startswith(PARAM_PREFIX))
    metrics = sorted(c for c in extra if not c.startswith(PARAM_PREFIX))
    return both[[*FRAME_COLUMNS, *metrics, *params]]
