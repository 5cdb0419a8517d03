"""The Strategy protocol: ask for candidates, tell results. Nothing else.

Lifecycle: a strategy is built from (space, objectives, seed, options); the search loop first
*replays* the stored history through `tell` (so a resumed search continues where it stopped),
then alternates `ask(n)` and `tell(records)`. `tell` receives trials in any state: finished
ones carry metrics; WAITING/RUNNING ones tell the strategy what is already pending.
Cross-cutting behaviour (deduplication, seeding the first candidates, fixed parameters) is a
wrapper around a strategy, not a flag inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nasforge.records import TrialRecord
from nasforge.searchspace.architecture import Architecture


class Strategy(Protocol):
    def ask(self, n: int) -> list[Architecture]:
        """Up to `n` new candidates; fewer (even none) when the space is exhausted."""

    def tell(self, records: Sequence[TrialRecord]) -> None:
        """Learn from trials (finished or pending), in the order they happened."""
