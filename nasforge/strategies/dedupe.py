"""Deduplicated: a wrapper that never proposes an architecture twice (by arch_id)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nasforge.records import TrialRecord
from nasforge.searchspace.architecture import Architecture
from nasforge.strategies.base import Strategy

logger = logging.getLogger(__name__)


class Deduplicated:
    """Filters out candidates already proposed or already in the history.

    The inner strategy is asked again for replacements. A strategy rebuilt from its seed
    re-proposes its history first (random search replays its sample sequence), so the number
    of rounds allowed grows with the history: `max_rounds` plus one per known candidate. When
    the inner strategy still proposes nothing new (a finite space is exhausted), `ask` returns
    fewer than asked for, and the search loop ends.
    """

    def __init__(self, inner: Strategy, max_rounds: int = 100) -> None:
        self.inner = inner
        self.max_rounds = max_rounds
        self.seen: set[str] = set()

    def ask(self, n: int) -> list[Architecture]:
        fresh: list[Architecture] = []
        for _ in range(self.max_rounds + len(self.seen)):
            if len(fresh) >= n:
                break
            proposals = self.inner.ask(n - len(fresh))
            if not proposals:
                break
            for arch in proposals:
                if arch.arch_id not in self.seen and len(fresh) < n:
                    self.seen.add(arch.arch_id)
                    fresh.append(arch)
        if len(fresh) < n:
            logger.info("only %d new candidates found (space nearly exhausted)", len(fresh))
        return fresh

    def tell(self, records: Sequence[TrialRecord]) -> None:
        self.seen.update(r.arch_id for r in records)
        self.inner.tell(records)
