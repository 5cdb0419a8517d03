"""A search's history as one process knows it, kept in step with a store other workers
write to.

`load` reads every trial once; `news` returns only what changed since: trials numbered
above the highest seen (trial numbers grow in commit order, so none is missed) and the
trials last seen unfinished whose state moved on, at most every `refresh` seconds unless
forced. A lone search therefore pays one small query per refresh; each extra worker adds a
query over the trials still in flight.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable

from nasforge.records import TrialRecord, TrialState
from nasforge.store.base import Store


class SharedHistory:
    def __init__(self, store: Store, search: str, refresh: float = 0.25, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.search, self.refresh = store, search, refresh
        self._clock = clock
        self._read_at = -math.inf
        self.states: dict[int, TrialState] = {}
        self._counts: Counter[TrialState] = Counter()
        self._unfinished: set[int] = set()
        self._last = -1

    def load(self) -> list[TrialRecord]:
        """Every trial of the search, with curves (strategies such as halving read them)."""
        records = self.store.trials(self.search, with_curves=True)
        self._read(records)
        return records

    def mark(self, records: Iterable[TrialRecord]) -> None:
        """Note records this process made or told itself (they are not news later). This
        does not move the read position: another worker may hold lower numbers not read yet."""
        for record in records:
            old = self.states.get(record.number)
            if old is not None:
                self._counts[old] -= 1
            self.states[record.number] = record.state
            self._counts[record.state] += 1
            if record.state.is_finished:
                self._unfinished.discard(record.number)
            else:
                self._unfinished.add(record.number)

    def _read(self, records: list[TrialRecord]) -> None:
        self.mark(records)
        self._last = max([self._last] + [r.number for r in records])

    def news(self, force: bool = False) -> list[TrialRecord]:
        """Trials added or changed by others since the last read, by number; without
        `force`, at most one read per `refresh` seconds (none: []). The budget and
        duplicates are guarded by the store itself, so a lagging view costs nothing but
        a strategy's freshness; callers force a read when the store refused them."""
        now = self._clock()
        if not force and now - self._read_at < self.refresh:
            return []
        self._read_at = now
        pending = [n for n in self._unfinished if n <= self._last]
        read = self.store.trials(self.search, with_curves=True, numbers=pending) if pending else []
        read += self.store.trials(self.search, with_curves=True, after=self._last)
        out = [r for r in read if self.states.get(r.number) is not r.state]
        self._read(read)
        return sorted(out, key=lambda r: r.number)

    def counts(self) -> Counter[TrialState]:
        """Trials per state as of the last `load`/`news`/`mark`."""
        return Counter({state: n for state, n in self._counts.items() if n})

    def finished(self) -> int:
        return sum(n for state, n in self._counts.items() if state.is_finished)
