"""Setting up what evaluates a search's candidates, from its config: the checked dataset, the
local evaluator, the recipe a worker process builds its own from, and the executor (inline, a
pool of local processes, or Ray) that the search loop hands its batches to.

Not the evaluator itself (`nasforge.evaluator`: training, executors, data) nor its contract
(`nasforge.evaluator.protocol.Evaluator`): this module composes them from a `SearchConfig`,
so it lives beside `search.py`, above the evaluator in the import direction.
Everything here raises NasforgeError on bad input before anything is written to a store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nasforge.config import SearchConfig, from_dict
from nasforge.errors import ConfigError, NasforgeError
from nasforge.evaluator.protocol import Evaluator, Executor
from nasforge.frozen import thaw
from nasforge.searchspace.architecture import Architecture

if TYPE_CHECKING:
    from nasforge.evaluator.data import Dataset
    from nasforge.searchspace.plan import DataSpec
    from nasforge.strategies.prefilter import PoolScorer, PrefilterOptions

logger = logging.getLogger(__name__)


def load_checked(config: SearchConfig, cache_dir: Path | None = None) -> Dataset:
    """Load the data and check the space and objectives against it (host arrays, no device).
    Raises NasforgeError on bad input, before any write."""
    from nasforge.evaluator.augment import check_augment
    from nasforge.evaluator.data import load_dataset
    from nasforge.evaluator.data.tensors import resolve_device
    from nasforge.evaluator.local import metric_names
    from nasforge.objectives import check_objectives
    from nasforge.searchspace.assemble import check_space_fits
    from nasforge.searchspace.build import check_buildable

    if config.evaluator is not None:
        raise ConfigError(f"search {config.name!r} ran your own evaluator ([evaluator] callable "
                          f"= {config.evaluator.callable!r}): it has no dataset and no network "
                          "to load, plan or export; its parameters and metrics are in "
                          f"`nasforge show {config.name}`.")
    dataset = load_dataset(config.data.dataset, seed=config.seed,
                           val_fraction=config.data.val_fraction,
                           test_fraction=config.data.test_fraction,
                           options=config.data.options, cache_dir=cache_dir,
                           train_limit=config.data.train_limit)
    check_space_fits(config.space, dataset.spec)
    check_buildable(config.space, dataset.spec, seed=config.seed)
    check_augment(config.data.augment, dataset.spec.input_shape)
    device = resolve_device(config.training.device)
    _check_proxies(config, dataset.spec)
    check_objectives(config.objectives, metric_names(
        dataset.spec.task, measure_latency=config.training.measure_latency, device=device,
        proxies=trial_proxies(config)), dataset.spec.task)
    return dataset


def trial_proxies(config: SearchConfig) -> tuple[str, ...]:
    """The zero-cost proxies each trained trial reports as ``zc_<name>`` metrics: ``[training]
    proxies`` and then the pre-filter's (so every trained candidate carries the score it was
    chosen by)."""
    options = prefilter_options(config)
    extra = options.proxies if options is not None else ()
    return tuple(dict.fromkeys((*config.training.proxies, *extra)))


def prefilter_options(config: SearchConfig) -> PrefilterOptions | None:
    """The search's ``strategy_options.prefilter``, parsed (None without one)."""
    from nasforge.strategies.prefilter import PrefilterOptions

    value = config.strategy_options.get("prefilter")
    return None if value is None else PrefilterOptions.parse(value)


def _check_proxies(config: SearchConfig, spec: DataSpec) -> None:
    """Unknown proxies and proxies that cannot score a family: ConfigError before any write."""
    from nasforge.proxies.candidate import check_names, check_proxies

    check_names(config.training.proxies, "[training] proxies")
    options = prefilter_options(config)
    if options is not None:
        check_names(options.proxies, "[search] strategy_options prefilter proxy")
    check_proxies(trial_proxies(config), config.space, spec, seed=config.seed,
                  where="[training] proxies" if options is None else
                  "[training] proxies / [search] strategy_options prefilter proxy")


def pool_scorer(config: SearchConfig, cache_dir: Path | None = None, *,
                dataset: Dataset | None = None) -> PoolScorer:
    """The pre-filter's scorer: each candidate built alone with its trial seed (as the
    evaluator builds it) on the training data, loaded here once in the main process and moved
    to the search's device; scores {proxy: score, ``zc_seconds``: seconds} per candidate
    (an invalid candidate scores nothing and ranks last)."""
    from nasforge.evaluator.data.tensors import resolve_device, to_device
    from nasforge.evaluator.seeding import candidate_seed
    from nasforge.proxies.candidate import SECONDS, candidate_proxies
    from nasforge.proxies.spec import metric_name
    from nasforge.searchspace.families import plan_for

    options = prefilter_options(config)
    if options is None:
        raise ConfigError("pool_scorer needs [search] strategy_options prefilter.")
    if dataset is None:
        dataset = load_checked(config, cache_dir)
    data = to_device(dataset, resolve_device(config.training.device))

    def score(archs: Sequence[Architecture]) -> list[Mapping[str, float]]:
        out: list[Mapping[str, float]] = []
        for arch in archs:
            try:
                plan = plan_for(arch, data.spec)
            except NasforgeError as err:
                logger.info("Pre-filter: candidate %s is invalid (%s); it ranks last",
                            arch.arch_id, err)
                out.append({})
                continue
            metrics = candidate_proxies(plan, candidate_seed(config.seed, arch.arch_id),
                                        data.x_train, data.y_train, data.spec.task,
                                        options.proxies)
            scores = {name: metrics[metric_name(name)] for name in options.proxies}
            out.append({**scores, SECONDS: metrics[SECONDS]})
        return out

    return score


def build_evaluator(config: SearchConfig, cache_dir: Path | None = None, *,
                    dataset: Dataset | None = None,
                    checkpoint_dir: Path | None = None) -> Evaluator:
    """Load the data (unless `dataset`, from `load_checked`, is given), check the space and
    objectives against it, move it to the device and make the local evaluator (saving
    trained weights in `checkpoint_dir`, when given: `Checkpoints.folder`). Raises
    NasforgeError on bad input, before any write."""
    if config.evaluator is not None:  # [evaluator]: the user's function, re-imported by name
        from nasforge.user_evaluator import FunctionEvaluator

        return FunctionEvaluator.of(config.evaluator)
    from nasforge.evaluator.data.tensors import resolve_device, to_device
    from nasforge.evaluator.local import LocalEvaluator

    if dataset is None:
        dataset = load_checked(config, cache_dir)
    data = to_device(dataset, resolve_device(config.training.device), config.data.augment)
    return LocalEvaluator(data, seed=config.seed, latency_batch=config.training.latency_batch,
                          throughput_batch=config.training.throughput_batch,
                          measure_latency=config.training.measure_latency,
                          precision=config.training.precision,
                          compile=config.training.compile, checkpoint_dir=checkpoint_dir,
                          threads=config.training.threads, proxies=trial_proxies(config))


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


def fusion_key(spec: DataSpec | None) -> Callable[[Architecture], Hashable]:
    """What candidates must share for `LocalEvaluator` to fuse them, as `WorkerPool`'s
    `group_key` (equal keys go to one worker's chunk).

    With the data spec: `LocalEvaluator._buckets`'s key itself (`fused.fusion_key`: the
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
    from nasforge.evaluator.fused import FusionError
    from nasforge.evaluator.fused.buckets import read_candidate

    def by_plan(arch: Architecture) -> Hashable:
        entry = read_candidate(arch, spec)
        if entry.key is None:
            raise FusionError(entry.why)
        return entry.key

    return by_plan


#: Chunks per worker of a CPU `WorkerPool` that no planner cuts: a round of 32 on 2 workers
#: goes out as 8 chunks of at most 4, costliest first (one worker idling on a round's tail
#: loses up to half the machine).
CPU_CHUNKS_PER_WORKER = 4


#: One op's time (forward, backward and the optimizer's share) in MACs of arithmetic, about
#: 30 us against 0.3 ns a MAC on one core of the 2-core machine.
OP_OVERHEAD_MACS = 100_000


def training_cost(spec: DataSpec | None) -> Callable[[Architecture], float] | None:
    """A candidate's relative training cost for ordering a pool's chunks (None without the
    data spec): epochs x (per-op overhead per sample + MACs per sample), with one op's
    overhead counted as `OP_OVERHEAD_MACS` per step of batch_size samples. Only the order
    it gives matters."""
    if spec is None:
        return None
    from nasforge.evaluator.train import TrainingParams
    from nasforge.searchspace.families import plan_for

    def cost(arch: Architecture) -> float:
        params = TrainingParams.from_arch(arch)
        plan = plan_for(arch, spec)
        per_sample = len(plan.ops) * OP_OVERHEAD_MACS / max(1, params.batch_size) + plan.macs
        return float(params.epochs * per_sample)

    return cost


def make_executor(config: SearchConfig, workers: int, cache_dir: Path | None = None, *,
                  evaluator: Evaluator | None = None, dataset: Dataset | None = None,
                  checkpoint_dir: Path | None = None, executor: str = "local",
                  ray_address: str | None = None) -> Executor:
    """`executor` "local": `workers` = 1: `evaluator` (or a new `build_evaluator`) run
    inline; > 1: a `WorkerPool` of that many processes, each building its evaluator from
    the config (and `dataset`, when given, instead of loading it), with chunks grouped by
    `fusion_key` (of `dataset.spec`, when given); on a CPU with nasforge's evaluator and the
    dataset, each round cut into the stacks fusion pays for and single candidates, costliest
    first (`fused.chunking.StackChunks`), else `CPU_CHUNKS_PER_WORKER` chunks a worker,
    costliest first (`training_cost`). On CUDA ("auto"/"cuda"), workers spread
    round-robin over the visible GPUs (one per GPU when workers == GPUs); with "cuda:N" they
    all share GPU N. "ray": `workers` Ray actors (`RayExecutor`) on a local Ray instance or
    the cluster at `ray_address`, each asking Ray for one GPU when `[training] device` is
    "cuda..." (and, with "auto", when the cluster has GPUs). New evaluators save trained
    weights in `checkpoint_dir` (None: nowhere). Close it with `.close()`."""
    from nasforge.evaluator.executors.choice import check_executor, check_workers
    from nasforge.evaluator.executors.pool import InlineExecutor, WorkerPool

    check_workers(workers)
    check_executor(executor, ray_address)
    if executor == "local" and workers == 1:
        return InlineExecutor(evaluator or build_evaluator(config, cache_dir, dataset=dataset,
                                                           checkpoint_dir=checkpoint_dir))
    recipe = EvaluatorRecipe.of(config, cache_dir, dataset, checkpoint_dir)
    group_key = fusion_key(None if dataset is None else dataset.spec)
    if executor == "ray":
        from nasforge.evaluator.executors.ray import RayExecutor

        wanted = str(config.training.device)  # "auto": a GPU each where the cluster has any
        gpus = None if wanted == "auto" else 1.0 if wanted.startswith("cuda") else 0.0
        return RayExecutor(recipe, address=ray_address, slots=workers,
                           gpus_per_candidate=gpus, group_key=group_key)
    from nasforge.evaluator.data.tensors import resolve_device

    gpus = 0
    device = resolve_device(config.training.device)
    if device.type == "cuda" and device.index is None:
        import torch

        gpus = torch.cuda.device_count()
    from nasforge.evaluator.executors.capacity import usable_cores

    spec = None if dataset is None else dataset.spec
    on_cpu = device.type == "cpu"
    threads = max(1, usable_cores() // workers)  # a container's quota too
    planner = None
    if on_cpu and spec is not None and config.evaluator is None:
        from nasforge.evaluator.fused.chunking import StackChunks

        planner = StackChunks(spec, config.training.threads, threads)
    return WorkerPool(workers, recipe, gpus=gpus, group_key=group_key, threads=threads,
                      chunks_per_worker=CPU_CHUNKS_PER_WORKER if on_cpu else 1,
                      cost_key=training_cost(spec) if on_cpu else None, planner=planner,
                      fork_server=on_cpu, compiles=config.training.compile)
