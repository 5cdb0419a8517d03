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

import dataclasses
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nasforge.checkpoints import Checkpoints, prune
from nasforge.config import SearchConfig, from_dict
from nasforge.errors import ConfigError, LeaseLostError, SearchNotFoundError
from nasforge.evaluation import Evaluator
from nasforge.evaluator.fingerprint import compare
from nasforge.evaluator.fingerprint import version as fingerprint_version
from nasforge.frozen import thaw
from nasforge.leases import DEFAULT_TIMEOUT, Heartbeat, StaleWatch, check_timeout, orphaned
from nasforge.leases import worker_id as worker_id
from nasforge.objective_metrics import checked
from nasforge.records import EvalResult, SearchRecord, TrialRecord, TrialState
from nasforge.shared_history import SharedHistory
from nasforge.store.base import Store
from nasforge.strategies import make_strategy
from nasforge.strategies.base import Strategy
from nasforge.strategies.pareto import pareto_front

logger = logging.getLogger(__name__)

#: What must match the stored config for a resume to continue the same search (the budget
#: may change; the seed also fixes the data split).
RESUME_MUST_MATCH = ("data", "training", "space", "objectives", "seed", "strategy",
                     "strategy_options", "batch")


class SearchObserver(Protocol):
    """Receives progress: the CLI renders it, tests record it. `on_trial` gets every trial
    that finishes, this process's and (in a shared search) the other workers'."""

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None: ...
    def on_trial(self, record: TrialRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    name: str
    complete: int
    failed: int
    pareto: tuple[int, ...]
    exhausted: bool


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
    `checkpoints` (`nasforge.checkpoints.search_checkpoints`): the store records the
    evaluator's checkpoint paths relative to its root (paths outside it, or any path
    without it, are not recorded) and, when it prunes, the files of trials off the Pareto
    front are deleted after each round. `data_fingerprint`
    (`nasforge.evaluator.fingerprint`): stored with a new search; a resumed or joined search
    refuses other data (DataError, nothing written), and one stored without a fingerprint
    gets this one."""

    def __init__(self, config: SearchConfig, store: Store, evaluator: Evaluator, *,
                 resume: bool = False, join: bool = False, strategy: Strategy | None = None,
                 observer: SearchObserver | None = None,
                 checkpoints: Checkpoints | None = None,
                 heartbeat_timeout: float = DEFAULT_TIMEOUT,
                 worker: str | None = None,
                 data_fingerprint: Mapping[str, object] | None = None) -> None:
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

    def _create(self) -> SearchRecord:
        config = self.config
        return self.store.create_search(config.name, config.objectives, config.budget,
                                        config.raw, data_fingerprint=self.data_fingerprint)

    def _check_data(self, name: str) -> None:
        """Refuse data other than the search's; store the fingerprint if it has none."""
        if self.data_fingerprint is None:
            return
        now = self.data_fingerprint
        stored = self.store.data_fingerprint(name)
        if stored is None:
            logger.info("search %r has no data fingerprint yet (stored by an older "
                        "nasforge); storing this one", name)
            # atomic: a worker that stored one meanwhile wins, and we compare with it
            stored = self.store.set_data_fingerprint(name, now)
        elif fingerprint_version(stored) < fingerprint_version(now):
            logger.warning("search %r has a data fingerprint of version %d (made by an older "
                           "nasforge), which version %d cannot compare: replaced with this "
                           "one; the data was not checked this time", name,
                           fingerprint_version(stored), fingerprint_version(now))
            stored = self.store.set_data_fingerprint(name, now, replacing=stored)
        if stored is None:
            return
        if fingerprint_version(stored) > fingerprint_version(now):
            logger.warning("search %r has a data fingerprint of version %d (made by a newer "
                           "nasforge), which version %d cannot compare: kept; the data is "
                           "not checked", name, fingerprint_version(stored),
                           fingerprint_version(now))
            return
        problem = compare(stored, now, name)
        if problem is not None:
            raise problem

    def check(self) -> SearchRecord | None:
        """Refuse a resume or join that cannot go on (another config, a budget below the
        finished trials, other data) before anything is started; the stored search, or
        None when there is none to continue (a new search, or a resume that starts it).
        `run` checks again."""
        config, store = self.config, self.store
        if self.join:
            record = store.get_search(config.name)
        elif not self.resume:
            return None
        else:
            try:
                record = store.get_search(config.name)
            except SearchNotFoundError:
                return None
            _check_resumable(record, config)
            if config.strategy != "supernet":  # its trials outnumber its budget by design
                check_budget(record, config.budget)
        self._check_data(config.name)
        return record

    def _open(self) -> SearchRecord:
        config, store = self.config, self.store
        record = self.check()
        if record is None:
            if self.resume and not self.join:
                logger.info("no search %r to resume; starting it", config.name)
            return self._create()
        if not self.join and record.budget != config.budget:
            record = store.set_budget(config.name, config.budget)
        left = orphaned(store.leases(config.name), self.worker)
        if self.join:  # trials without a worker may be a live caller's: wait for staleness
            left = {n: lease for n, lease in left.items() if lease.worker is not None}
        requeued = store.requeue_stale(config.name, left)
        if requeued:
            logger.info("re-queued %d trial(s) left RUNNING: %s", len(requeued), requeued)
        return store.get_search(config.name)

    def _strategy(self) -> Strategy:
        config = self.config
        seed = peer_seed(config.seed, self.worker) if self.join else config.seed
        return self.strategy or make_strategy(config.strategy, config.space,
                                              config.objectives, seed, config.strategy_options)

    def run(self) -> SearchOutcome:
        config, store = self.config, self.store
        if config.strategy == "supernet":  # train once, then thousands of subnets: its own driver
            if self.join:
                raise ConfigError(
                    f"Search {config.name!r} uses the supernet strategy, which trains one "
                    "supernet in one process; `nasforge worker` cannot join it. Use "
                    "`nasforge resume` with --workers to evaluate on more processes.")
            from nasforge.supernet.search import SupernetSearch

            return SupernetSearch(self).run()
        record = self._open()
        strategy = self._strategy()
        history = SharedHistory(store, config.name)
        records = history.load()
        strategy.tell(records)  # replay (curves too: halving reads them): continue where it stopped
        if self.observer:
            self.observer.on_start(record, records)
        interval = self.heartbeat_timeout / 4
        with Heartbeat(store, config.name, self.worker, interval):
            exhausted = self._loop(record.budget, strategy, history, interval)
        trials = store.trials(config.name, [TrialState.COMPLETE])
        front = pareto_front([t.metrics for t in trials], config.objectives)
        counts = store.get_search(config.name).trial_counts
        return SearchOutcome(config.name, counts.get("COMPLETE", 0), counts.get("FAILED", 0),
                             tuple(trials[i].number for i in front), exhausted)

    def _loop(self, budget: int, strategy: Strategy, history: SharedHistory,
              interval: float) -> bool:
        """Rounds until the budget is finished; True if the space ran out first."""
        config, store, name = self.config, self.store, self.config.name
        # at least one candidate per evaluation slot (worker), so no worker idles in a round
        per_round = max(config.batch, int(getattr(self.evaluator, "slots", 1)))
        watch = StaleWatch(self.heartbeat_timeout, self.worker)
        swept = time.monotonic()
        idle = min(0.5, interval)
        stale_view = False  # the store refused us: read the others' news before going on
        while True:
            news = history.news(force=stale_view)
            stale_view = False
            if news:
                strategy.tell(news)
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
            trials = store.claim(name, min(want, waiting), self.worker) if (
                waiting and want > 0) else []
            history.mark(trials)
            stale_view = len(trials) < min(want, waiting)
            room = min(want - len(trials), budget - finished - in_flight)
            ran_out, archs = False, []
            if room > 0:
                archs = strategy.ask(room)
                ran_out = len(archs) < room
                new = store.add_trials(name, archs, TrialState.RUNNING, self.worker,
                                       limit=budget, unique=True)
                history.mark(new)
                strategy.tell(new)
                trials += new
                stale_view = stale_view or len(new) < len(archs)
            if trials:
                self._evaluate(trials, strategy, history)
            elif ran_out and in_flight == 0:
                logger.info("the search space is exhausted after %d trials", finished)
                return True
            elif archs:  # another worker proposed them first: ask again
                continue
            else:  # the rest of the budget is in flight elsewhere: wait for it (or staleness)
                time.sleep(idle)
                stale_view = True

    def _evaluate(self, trials: list[TrialRecord], strategy: Strategy,
                  history: SharedHistory | None = None) -> int:
        try:
            results = self.evaluator.evaluate([t.arch for t in trials])
        except BaseException:
            # Interrupted (Ctrl-C) or broken evaluator: hand back the trials still ours.
            numbers = {t.number for t in trials}
            self.store.requeue_stale(self.config.name, {
                lease.number: lease for lease in self.store.leases(self.config.name)
                if lease.number in numbers and lease.worker == self.worker})
            raise
        if len(results) != len(trials):
            raise RuntimeError(f"evaluator returned {len(results)} results for {len(trials)}")
        results, missing_metric = checked(results, self.config.objectives)
        saved = any(r.checkpoint for r in results)
        for trial, result in zip(trials, results, strict=True):
            try:
                record = self.store.finish(self.config.name, trial.number,
                                           self._stored(result), worker=self.worker)
            except LeaseLostError as err:
                logger.warning("%s", err)
                continue
            if history is not None:
                history.mark([record])
            strategy.tell([record])
            if self.observer:
                self.observer.on_trial(record)
        if saved and self.checkpoints is not None and self.checkpoints.prune:
            prune(self.store, self.config.objectives, self.checkpoints)
        if missing_metric is not None:
            raise missing_metric
        return len(trials)

    def _stored(self, result: EvalResult) -> EvalResult:
        """The result with its checkpoint path relative to the checkpoint root (or none)."""
        if result.checkpoint is None:
            return result
        relative = self.checkpoints.relative(result.checkpoint) if self.checkpoints else None
        if relative is None:
            logger.debug("checkpoint %s not recorded: no checkpoint root, or outside it",
                         result.checkpoint)
        return dataclasses.replace(result, checkpoint=relative)


def check_budget(record: SearchRecord, budget: int, option: str = "budget") -> None:
    """Refuse a new total budget below the trials the search has already finished (not for
    the supernet strategy, whose budget counts inherited-weight subnets, not trials). The
    stored budget itself is never refused: resuming a search as it is changes nothing."""
    if budget != record.budget and budget < record.finished:
        raise ConfigError(
            f"Cannot resume search {record.name!r} with {option} {budget}: {record.finished} "
            f"finished trials are already stored (the budget counts finished trials, and "
            f"none is ever deleted). Use {option} {record.finished} or more, or leave it out "
            f"to keep the stored budget {record.budget}.")


def _check_resumable(record: SearchRecord, config: SearchConfig) -> None:
    now = {field: _compared(config, field) for field in RESUME_MUST_MATCH}
    try:
        previous_config = from_dict(record.config, source=f"the stored config of {record.name!r}")
        previous = {field: _compared(previous_config, field) for field in RESUME_MUST_MATCH}
    except ConfigError:
        # a config built in code (benchmarks, tests) rather than from TOML: compare it whole
        previous, now = _without_budget(record.config), _without_budget(config.raw)
    for field in previous:
        if previous[field] != now.get(field):
            where = f"[{field}]" if field in ("data", "training", "space") else f"[search] {field}"
            raise ConfigError(
                f"Cannot resume search {record.name!r}: its {where} differs from the one it "
                f"was started with. Use `nasforge resume {record.name}` to continue with the "
                "stored config, or start a new search with --name."
            )


def _compared(config: SearchConfig, field: str) -> object:
    """A field resume compares; where checkpoints go never changes the results."""
    value = getattr(config, field)
    if field == "training":
        return dataclasses.replace(value, checkpoints="pareto", checkpoint_dir=None)
    return value


def _without_budget(raw: object) -> dict:
    plain = thaw(raw)
    plain.get("search", {}).pop("budget", None)
    return plain
