"""The search loop: ask -> evaluate -> record -> tell, with a budget, resume, progress, and
any number of processes sharing one search.

One trial end to end: the strategy proposes an Architecture (`ask`), the store appends it as a
RUNNING trial held by this process, the evaluator trains and measures it, the store records
the result in one transaction (`finish`), and the strategy learns from it (`tell`).

Sharing: `nasforge search` starts a search; `nasforge worker NAME` (`Search(..., join=True)`)
runs the same loop against the same store from any machine. Each process reads what the
others added and finished (`SharedHistory.news`) before each round, tells its strategy, and
proposes only what the budget still has room for (finished + in flight < budget). WAITING
trials (re-queued ones) are claimed atomically before anything new is proposed. Each
process heartbeats its leases; trials of a worker that stopped beating for the heartbeat
timeout (or whose process on this host is gone) are re-queued and run again; a late result
of a worker presumed dead is dropped (LeaseLostError), so no trial is recorded twice.

Resume: trials a killed run of this host left RUNNING are moved back to WAITING and
evaluated first (those of other machines once their heartbeat is stale); the strategy is
rebuilt from its seed and replays the stored history, so nothing is lost and nothing is
counted twice. The budget counts finished trials (COMPLETE, FAILED, PRUNED).
"""

from __future__ import annotations

import importlib
import logging
import time
import zlib
from collections.abc import Mapping

import numpy as np

from nasforge.checkpoint_policy import Checkpoints
from nasforge.config import SearchConfig, from_dict
from nasforge.errors import ConfigError
from nasforge.evaluator.protocol import Evaluator
from nasforge.leases import DEFAULT_TIMEOUT, StaleWatch, check_timeout
from nasforge.leases import worker_id as worker_id
from nasforge.records import SearchRecord, TrialState
from nasforge.shared_history import SharedHistory
from nasforge.store.base import Store
from nasforge.strategies import driver_of, make_strategy
from nasforge.strategies.base import Strategy
from nasforge.strategies.prefilter import PoolScorer
from nasforge.trial_loop import RESUME_MUST_MATCH as RESUME_MUST_MATCH
from nasforge.trial_loop import SearchObserver, TrialLoop
from nasforge.trial_loop import SearchOutcome as SearchOutcome
from nasforge.trial_loop import check_budget as check_budget

logger = logging.getLogger(__name__)


def stored_config(store: Store, name: str) -> SearchConfig:
    """The config a search was started with, as stored (for `nasforge resume NAME`)."""
    record = store.get_search(name)
    return from_dict(record.config, source=f"search {name!r} in {store.url}")


def peer_seed(seed: int, worker: str) -> int:
    """The strategy seed of a worker joining a search: derived from the search's seed and
    the worker's id, so joined workers do not all propose the starter's candidates."""
    entropy = [int(seed) & 0xFFFFFFFF, zlib.crc32(worker.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class Search:
    """Runs one search against a store. Constructor only stores its arguments.

    `resume`: continue the named search if it exists (else start it). `join`: work on an
    existing search started elsewhere (`nasforge worker`): never create it, never change its
    budget, seed the strategy by `peer_seed`. `heartbeat_timeout`: seconds after which a
    silent worker's trials are re-queued (this process beats every quarter of it).
    `checkpoints` (`nasforge.checkpoint_policy.search_checkpoints`): the store records the
    evaluator's checkpoint paths relative to its root (paths outside it, or any path
    without it, are not recorded) and, when it prunes, the files of trials off the Pareto
    front are deleted after each round. `data_fingerprint`
    (`nasforge.evaluator.data.fingerprint`): stored with a new search; a resumed or joined search
    refuses other data (DataError, nothing written), and one stored without a fingerprint
    gets this one. `scorer`: the proxy pre-filter's (``strategy_options.prefilter``); None
    builds it from the config (`evaluator_setup.pool_scorer`, data loaded in this process)."""

    def __init__(self, config: SearchConfig, store: Store, evaluator: Evaluator, *,
                 resume: bool = False, join: bool = False, strategy: Strategy | None = None,
                 observer: SearchObserver | None = None,
                 checkpoints: Checkpoints | None = None,
                 heartbeat_timeout: float = DEFAULT_TIMEOUT,
                 worker: str | None = None,
                 data_fingerprint: Mapping[str, object] | None = None,
                 scorer: PoolScorer | None = None) -> None:
        self.config = config
        self.store = store
        self.evaluator = evaluator
        self.resume = resume
        self.join = join
        self.strategy = strategy
        self.observer = observer
        self.checkpoints = checkpoints
        self.heartbeat_timeout = check_timeout(heartbeat_timeout)
        self.worker = worker or worker_id()
        self.data_fingerprint = data_fingerprint
        self.scorer = scorer

    @property
    def loop(self) -> TrialLoop:
        """The public trial loop over this search's store, config and evaluator."""
        return TrialLoop(self.config, self.store, self.evaluator, resume=self.resume,
                         join=self.join, observer=self.observer, checkpoints=self.checkpoints,
                         heartbeat_timeout=self.heartbeat_timeout, worker=self.worker,
                         data_fingerprint=self.data_fingerprint)

    def check(self) -> SearchRecord | None:
        """`TrialLoop.check`: refuse a resume or join that cannot go on before anything is
        started; the stored search, or None when there is none to continue."""
        return self.loop.check()

    def _strategy(self, scorer: PoolScorer | None) -> Strategy:
        config = self.config
        seed = peer_seed(config.seed, self.worker) if self.join else config.seed
        if self.strategy is not None:
            return self.strategy
        if "prefilter" not in config.strategy_options:
            return make_strategy(config.strategy, config.space, config.objectives, seed,
                                 config.strategy_options)
        # proxy pre-filter: `scorer` built by `run`; its pools live with the search
        from nasforge.prefilter_pools import PoolArchive

        archive = PoolArchive(self.store, config.name)
        return make_strategy(config.strategy, config.space, config.objectives, seed,
                             config.strategy_options, scorer=scorer,
                             pools=archive.load(), keep=archive.keep)

    def run(self) -> SearchOutcome:
        config, store, loop = self.config, self.store, self.loop
        driver = driver_of(config.strategy)
        if driver is not None:  # e.g. train once, then thousands of subnets: its own driver
            if self.join and driver.join_refusal is not None:
                raise ConfigError(f"Search {config.name!r} {driver.join_refusal}")
            module, _, cls = driver.target.partition(":")
            return getattr(importlib.import_module(module), cls)(loop, self.strategy).run()
        scorer = self.scorer
        if scorer is None and self.strategy is None and "prefilter" in config.strategy_options:
            from nasforge.evaluator_setup import pool_scorer

            scorer = pool_scorer(config)  # loads and checks the data: before `open` writes
        record = loop.open()
        strategy = self._strategy(scorer)
        history = SharedHistory(store, config.name)
        records = history.load()
        strategy.tell(records)  # replay (curves too: halving reads them): continue where it stopped
        if self.observer:
            self.observer.on_start(record, records)
        with loop.heartbeat():
            exhausted = self._loop(loop, record.budget, strategy, history,
                                   self.heartbeat_timeout / 4)
        return loop.outcome(exhausted=exhausted)

    def _loop(self, loop: TrialLoop, budget: int, strategy: Strategy,
              history: SharedHistory, interval: float) -> bool:
        """Rounds until the budget is finished; True if the space ran out first."""
        config, store, name = self.config, self.store, self.config.name
        # at least one candidate per evaluation slot (worker), so no worker idles in a round
        per_round = max(config.batch, int(getattr(self.evaluator, "slots", 1)))
        watch = StaleWatch(self.heartbeat_timeout, self.worker)
        swept = time.monotonic()
        idle = min(0.5, interval)
        stale_view = False  # the store refused us: read the others' news before going on
        # a resumed run first finishes the round it was interrupted in (results stream in, so
        # part of it may be stored), asking for nothing new: then it goes on as an
        # uninterrupted run would (the strategy's next ask comes after the whole round)
        finish_first = self.resume and not self.join
        while True:
            news = history.news(force=stale_view)
            stale_view = False
            if news:
                strategy.tell(news)
                loop.note(news)
                if self.observer:
                    for record in news:
                        if record.state.is_finished:
                            self.observer.on_trial(record)
            counts = history.counts()
            finished = history.finished()
            waiting = counts[TrialState.WAITING]
            in_flight = waiting + counts[TrialState.RUNNING]
            if time.monotonic() - swept >= interval:  # others' stale leases; budget changes
                swept = time.monotonic()
                budget = store.get_search(name).budget
                if store.requeue_stale(name, watch.stale(store.leases(name))):
                    stale_view = True
                    continue
            if finished >= budget:
                return False
            want = min(per_round, budget - finished - in_flight + waiting)
            trials = loop.claim(min(want, waiting)) if waiting and want > 0 else []
            history.mark(trials)
            stale_view = len(trials) < min(want, waiting)
            room = min(want - len(trials), budget - finished - in_flight)
            if finish_first and trials:
                room = 0
            finish_first = False
            ran_out, archs = False, []
            if room > 0:
                archs = strategy.ask(room)
                ran_out = len(archs) < room
                new = loop.add(archs, limit=budget, unique=True)
                history.mark(new)
                strategy.tell(new)
                trials += new
                stale_view = stale_view or len(new) < len(archs)
            if trials:
                loop.evaluate(trials, strategy, history)
            elif ran_out and in_flight == 0:
                logger.info("the search space is exhausted after %d trials", finished)
                return True
            elif archs:  # another worker proposed them first: ask again
                continue
            else:  # the rest of the budget is in flight elsewhere: wait for it (or staleness)
                time.sleep(idle)
                stale_view = True
