"""What `nasforge search`, `resume` and `worker` share: check the run options, load and
check the data before any write, build the executor, run the loop with a progress bar,
and print the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from nasforge.config import SearchConfig
from nasforge.leases import DEFAULT_TIMEOUT, check_timeout
from nasforge.ui.termination import interrupt_exit_code, sigterm_as_interrupt

if TYPE_CHECKING:
    from nasforge.evaluator.data import Dataset
    from nasforge.evaluator.executors.capacity import Capacity

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How this process runs its share of a search. None of it changes what a candidate
    learns beyond float rounding (a candidate's threads, a fused stack's members), but
    timing metrics are measured while the other workers train. `workers`: a number, or
    "auto" (`choice.auto_workers`, decided with the config)."""

    workers: int | str = "auto"
    executor: str = "local"
    ray_address: str | None = None
    heartbeat_timeout: float = DEFAULT_TIMEOUT
    capacity: Capacity | None = None  # what bounds local --workers; None: this machine's

    def check(self) -> RunOptions:
        """Refuse bad values before anything is loaded or written."""
        from nasforge.evaluator.executors.choice import (
            check_executor,
            check_worker_limit,
            check_workers,
            parse_workers,
        )

        workers = parse_workers(self.workers)
        check_executor(self.executor, self.ray_address)
        if isinstance(workers, int):
            check_workers(workers)
            check_worker_limit(workers, self.executor, self.capacity)
        check_timeout(self.heartbeat_timeout)
        return replace(self, workers=workers)

    def may_use_workers(self, config: SearchConfig) -> bool:
        """Whether this search may start local worker processes (a quick guess, without
        importing torch: `workers_for` decides)."""
        from nasforge.evaluator.executors.choice import parse_workers

        workers = parse_workers(self.workers)
        if self.executor != "local":
            return False
        if isinstance(workers, int):
            return workers > 1
        return config.evaluator is None and config.batch > 1

    def prestart(self, config: SearchConfig) -> None:
        """Launch the fork server now if this search may use local CPU workers: its torch
        import then runs on another core while this process imports and loads the rest
        (idempotent: `executors.start.prestart`)."""
        if self.may_use_workers(config):
            from nasforge.evaluator.executors.start import prestart

            prestart(str(config.training.device), config.training.compile)

    def workers_for(self, config: SearchConfig, data_mb: float = 0.0) -> int:
        """The worker count for this search: the number given, or "auto"'s choice, with
        `data_mb` (each worker's copy of the data) added to a worker's memory footprint."""
        from nasforge.evaluator.executors.choice import auto_workers, parse_workers

        workers = parse_workers(self.workers)
        if isinstance(workers, int):
            return workers
        if config.evaluator is not None or self.executor != "local" or config.batch <= 1:
            return 1  # without loading torch for a user's evaluator
        from nasforge.evaluator.data.tensors import resolve_device
        from nasforge.evaluator.executors.capacity import machine_capacity

        capacity = self.capacity or machine_capacity()
        capacity = replace(capacity, footprint_mb=capacity.footprint_mb + data_mb)
        on_cpu = resolve_device(config.training.device).type == "cpu"
        return auto_workers(config.batch, config.training.threads, on_cpu, self.executor,
                            capacity=capacity)


def dataset_mb(dataset: Dataset) -> float:
    """MiB of a dataset's arrays: what each worker process holds of it."""
    arrays = (dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, dataset.x_test,
              dataset.y_test)
    return sum(a.nbytes for a in arrays) / 2**20


@sigterm_as_interrupt()  # SIGTERM: the interrupt path below, exit 143
def run_search(config: SearchConfig, storage: str, cache_dir: Path, options: RunOptions, *,
               resume: bool = False, join: bool = False) -> None:
    from nasforge.checkpoint_policy import search_checkpoints
    from nasforge.evaluator.data.fingerprint import data_fingerprint
    from nasforge.evaluator_setup import load_checked, make_executor, pool_scorer
    from nasforge.search import Search
    from nasforge.store import check_persistent, open_store
    from nasforge.ui.progress import RichProgress

    check_persistent(storage)
    options.prestart(config)  # the workers' imports run while the data loads
    # data errors before any write; [evaluator] (the user's function) loads its own data
    dataset = None if config.evaluator else load_checked(config, cache_dir=cache_dir)
    fingerprint = None if dataset is None else data_fingerprint(config.data, dataset)
    # the pre-filter scores candidates here, on the dataset already loaded (not a second copy)
    scorer = (pool_scorer(config, dataset=dataset)
              if dataset is not None and "prefilter" in config.strategy_options else None)
    checkpoints = search_checkpoints(config, storage)
    # workers > 1: each worker gets the checked dataset and builds its own evaluator
    workers = options.workers_for(config, 0.0 if dataset is None else dataset_mb(dataset))
    if workers > 1 and options.workers != workers:
        logger.info("--workers auto: rounds of %d candidates train in %d worker processes",
                    config.batch, workers)
    executor = make_executor(config, workers, cache_dir, dataset=dataset,
                             checkpoint_dir=checkpoints.folder if checkpoints else None,
                             executor=options.executor, ray_address=options.ray_address)
    console = Console()
    store = None
    try:
        if resume or join:  # changed data, a budget below the finished: before any worker
            store = open_store(storage, create=not join)
            Search(config, store, executor, resume=resume, join=join,
                   data_fingerprint=fingerprint).check()
        launch = getattr(executor, "launch", None)
        if launch is not None:  # local workers fork and load while the store opens
            launch()
            store = store or open_store(storage, create=not join)
        start = getattr(executor, "start", None)
        if start is not None:  # a Ray address that fails, or a worker that cannot start: now,
            start()            # before the search is created
        store = store or open_store(storage, create=not join)
        try:
            with RichProgress(console) as progress:
                outcome = Search(config, store, executor, resume=resume, join=join,
                                 observer=progress, checkpoints=checkpoints,
                                 heartbeat_timeout=options.heartbeat_timeout,
                                 data_fingerprint=fingerprint, scorer=scorer).run()
        except KeyboardInterrupt as stop:
            again = (f"nasforge worker {config.name}" if join
                     else f"nasforge resume {config.name}")
            Console(stderr=True).print(
                f"interrupted: finished trials are kept; continue with `{again} --storage "
                f"{store.url}`")
            raise typer.Exit(code=interrupt_exit_code(stop)) from None
    finally:
        if store is not None:
            store.close()
        executor.close()
    note = " (space exhausted)" if outcome.exhausted else ""
    pruned = f", {outcome.pruned} stopped early (pruned)" if outcome.pruned else ""
    console.print(f"search [bold]{outcome.name}[/]: {outcome.complete} complete, "
                  f"{outcome.failed} failed{pruned}{note}; Pareto front: trials "
                  f"{list(outcome.pareto)}. See `nasforge show {outcome.name}`.",
                  soft_wrap=True)  # piped: one line, not broken at 80 columns


def run_stored(name: str, storage: str, cache_dir: Path, options: RunOptions, *,
               budget: int | None = None, join: bool = False) -> None:
    """Continue (`resume`, with a new total `budget` if given) or join (`worker`) the
    stored search `name` with the config it was started with."""
    from nasforge.search import check_budget, stored_config
    from nasforge.store import check_persistent, open_store
    from nasforge.trial_loop import budget_counts_trials

    check_persistent(storage)
    store = open_store(storage, create=False)
    try:
        record = store.get_search(name)
        config = stored_config(store, name)
    finally:
        store.close()
    if not join:
        config = config.with_overrides(budget=record.budget if budget is None else budget)
    if budget is not None and budget_counts_trials(config.strategy):  # before data is loaded
        check_budget(record, budget, "--budget")
    run_search(config, storage, cache_dir, options, resume=not join, join=join)
