"""The search loop: ask -> evaluate -> record -> tell, with a budget, resume and progress.

One trial end to end: the strategy proposes an Architecture (`ask`), the store appends it as a
RUNNING trial, the evaluator trains and measures it, the store records the result in one
transaction (`finish`), and the strategy learns from it (`tell`).

Resume: trials a killed run left RUNNING are moved back to WAITING and evaluated first; the
strategy is rebuilt from its seed and replays the stored history, so nothing is lost and
nothing is counted twice. The budget counts finished trials (COMPLETE, FAILED, PRUNED).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nasforge.checkpoints import Checkpoints, prune
from nasforge.config import SearchConfig, from_dict
from nasforge.errors import ConfigError, SearchNotFoundError
from nasforge.frozen import thaw
from nasforge.records import EvalResult, SearchRecord, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store.base import Store
from nasforge.strategies import make_strategy
from nasforge.strategies.base import Strategy
from nasforge.strategies.pareto import pareto_front

if TYPE_CHECKING:
    from nasforge.evaluator.data import Dataset
    from nasforge.searchspace.plan import DataSpec

logger = logging.getLogger(__name__)

#: What must match the stored config for a resume to continue the same search (the budget
#: may change; the seed also fixes the data split).
RESUME_MUST_MATCH = ("data", "training", "space", "objectives", "seed", "strategy",
                     "strategy_options", "batch")


class Evaluator(Protocol):
    """Evaluates a batch. An evaluator may also have `slots` (int): how many candidates it
    runs at once (a worker pool's size); the search then asks for max(batch, slots) per
    round. Without it, 1."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        """One finished result per architecture, in order; failures are FAILED results."""


class SearchObserver(Protocol):
    """Receives progress: the CLI renders it, tests record it."""

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None: ...
    def on_trial(self, record: TrialRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    name: str
    complete: int
    failed: int
    pareto: tuple[int, ...]
    exhausted: bool


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_checked(config: SearchConfig, cache_dir: Path | None = None) -> Dataset:
    """Load the data and check the space and objectives against it (host arrays, no device).
    Raises NasforgeError on bad input, before any write."""
    from nasforge.evaluator.data import load_dataset
    from nasforge.evaluator.local import metric_names
    from nasforge.evaluator.tensors import resolve_device
    from nasforge.objectives import check_objectives
    from nasforge.searchspace.assemble import check_space_fits
    from nasforge.searchspace.build import check_buildable

    dataset = load_dataset(config.data.dataset, seed=config.seed,
                           val_fraction=config.data.val_fraction,
                           test_fraction=config.data.test_fraction,
                           options=config.data.options, cache_dir=cache_dir)
    check_space_fits(config.space, dataset.spec)
    check_buildable(config.space, dataset.spec, seed=config.seed)
    device = resolve_device(config.training.device)
    check_objectives(config.objectives, metric_names(
        dataset.spec.task, measure_latency=config.training.measure_latency, device=device),
        dataset.spec.task)
    return dataset


def build_evaluator(config: SearchConfig, cache_dir: Path | None = None, *,
                    dataset: Dataset | None = None,
                    checkpoint_dir: Path | None = None) -> Evaluator:
    """Load the data (unless `dataset`, from `load_checked`, is given), check the space and
    objectives against it, move it to the device and make the local evaluator (saving
    trained weights in `checkpoint_dir`, when given: `Checkpoints.folder`). Raises
    NasforgeError on bad input, before any write."""
    from nasforge.evaluator.local import LocalEvaluator
    from nasforge.evaluator.tensors import resolve_device, to_device

    if dataset is None:
        dataset = load_checked(config, cache_dir)
    data = to_device(dataset, resolve_device(config.training.device))
    return LocalEvaluator(data, seed=config.seed, latency_batch=config.training.latency_batch,
                          throughput_batch=config.training.throughput_batch,
                          measure_latency=config.training.measure_latency,
                          precision=config.training.precision,
                          compile=config.training.compile, checkpoint_dir=checkpoint_dir)


@dataclass(frozen=True, slots=True)
class EvaluatorRecipe:
    """What a worker process needs to build its own evaluator: the config as plain values
    (`SearchConfig.raw`, path-resolved) and either the checked dataset itself (host arrays,
    sent once to each worker: no reload, no dataset imports there) or the dataset cache to
    load it from. Picklable; calling it returns `build_evaluator`'s evaluator."""

    raw: dict
    cache_dir: str | None = None
    dataset: Dataset | None = None
    checkpoint_dir: str | None = None

    @classmethod
    def of(cls, config: SearchConfig, cache_dir: Path | None = None,
           dataset: Dataset | None = None,
           checkpoint_dir: Path | None = None) -> EvaluatorRecipe:
        return cls(thaw(config.raw), None if cache_dir is None else str(cache_dir), dataset,
                   None if checkpoint_dir is None else str(checkpoint_dir))

    def __call__(self) -> Evaluator:
        config = from_dict(self.raw, source="the search config (in a worker)")
        return build_evaluator(config, None if self.cache_dir is None else Path(self.cache_dir),
                               dataset=self.dataset,
                               checkpoint_dir=None if self.checkpoint_dir is None
                               else Path(self.checkpoint_dir))


def check_workers(workers: object) -> None:
    """Refuse a worker count that is not a whole number >= 1 (before anything is loaded)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers {workers!r}: use a whole number >= 1 (1 evaluates "
                          "in this process, N > 1 in N worker processes).")


def fusion_key(spec: DataSpec | None) -> Callable[[Architecture], Hashable]:
    """What candidates must share for `LocalEvaluator` to fuse them, as `WorkerPool`'s
    `group_key` (equal keys go to one worker's chunk).

    With the data spec: `LocalEvaluator._buckets`'s key itself (`fused_buckets.fusion_key`: the
    structure without widths or activations, and the training's batch_size, epochs, optimizer,
    schedule); a candidate it would not fuse (invalid, or a plan `check_fusable` refuses)
    raises, so the pool gives it a chunk slot of its own. Without a spec (no dataset at hand;
    loading one only for this is not worth it): the architecture's values except lr and
    weight_decay, which no plan reads. Equal values then mean equal plans and training fields,
    so this never groups what cannot stack; it only misses candidates whose different values
    give the same plan."""
    if spec is None:
        def by_values(arch: Architecture) -> Hashable:
            return tuple((k, v) for k, v in arch.items() if k not in ("lr", "weight_decay"))

        return by_values
    from nasforge.evaluator.fused_buckets import fusion_key as bucket_key
    from nasforge.evaluator.fused_stack import check_fusable
    from nasforge.evaluator.train import TrainingParams
    from nasforge.searchspace.families import plan_for

    def by_plan(arch: Architecture) -> Hashable:
        params = TrainingParams.from_arch(arch)
        plan = plan_for(arch, spec)
        check_fusable(plan, f"candidate {arch.arch_id}")
        return bucket_key(plan, params)

    return by_plan


def make_executor(config: SearchConfig, workers: int, cache_dir: Path | None = None, *,
                  evaluator: Evaluator | None = None, dataset: Dataset | None = None,
                  checkpoint_dir: Path | None = None) -> Evaluator:
    """`workers` = 1: `evaluator` (or a new `build_evaluator`) run inline; > 1: a
    `WorkerPool` of that many processes, each building its evaluator from the config (and
    `dataset`, when given, instead of loading it), with chunks grouped by `fusion_key` (of
    `dataset.spec`, when given). On CUDA ("auto"/"cuda"), workers spread round-robin over the
    visible GPUs (one per GPU when workers == GPUs); with "cuda:N" they all share GPU N.
    New evaluators save trained weights in `checkpoint_dir` (None: nowhere). Close it with
    `.close()`."""
    from nasforge.evaluator.executor import InlineExecutor, WorkerPool

    check_workers(workers)
    if workers == 1:
        return InlineExecutor(evaluator or build_evaluator(config, cache_dir, dataset=dataset,
                                                           checkpoint_dir=checkpoint_dir))
    from nasforge.evaluator.tensors import resolve_device

    gpus = 0
    device = resolve_device(config.training.device)
    if device.type == "cuda" and device.index is None:
        import torch

        gpus = torch.cuda.device_count()
    return WorkerPool(workers, EvaluatorRecipe.of(config, cache_dir, dataset, checkpoint_dir),
                      gpus=gpus,
                      group_key=fusion_key(None if dataset is None else dataset.spec))


def stored_config(store: Store, name: str) -> SearchConfig:
    """The config a search was started with, as stored (for `nasforge resume NAME`)."""
    record = store.get_search(name)
    return from_dict(record.config, source=f"search {name!r} in {store.url}")


class Search:
    """Runs one search against a store. Constructor only stores its arguments.

    `checkpoints` (`nasforge.checkpoints.search_checkpoints`): the store records the
    evaluator's checkpoint paths relative to its root (paths outside it, or any path
    without it, are not recorded) and, when it prunes, the files of trials off the Pareto
    front are deleted after each round."""

    def __init__(self, config: SearchConfig, store: Store, evaluator: Evaluator, *,
                 resume: bool = False, strategy: Strategy | None = None,
                 observer: SearchObserver | None = None,
                 checkpoints: Checkpoints | None = None) -> None:
        self.config = config
        self.store = store
        self.evaluator = evaluator
        self.resume = resume
        self.strategy = strategy
        self.observer = observer
        self.checkpoints = checkpoints

    def _open(self) -> SearchRecord:
        config, store = self.config, self.store
        if not self.resume:
            return store.create_search(config.name, config.objectives, config.budget,
                                       config.raw)
        try:
            record = store.get_search(config.name)
        except SearchNotFoundError:
            logger.info("no search %r to resume; starting it", config.name)
            return store.create_search(config.name, config.objectives, config.budget,
                                       config.raw)
        _check_resumable(record, config)
        if record.budget != config.budget:
            record = store.set_budget(config.name, config.budget)
        requeued = store.requeue(config.name)
        if requeued:
            logger.info("re-queued %d trial(s) left RUNNING: %s", len(requeued), requeued)
        return store.get_search(config.name)

    def run(self) -> SearchOutcome:
        config, store = self.config, self.store
        if config.strategy == "supernet":  # train once, then thousands of subnets: its own driver
            from nasforge.supernet.search import SupernetSearch

            return SupernetSearch(self).run()
        record = self._open()
        strategy = self.strategy or make_strategy(config.strategy, config.space,
                                                  config.objectives, config.seed,
                                                  config.strategy_options)
        history = store.trials(config.name, with_curves=True)
        strategy.tell(history)  # replay (curves too: halving reads them): continue where it stopped
        finished = sum(1 for t in history if t.state.is_finished)
        if self.observer:
            self.observer.on_start(record, history)
        worker, exhausted = worker_id(), False
        waiting = record.trial_counts.get(TrialState.WAITING.value, 0)
        # at least one candidate per evaluation slot (worker), so no worker idles in a round
        per_round = max(config.batch, int(getattr(self.evaluator, "slots", 1)))
        while finished < record.budget:
            want = min(per_round, record.budget - finished)
            trials = store.claim(config.name, want, worker) if waiting else []
            waiting = waiting - len(trials) if len(trials) == want else 0
            if len(trials) < want:
                archs = strategy.ask(want - len(trials))
                new = store.add_trials(config.name, archs, TrialState.RUNNING, worker)
                strategy.tell(new)
                trials += new
            if not trials:
                exhausted = True
                logger.info("the search space is exhausted after %d trials", finished)
                break
            finished += self._evaluate(trials, strategy)
        trials = store.trials(config.name, [TrialState.COMPLETE])
        front = pareto_front([t.metrics for t in trials], config.objectives)
        counts = store.get_search(config.name).trial_counts
        return SearchOutcome(config.name, counts.get("COMPLETE", 0), counts.get("FAILED", 0),
                             tuple(trials[i].number for i in front), exhausted)

    def _evaluate(self, trials: list[TrialRecord], strategy: Strategy) -> int:
        try:
            results = self.evaluator.evaluate([t.arch for t in trials])
        except BaseException:
            # Interrupted (Ctrl-C) or broken evaluator: hand the trials back for a resume.
            self.store.requeue(self.config.name, [t.number for t in trials])
            raise
        if len(results) != len(trials):
            raise RuntimeError(f"evaluator returned {len(results)} results for {len(trials)}")
        saved = any(r.checkpoint for r in results)
        for trial, result in zip(trials, results, strict=True):
            record = self.store.finish(self.config.name, trial.number, self._stored(result))
            strategy.tell([record])
            if self.observer:
                self.observer.on_trial(record)
        if saved and self.checkpoints is not None and self.checkpoints.prune:
            prune(self.store, self.config.objectives, self.checkpoints)
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
