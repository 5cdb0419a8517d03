"""The supernet search driver (registered in `nasforge.strategies.DRIVERS`): `Search.run`
hands a supernet search to it, over the public `nasforge.trial_loop.TrialLoop`.

Phases, each resumable from the store:

1. **Supernet**: trained once with the sandwich rule (`train.train_supernet`) and saved as
   ``<checkpoint folder>/supernet.pt``; a resumed search loads that file instead of
   retraining (without a checkpoint root it is retrained).
2. **Inherited**: the inner strategy's ask/tell loop against `SupernetEvaluator`, ``subnets``
   trials in the store, worker ``supernet:<host:pid>``, metrics ``inherited_accuracy``,
   ``inherited_loss`` plus the plan's cost metrics.
3. **Standalone**: the Pareto set of the inherited results (best first, at most
   ``retrain_top_k``) and a seeded random ``ranking_sample`` of them are trained from
   scratch through the search's own evaluator (`TrialLoop.evaluate`: checkpoints, pruning,
   observer as usual): plain ``accuracy`` / ``loss`` metrics, ordinary trials.
4. **Diagnostics**: Kendall tau and Spearman rho between inherited and standalone accuracy
   (negated loss for regression) over the ranking sample, stored with the search
   (`Store.set_diagnostics`) and shown by `nasforge show NAME --json` under `diagnostics`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from nasforge.evaluator.layout import use_channels_last
from nasforge.evaluator.threads import candidate_torch_threads
from nasforge.evaluator.train import TrainData
from nasforge.leases import worker_id
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.strategies import make_strategy
from nasforge.strategies.base import Strategy
from nasforge.strategies.pareto import pareto_front
from nasforge.strategies.supernet import (
    INHERITED,
    SupernetOptions,
    SupernetStrategy,
    is_inherited,
    plain_metrics,
)
from nasforge.supernet.evaluator import SupernetEvaluator
from nasforge.supernet.model import Supernet
from nasforge.supernet.slots import extreme
from nasforge.supernet.train import SupernetTraining, train_supernet
from nasforge.trial_loop import SearchOutcome, TrialLoop

logger = logging.getLogger(__name__)


class _SpecData(TrainData, Protocol):
    """Device tensors with their `DataSpec` (`nasforge.evaluator.data.tensors.DeviceData`)."""

    @property
    def spec(self) -> DataSpec: ...


CHECKPOINT_ID = "supernet"
#: Subnets asked of the inner strategy per round of the inherited phase (at least).
INHERITED_ROUND = 20


class SupernetSearch:
    """Runs the search of `loop` (whose config names the supernet strategy) with `strategy`
    (None: built from the config); see the module docstring. `trained` tells, after `run`,
    whether the supernet was trained (False: loaded)."""

    def __init__(self, loop: TrialLoop, strategy: Strategy | None = None) -> None:
        self.search = loop
        self.strategy = strategy
        self.trained = False

    def run(self) -> SearchOutcome:
        search, config, store = self.search, self.search.config, self.search.store
        record = search.open()
        strategy = self.strategy or make_strategy(config.strategy, config.space,
                                                    config.objectives, config.seed,
                                                    config.strategy_options)
        options = _options(strategy)
        data = _data(search)
        task = data.spec.task
        with self._threads(data, options):
            net, train_info = self._supernet(data, options)
            history = store.trials(config.name)
            strategy.tell(history)
            if search.observer:
                search.observer.on_start(record, history)
            evaluator = SupernetEvaluator(net, data, task=task, seed=config.seed,
                                          recalibration_batches=options.recalibration_batches)
            start = time.perf_counter()
            subnets = options.subnets or config.budget
            self._inherited(strategy, evaluator, subnets, history)
            inherited_seconds = time.perf_counter() - start
        sample, retrain = self._selection(options)
        start = time.perf_counter()
        with search.heartbeat():
            self._standalone([*retrain, *[a for a in sample if a not in retrain]])
        diagnostics = {**ranking(store.trials(config.name), sample, task),
                       "supernet_seconds": train_info.get("seconds"),
                       "supernet_reused": not self.trained,
                       "inherited_seconds": inherited_seconds,
                       "standalone_seconds": time.perf_counter() - start,
                       "retrained": len(retrain)}
        store.set_diagnostics(config.name, diagnostics)
        logger.info("supernet ranking: %s", diagnostics)
        return _outcome(search)

    def _threads(self, data: _SpecData, options: SupernetOptions) -> AbstractContextManager[int]:
        """`[training] threads` for the supernet's training and the inherited evaluations, as
        for a candidate ("auto": from the largest subnet's step, `evaluator.threads`)."""
        config = self.search.config
        rng = np.random.default_rng(config.seed)
        largest = max(plan_for(extreme(config.space, rng, True, fixed={"family": family}),
                               data.spec).macs
                      for family in config.space.params["family"].values())
        return candidate_torch_threads(largest, options.supernet_batch_size,
                                       config.training.threads, data.x_train.device)

    # ------------------------------------------------------------------ phases
    def _supernet(self, data: _SpecData, options: SupernetOptions
                  ) -> tuple[Supernet, dict[str, float]]:
        config, checkpoints = self.search.config, self.search.checkpoints
        device = data.x_train.device
        net = Supernet(config.space, data.spec, seed=config.seed)
        net.to(device)  # in place
        path = None if checkpoints is None else checkpoints.folder / f"{CHECKPOINT_ID}.pt"
        if path is not None and path.is_file():
            net.load_state_dict(torch.load(path, map_location=device, weights_only=True))
            if use_channels_last("auto", net, data.x_train):  # the layout it trained in
                net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs omit memory_format
            net.eval()
            logger.info("loaded the trained supernet from %s", path)
            return net, {}
        training = SupernetTraining(options.supernet_epochs, options.supernet_batch_size,
                                    options.supernet_lr, options.supernet_weight_decay,
                                    options.random_subnets, options.progressive,
                                    options.progressive_fractions, options.sort_channels)
        info = train_supernet(net, data, training, seed=config.seed, task=data.spec.task)
        self.trained = True
        if path is not None:
            from nasforge.evaluator.checkpoint_writer import save_checkpoint

            save_checkpoint(Path(path.parent), CHECKPOINT_ID, net)
        return net, info

    def _inherited(self, strategy: Strategy, evaluator: SupernetEvaluator,
                   subnets: int, history: Sequence[TrialRecord]) -> None:
        search, config, store = self.search, self.search.config, self.search.store
        worker = f"supernet:{worker_id()}"
        done = sum(1 for t in history if t.state.is_finished and is_inherited(t))
        waiting = sum(1 for t in history if t.state is TrialState.WAITING)
        per_round = max(config.batch, INHERITED_ROUND)
        while done < subnets:
            want = min(per_round, subnets - done)
            trials = search.claim(want, worker) if waiting else []
            waiting = waiting - len(trials) if len(trials) == want else 0
            if len(trials) < want:
                new = search.add(strategy.ask(want - len(trials)), worker)
                strategy.tell(new)
                trials += new
            if not trials:
                logger.info("the space is exhausted after %d subnets", done)
                break
            results = evaluator.evaluate([t.arch for t in trials])
            for trial, result in zip(trials, results, strict=True):
                finished = store.finish(config.name, trial.number, result)
                strategy.tell([finished])
                if search.observer:
                    search.observer.on_trial(finished)
            done += len(trials)

    def _selection(self, options: SupernetOptions) -> tuple[list[str], list[str]]:
        """(ranking sample, retrain set) as arch_ids of inherited COMPLETE trials."""
        config = self.search.config
        inherited = _unique([t for t in self.search.store.trials(config.name,
                                                                 [TrialState.COMPLETE])
                             if is_inherited(t)])
        rng = np.random.default_rng(config.seed)
        size = min(options.ranking_sample, len(inherited))
        sample = [inherited[i].arch_id for i in sorted(
            rng.choice(len(inherited), size=size, replace=False).tolist())]
        plain = [plain_metrics(t).metrics for t in inherited]
        lead = config.objectives[0]
        front = pareto_front(plain, config.objectives) if plain else []
        first = sorted(front, key=lambda i: -lead.sign() * plain[i].get(lead.metric, math.nan))
        retrain = [inherited[i].arch_id for i in first[:options.retrain_top_k]]
        return sample, retrain

    def _standalone(self, arch_ids: Sequence[str]) -> None:
        """Train each architecture standalone once (resumable: done ones are skipped)."""
        search, config, store = self.search, self.search.config, self.search.store
        trials = store.trials(config.name)
        by_id = {t.arch_id: t.arch for t in trials if is_inherited(t)}
        done = {t.arch_id for t in trials if not is_inherited(t) and t.state.is_finished}
        waiting = [t for t in trials if not is_inherited(t) and t.state is TrialState.WAITING]
        if waiting:
            claimed = search.claim(len(waiting))
            search.evaluate(claimed)
            done |= {t.arch_id for t in claimed}
        todo = [by_id[a] for a in arch_ids if a not in done and a in by_id]
        per_round = max(config.batch, int(getattr(search.evaluator, "slots", 1)))
        for begin in range(0, len(todo), per_round):
            search.evaluate(search.add(todo[begin:begin + per_round]))


def ranking(trials: Sequence[TrialRecord], sample: Sequence[str],
            task: str) -> dict[str, object]:
    """Kendall tau and Spearman rho between inherited and standalone accuracy (negated loss
    for regression) of the sampled architectures that have both."""
    from scipy.stats import kendalltau, spearmanr

    metric = "accuracy" if task == "classification" else "loss"
    sign = 1.0 if task == "classification" else -1.0
    inherited = {t.arch_id: t.metrics[INHERITED + metric] for t in trials
                 if t.state is TrialState.COMPLETE and INHERITED + metric in t.metrics}
    standalone = {t.arch_id: t.metrics[metric] for t in trials
                  if t.state is TrialState.COMPLETE and metric in t.metrics}
    pairs = [(sign * inherited[a], sign * standalone[a]) for a in dict.fromkeys(sample)
             if a in inherited and a in standalone]
    tau = rho = None
    if len(pairs) >= 2:
        x, y = zip(*pairs, strict=True)
        tau, rho = float(kendalltau(x, y).statistic), float(spearmanr(x, y).statistic)
    return {"kendall_tau": None if tau is None or math.isnan(tau) else tau,
            "spearman_rho": None if rho is None or math.isnan(rho) else rho,
            "sample_size": len(pairs), "metric": metric}


def _unique(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    seen: dict[str, TrialRecord] = {}
    for t in trials:
        seen.setdefault(t.arch_id, t)
    return list(seen.values())


def _options(strategy: object) -> SupernetOptions:
    inner = getattr(strategy, "inner", None)
    for candidate in (strategy, inner):
        if isinstance(candidate, SupernetStrategy):
            return candidate.options
    raise TypeError(f"a supernet search needs a SupernetStrategy, got {strategy!r}")


def _data(search: TrialLoop) -> _SpecData:
    """The evaluator's device data when it has some (LocalEvaluator, inline), else loaded."""
    evaluator = search.evaluator
    for candidate in (evaluator, getattr(evaluator, "evaluator", None)):
        data = getattr(candidate, "data", None)
        if data is not None and hasattr(data, "x_train"):
            return data
    from nasforge.evaluator.data.tensors import resolve_device, to_device
    from nasforge.evaluator_setup import load_checked

    config = search.config
    return to_device(load_checked(config), resolve_device(config.training.device),
                     config.data.augment)


def _outcome(search: TrialLoop) -> SearchOutcome:
    standalone = [t for t in search.store.trials(search.name, [TrialState.COMPLETE])
                  if not is_inherited(t)]
    return search.outcome(standalone)
