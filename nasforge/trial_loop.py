"""The public trial loop every search driver runs over: open (or resume, or join) the search
record with its checks, claim and add trials under this worker's leases, finish them (record
each result in one transaction as it arrives and notify the observer; tell the strategy the
batch in proposal order once it is done), and the outcome.

Early stopping (`[training] early_stop = "curve"`): the loop keeps the front of the COMPLETE
trials (`curves.incumbents.Incumbents`: the stored ones read once, then every trial finished
here or noted from another worker) and passes its `StopRule` with each batch to an
evaluator that takes one (`evaluator.protocol.evaluate_batch`); stopped trials come back
PRUNED and are stored as such (finished for the budget, never on the front).

`nasforge.search.Search` (the multi-trial loop) and every registered driver
(`nasforge.strategies.DRIVERS`, e.g. `nasforge.supernet.search.SupernetSearch`) use only
this, so no driver calls another's private helpers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from nasforge.checkpoint_policy import Checkpoints, FrontPruner
from nasforge.config import SearchConfig, from_dict
from nasforge.curves.calibration import latest_per_epochs
from nasforge.curves.incumbents import Incumbents
from nasforge.curves.rule import StopRule
from nasforge.errors import ConfigError, LeaseLostError, SearchNotFoundError
from nasforge.evaluator.data.fingerprint import compare
from nasforge.evaluator.data.fingerprint import version as fingerprint_version
from nasforge.evaluator.protocol import Evaluator, evaluate_batch, stops_early
from nasforge.frozen import thaw
from nasforge.leases import DEFAULT_TIMEOUT, Heartbeat, check_timeout, orphaned, worker_id
from nasforge.objective_metrics import MissingMetricError, missing_objective
from nasforge.records import EvalResult, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.shared_history import SharedHistory
from nasforge.store.base import Store
from nasforge.strategies import driver_of
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


class Teller(Protocol):
    """Learns from trials: a `Strategy`, or anything with its `tell`."""

    def tell(self, records: Sequence[TrialRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    name: str
    complete: int
    failed: int
    pareto: tuple[int, ...]
    exhausted: bool
    pruned: int = 0


@dataclass(frozen=True)
class TrialLoop:
    """One process's view of one search in a store; see the module docstring. The fields
    are `Search`'s constructor arguments of the same names."""

    config: SearchConfig
    store: Store
    evaluator: Evaluator
    resume: bool = False
    join: bool = False
    observer: SearchObserver | None = None
    checkpoints: Checkpoints | None = None
    heartbeat_timeout: float = DEFAULT_TIMEOUT
    worker: str = dataclasses.field(default_factory=worker_id)
    data_fingerprint: Mapping[str, object] | None = None

    pruner: FrontPruner | None = dataclasses.field(init=False, default=None, compare=False,
                                                   repr=False)
    incumbents: Incumbents | None = dataclasses.field(init=False, default=None, compare=False,
                                                      repr=False)

    def __post_init__(self) -> None:
        check_timeout(self.heartbeat_timeout)
        training = self.config.training
        if training.early_stop == "curve":
            if stops_early(self.evaluator):
                object.__setattr__(self, "incumbents", Incumbents(
                    self.config.objectives, threshold=training.early_stop_threshold,
                    min_epochs=training.early_stop_min_epochs))
                blind = self.incumbents.rule().blind_to() if self.incumbents else []
                if blind:
                    logger.warning("[training] early_stop = \"curve\" can never stop a trial "
                                   "here: objectives %s are only known once training ends; "
                                   "remove them from the objectives or set early_stop = "
                                   "\"none\"", ", ".join(blind))
            else:
                logger.warning("[training] early_stop = \"curve\" has no effect: this "
                               "evaluator (%s) trains every candidate to the end; use "
                               "nasforge's own evaluator or set early_stop = \"none\"",
                               type(self.evaluator).__name__)
        if self.checkpoints is not None and self.checkpoints.prune:
            # kept across rounds: one read of the history, then only what changed
            object.__setattr__(self, "pruner", FrontPruner(
                self.store, self.config.objectives, self.checkpoints))

    def note(self, records: Sequence[TrialRecord]) -> None:
        """Trials finished elsewhere (another worker's, read from the store): checkpoint
        pruning and early stopping compare with the front they make."""
        if self.pruner is not None:
            self.pruner.note(records)
        if self.incumbents is not None and self.incumbents.loaded:
            self.incumbents.note(records)

    def stop_rule(self) -> StopRule | None:
        """The early-stopping rule for the next batch (None: early stopping is off); the
        first call reads the stored COMPLETE trials."""
        incumbents = self.incumbents
        if incumbents is None:
            return None
        if not incumbents.loaded:
            complete = self.store.trials(self.config.name, [TrialState.COMPLETE])
            incumbents.note(complete)
            if complete and incumbents.gains.keys:  # the latest curves, for the gains
                incumbents.note(self.store.trials(
                    self.config.name, [TrialState.COMPLETE], with_curves=True,
                    numbers=latest_per_epochs(complete, incumbents.gains.window)))
            incumbents.loaded = True
        return incumbents.rule()

    @property
    def name(self) -> str:
        return self.config.name

    def check(self) -> SearchRecord | None:
        """Refuse a resume or join that cannot go on (another config, a budget below the
        finished trials, other data) before anything is started; the stored search, or
        None when there is none to continue (a new search, or a resume that starts it).
        `open` checks again."""
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
            if budget_counts_trials(config.strategy):
                check_budget(record, config.budget)
        self.check_data(config.name)
        return record

    def open(self) -> SearchRecord:
        """Create, resume or join the search (after `check`); trials this host left RUNNING
        (and, joining, those of stale workers) are re-queued as WAITING."""
        config, store = self.config, self.store
        record = self.check()
        if record is None:
            if self.resume and not self.join:
                logger.info("no search %r to resume; starting it", config.name)
            return store.create_search(config.name, config.objectives, config.budget,
                                       config.raw, data_fingerprint=self.data_fingerprint)
        if not self.join and record.budget != config.budget:
            record = store.set_budget(config.name, config.budget)
        left = orphaned(store.leases(config.name), self.worker)
        if self.join:  # trials without a worker may be a live caller's: wait for staleness
            left = {n: lease for n, lease in left.items() if lease.worker is not None}
        requeued = store.requeue_stale(config.name, left)
        if requeued:
            logger.info("re-queued %d trial(s) left RUNNING: %s", len(requeued), requeued)
        return store.get_search(config.name)

    def heartbeat(self, worker: str | None = None) -> Heartbeat:
        """A context manager beating the leases of `worker` (default: this loop's)."""
        return Heartbeat(self.store, self.config.name, worker or self.worker,
                         self.heartbeat_timeout / 4)

    def claim(self, count: int, worker: str | None = None) -> list[TrialRecord]:
        """Up to `count` WAITING trials, now RUNNING under `worker` (default: this loop's)."""
        return self.store.claim(self.config.name, count, worker or self.worker)

    def add(self, archs: Sequence[Architecture], worker: str | None = None, *,
            limit: int | None = None, unique: bool = False) -> list[TrialRecord]:
        """New RUNNING trials of `archs` under `worker` (default: this loop's)."""
        return self.store.add_trials(self.config.name, archs, TrialState.RUNNING,
                                     worker or self.worker, limit=limit, unique=unique)

    def outcome(self, complete: Sequence[TrialRecord] | None = None,
                exhausted: bool = False) -> SearchOutcome:
        """Counts and the Pareto front of `complete` (default: every COMPLETE trial)."""
        config, store = self.config, self.store
        trials = list(complete) if complete is not None else store.trials(
            config.name, [TrialState.COMPLETE])
        front = pareto_front([t.metrics for t in trials], config.objectives)
        counts = store.get_search(config.name).trial_counts
        return SearchOutcome(config.name, counts.get("COMPLETE", 0), counts.get("FAILED", 0),
                             tuple(trials[i].number for i in front), exhausted,
                             counts.get("PRUNED", 0))

    def check_data(self, name: str) -> None:
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

    def evaluate(self, trials: list[TrialRecord], strategy: Teller | None = None,
                 history: SharedHistory | None = None) -> int:
        """Evaluate `trials` and finish each one as its result arrives (a worker pool's
        chunks: stored while the other chunks still train, so an interrupted round keeps
        them); the strategy is told the batch in order once it is done (its next ask does
        not depend on which worker finished first)."""
        finished: dict[int, TrialRecord] = {}
        problems: dict[int, MissingMetricError] = {}  # by position: the first one is raised
        saved = False

        def on_result(position: int, result: EvalResult) -> None:
            nonlocal saved
            saved = saved or result.checkpoint is not None
            record, problem = self._finish(trials[position], result, history)
            if problem is not None:
                problems[position] = problem
            if record is not None:
                finished[position] = record

        try:
            stop = self.stop_rule()  # its first read of the store may fail: trials handed back
            results = evaluate_batch(self.evaluator, [t.arch for t in trials], stop,
                                     on_result=on_result)
        except BaseException:
            # Interrupted (Ctrl-C) or broken evaluator: hand back the trials still ours (those
            # finished are stored and leased no more).
            numbers = {t.number for t in trials}
            self.store.requeue_stale(self.config.name, {
                lease.number: lease for lease in self.store.leases(self.config.name)
                if lease.number in numbers and lease.worker == self.worker})
            raise
        if len(results) != len(trials):
            raise RuntimeError(f"evaluator returned {len(results)} results for {len(trials)}")
        if strategy is not None:
            for position in sorted(finished):
                strategy.tell([finished[position]])
        if saved and self.pruner is not None:
            self.pruner.prune()
        if problems:  # after storing the batch: nothing is lost
            raise problems[min(problems)]
        return len(trials)

    def _finish(self, trial: TrialRecord, result: EvalResult, history: SharedHistory | None
                ) -> tuple[TrialRecord | None, MissingMetricError | None]:
        """Store one trial's result (FAILED if it lacks an objective metric, with the error
        to raise once the batch is stored) and note it; no record when another worker holds
        its lease now."""
        problem = None
        reason = missing_objective(result, self.config.objectives)
        if reason is not None:
            result = dataclasses.replace(result, state=TrialState.FAILED, error=reason)
            problem = MissingMetricError(f"Search stopped: {reason}")
        result = self.stored(result)
        pruner = self.pruner
        kept = result if pruner is None else pruner.unkept(result)
        try:
            record = self.store.finish(self.config.name, trial.number, kept, worker=self.worker)
        except LeaseLostError as err:
            logger.warning("%s", err)
            return None, problem
        if pruner is not None:
            if kept.checkpoint is None and result.checkpoint is not None:
                pruner.discard(result.checkpoint)  # dominated: stored without its path
            else:
                pruner.note([record])
        if self.incumbents is not None:
            self.incumbents.note([record])
        if history is not None:
            history.mark([record])
        if self.observer:
            self.observer.on_trial(record)
        return record, problem

    def stored(self, result: EvalResult) -> EvalResult:
        """The result with its checkpoint path relative to the checkpoint root (or none)."""
        if result.checkpoint is None:
            return result
        relative = self.checkpoints.relative(result.checkpoint) if self.checkpoints else None
        if relative is None:
            logger.debug("checkpoint %s not recorded: no checkpoint root, or outside it",
                         result.checkpoint)
        return dataclasses.replace(result, checkpoint=relative)


def budget_counts_trials(strategy: str) -> bool:
    """Whether a search with `strategy` counts finished trials against its budget (not one
    whose registered driver counts something else, e.g. the supernet's subnets)."""
    driver = driver_of(strategy)
    return driver is None or driver.budget_counts_trials


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


def _without_budget(raw: Mapping[str, object]) -> dict[str, object]:
    plain = thaw(raw)
    search = plain.get("search")
    if isinstance(search, dict):
        search.pop("budget", None)
    return plain
