"""Prefiltered: a wrapper that trains only the best of a pool of candidates by zero-cost proxy.

For each candidate it returns, it asks its inner strategy for `pool` candidates, scores them
with an injected `PoolScorer` (``arch -> {proxy: score}``; built by the search, which holds the
data: `nasforge.evaluator_setup.pool_scorer`), and returns the best. Several proxies make a
rank ensemble: each proxy ranks the pool (average ranks on ties, larger score better) and the
candidate with the best summed rank wins; ties go to the earlier proposal. The ranking is by
proxy only, so the wrapper works with any objectives and any inner strategy.

The inner strategy is told each discarded candidate at once, as a FAILED record with a
negative number of its own (`discard_number`) and the error ``discarded by the proxy
pre-filter``: it never proposes it again, a model-based strategy learns nothing from it, and
evolution counts it as a known trial outside its population. Each pool is kept (`Pool`:
winner, discarded candidates, every score) through the injected `keep` callback; the search
appends them to the store (`Store.add_pool`, a row each: `nasforge.prefilter_pools`), so a
user can read every score with ``nasforge show NAME --json``.

Resume: the wrapper is rebuilt with the stored pools; when the replayed history reaches a
pool's winner, the pool's discarded candidates are told first, exactly as the uninterrupted
run told them (just before its winner was added). The inner strategy thus holds the same
state, and a resumed search proposes what an uninterrupted one would (for inner strategies
that do so themselves). A pool whose winner never reached the store (a crash in between) is
not replayed; the resumed run draws the same pool again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nasforge.errors import ConfigError
from nasforge.frozen import freeze
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.strategies.base import Strategy

logger = logging.getLogger(__name__)

#: arch -> {proxy name: score} for each candidate of a pool, in order.
PoolScorer = Callable[[Sequence[Architecture]], list[Mapping[str, float]]]
DEFAULT_POOL = 16
MAX_POOL = 4096
DISCARDED = "discarded by the proxy pre-filter"
#: The search name of the records that tell the inner strategy about discarded candidates.
DISCARD_SEARCH = "prefilter"


@dataclass(frozen=True, slots=True)
class Pool:
    """One pool: the winner's arch_id, the discarded candidates (in proposal order) and the
    proxy scores of every member (arch_id -> proxy -> score)."""

    winner: str
    discarded: tuple[Architecture, ...]
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", freeze({k: dict(v) for k, v in self.scores.items()}))

    def to_json(self) -> dict[str, object]:
        """Plain JSON values; a non-finite score is stored as null."""
        return {"winner": self.winner, "discarded": [dict(a) for a in self.discarded],
                "scores": {k: {p: v if math.isfinite(v) else None for p, v in s.items()}
                           for k, s in self.scores.items()}}

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> Pool:
        discarded = value.get("discarded", [])
        scores = value.get("scores", {})
        assert isinstance(discarded, list) and isinstance(scores, Mapping)
        return cls(str(value["winner"]), tuple(Architecture(a) for a in discarded),
                   {str(k): {p: -math.inf if v is None else float(v) for p, v in s.items()}
                    for k, s in scores.items()})


@dataclass(frozen=True, slots=True)
class PrefilterOptions:
    """``strategy_options.prefilter``: `proxies` (one name, or several for a rank ensemble)
    and `pool` (candidates scored per candidate trained, >= 2)."""

    proxies: tuple[str, ...]
    pool: int = DEFAULT_POOL

    @classmethod
    def parse(cls, value: object) -> PrefilterOptions:
        example = 'prefilter = { proxy = "synflow", pool = 16 }'
        if not isinstance(value, Mapping):
            raise ConfigError(f"[search] strategy_options prefilter = {value!r} must be a table, "
                              f"e.g. {example}.")
        unknown = sorted(set(value) - {"proxy", "pool"})
        if unknown:
            raise ConfigError(f"[search] strategy_options prefilter has unknown key(s) "
                              f"{', '.join(unknown)}; it takes proxy and pool, e.g. {example}.")
        proxy = value.get("proxy")
        names = [proxy] if isinstance(proxy, str) else proxy
        if (not isinstance(names, (list, tuple)) or not names
                or not all(isinstance(n, str) and n for n in names)
                or len(set(names)) != len(names)):
            raise ConfigError(f"[search] strategy_options prefilter proxy = {proxy!r}; name a "
                              'proxy ("synflow") or a list of distinct proxies for a rank '
                              'ensemble (["synflow", "naswot"]).')
        pool = value.get("pool", DEFAULT_POOL)
        if isinstance(pool, bool) or not isinstance(pool, int) or not 2 <= pool <= MAX_POOL:
            raise ConfigError(f"[search] strategy_options prefilter pool = {pool!r}; use a "
                              f"whole number from 2 to {MAX_POOL} (candidates scored per "
                              "candidate trained).")
        return cls(tuple(names), pool)


def discard_number(arch: Architecture) -> int:
    """The (negative, stable) number a discarded candidate is told to the inner strategy with:
    never a stored trial's number, the same live and on replay."""
    return -1 - int(arch.arch_id[:15], 16)


def rank_best(scores: Sequence[Mapping[str, float]], proxies: Sequence[str]) -> int:
    """Index of the candidate with the best summed rank over `proxies` (larger score better,
    average ranks on ties; a missing or NaN score ranks last); the earliest on a tie."""
    total = np.zeros(len(scores))
    for proxy in proxies:
        values = np.array([float(s.get(proxy, float("nan"))) for s in scores], dtype=float)
        values[np.isnan(values)] = -np.inf
        order = values.argsort(kind="stable")
        ranks = np.empty(len(values))
        ranks[order] = np.arange(len(values), dtype=float)
        for value in np.unique(values):  # average ranks of equal scores
            same = values == value
            ranks[same] = ranks[same].mean()
        total += ranks
    return int(np.flatnonzero(total == total.max())[0])


class Prefiltered:
    """See the module docstring. `inner` should never propose a candidate twice (a
    `Deduplicated`); `scorer` None builds a wrapper for validation only (its `ask` raises).
    `pools`: the stored pools, replayed as the history reaches their winners; `keep`: called
    with each new pool before its winner is returned."""

    def __init__(self, inner: Strategy, options: PrefilterOptions,
                 scorer: PoolScorer | None = None, pools: Sequence[Pool] = (),
                 keep: Callable[[Pool], None] | None = None) -> None:
        self.inner = inner
        self.options = options
        self.scorer = scorer
        self.keep = keep
        self._stored = {pool.winner: pool for pool in pools}
        self._replayed: set[str] = set()

    def ask(self, n: int) -> list[Architecture]:
        if self.scorer is None:
            raise ConfigError("The proxy pre-filter needs a scorer: run it through "
                              "`nasforge search` or `Search`, which build it from the data.")
        winners: list[Architecture] = []
        for _ in range(n):
            pool = self.inner.ask(self.options.pool)
            if not pool:
                break
            scores = self.scorer(pool)
            best = rank_best(scores, self.options.proxies)
            winner = pool[best]
            discarded = tuple(a for i, a in enumerate(pool) if i != best)
            kept = Pool(winner.arch_id, discarded,
                        {a.arch_id: s for a, s in zip(pool, scores, strict=True)})
            self._tell_discarded(kept)
            self._replayed.add(winner.arch_id)
            if self.keep is not None:
                self.keep(kept)
            winners.append(winner)
        return winners

    def tell(self, records: Sequence[TrialRecord]) -> None:
        batch: list[TrialRecord] = []
        for record in records:
            pool = self._stored.get(record.arch_id)
            if pool is not None and record.arch_id not in self._replayed:
                self._replayed.add(record.arch_id)
                if batch:
                    self.inner.tell(batch)
                    batch = []
                self._tell_discarded(pool)
            batch.append(record)
        if batch:
            self.inner.tell(batch)

    def _tell_discarded(self, pool: Pool) -> None:
        if pool.discarded:
            self.inner.tell([TrialRecord(DISCARD_SEARCH, discard_number(a), a,
                                         TrialState.FAILED, error=DISCARDED)
                             for a in pool.discarded])
