"""Regularized (aging) evolution (Real et al. 2019), single- and multi-objective.

The population is the `population_size` most recent COMPLETE trials (by trial number) that
carry every objective metric: when a new one completes, the oldest leaves (aging). A trial
stopped by learning-curve early stopping (PRUNED with a `predicted_<metric>` for each learned
objective) joins it with its predicted final values, so that stopping saves training without
changing whom the search breeds from; FAILED trials, other PRUNED trials and trials missing
a metric never enter it. Until `population_size` trials are finished or pending, candidates
are random samples (the warm-up).

A candidate is a mutation of a tournament winner: `sample_size` members drawn uniformly
without replacement, the best of them is the parent. With probability `crossover_rate` the
child is first a uniform crossover of the parent with a second tournament winner. "Best"
is the highest signed value for one objective; with several objectives it is NSGA-II's
crowded comparison (lower non-dominated front, then larger crowding distance), so the same
class serves single- and multi-objective search.

Determinism and resume: the generator of each proposal is
``default_rng([seed, known, attempt])`` where `known` is the number of distinct trials told
so far and `attempt` counts proposals since the last new trial became known (a wrapper that
re-asks after a duplicate gets a different proposal). Proposals are therefore a function of
(seed, history) only, and a strategy rebuilt from the stored history proposes exactly what
the uninterrupted run would have proposed next. A child that repeats a known architecture
is redrawn with a fresh tournament, and the mutation grows when that keeps failing (a
converged population whose neighbourhood is explored), so re-asks are rare.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nasforge.curves.rule import KNOWN_BEFORE_TRAINING, PREDICTED_PREFIX
from nasforge.errors import ConfigError
from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies.pareto import crowded_order

#: Default population. On NAS-Bench-201 (budget 150; cifar10, cifar100, ImageNet16-120) 10 to
#: 30 members with a tournament of half to all of them did equally well within noise; 20
#: keeps the random warm-up short (13% of 150 trials), and a tournament of half the
#: population (the default sample size) did best on the two-objective runs.
POPULATION_SIZE = 20
#: Children that repeat a known architecture are redrawn; the mutation grows by one
#: parameter every RETRIES_PER_LEVEL redraws, and gives way to a random sample after
#: MAX_RETRIES.
RETRIES_PER_LEVEL = 5
MAX_RETRIES = 20


@dataclass(frozen=True, slots=True)
class _Known:
    """What the strategy keeps of one trial: its architecture, state and signed values."""

    arch: Architecture
    state: TrialState
    values: tuple[float, ...] | None  # all-maximise objective values; None unless usable


class RegularizedEvolution:
    """Aging evolution over any `SearchSpace`; see the module docstring.

    Options (all validated, ConfigError naming the option otherwise): `population_size`
    (>= 2, default 20), `sample_size` (1 .. population_size, default half the population:
    strong selection without always mutating the same best member), `crossover_rate`
    (0 .. 1, default 0), `mutations` (>= 1 parameters changed per mutation, default 1).
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
                 population_size: int = POPULATION_SIZE, sample_size: int | None = None,
                 crossover_rate: float = 0.0, mutations: int = 1) -> None:
        self.space = space
        self.objectives = tuple(objectives)
        if not self.objectives:
            raise ConfigError("Strategy 'evolution' needs at least one objective, "
                              'e.g. objectives = ["accuracy:max"].')
        self.seed = _integer("[search] seed", seed, low=0)
        self.population_size = _integer(_option("population_size"), population_size, low=2)
        if sample_size is None:
            sample_size = max(2, self.population_size // 2)
        self.sample_size = _integer(_option("sample_size"), sample_size, low=1,
                                    high=self.population_size, high_name="population_size")
        self.crossover_rate = _rate(_option("crossover_rate"), crossover_rate)
        self.mutations = _integer(_option("mutations"), mutations, low=1)
        self._trials: dict[int, _Known] = {}
        self._pending: set[int] = set()  # numbers of WAITING / RUNNING trials
        self._usable: list[int] = []  # sorted numbers of COMPLETE trials with every objective
        self._archs: set[Architecture] = set()  # every architecture told, in any state
        self._attempt = 0

    # ------------------------------------------------------------------ tell
    def tell(self, records: Sequence[TrialRecord]) -> None:
        """Record trials in any state; a trial told again (RUNNING, then COMPLETE) is
        updated in place, counted once."""
        for record in records:
            if record.number not in self._trials:
                self._attempt = 0
            known = _Known(record.arch, record.state, self._values(record))
            self._trials[record.number] = known
            self._archs.add(record.arch)
            at = bisect.bisect_left(self._usable, record.number)
            listed = at < len(self._usable) and self._usable[at] == record.number
            if known.values is not None and not listed:
                self._usable.insert(at, record.number)
            elif known.values is None and listed:
                del self._usable[at]
            if record.state.is_finished:
                self._pending.discard(record.number)
            else:
                self._pending.add(record.number)

    def _values(self, record: TrialRecord) -> tuple[float, ...] | None:
        if record.state is TrialState.COMPLETE:
            metrics = record.metrics
        elif record.state is TrialState.PRUNED:
            metrics = predicted_final(record.metrics, self.objectives)
        else:
            return None
        values = []
        for objective in self.objectives:
            value = metrics.get(objective.metric)
            if value is None or not math.isfinite(value):
                return None
            values.append(objective.sign() * value)
        return tuple(values)

    # ------------------------------------------------------------------ ask
    @property
    def population(self) -> tuple[int, ...]:
        """Trial numbers of the current population, oldest first: the `population_size`
        most recent usable trials (COMPLETE, or stopped with predictions; see the module)."""
        return tuple(self._usable[-self.population_size:])

    def ask(self, n: int) -> list[Architecture]:
        """`n` candidates: random samples during the warm-up, mutated tournament winners
        after it. The generator of each is ``default_rng([seed, known, attempt])``."""
        numbers = self.population
        members = [self._trials[k] for k in numbers]
        complete = len(self._usable)
        fitness = self._fitness(members)
        batch: set[Architecture] = set()
        proposals = []
        for i in range(n):
            rng = np.random.default_rng([self.seed, len(self._trials), self._attempt])
            self._attempt += 1
            if complete + len(self._pending) + i < self.population_size or not members:
                child = self.space.sample(rng)  # warm-up
            else:
                child = self._child(members, fitness, rng, batch)
            batch.add(child)
            proposals.append(child)
        return proposals

    def _fitness(self, members: list[_Known]) -> np.ndarray:
        """Position of each member in the selection order, shape (len(members),); 0 = best."""
        if not members:
            return np.zeros(0, dtype=np.int64)
        points = np.array([m.values for m in members], dtype=np.float64)
        order = (np.argsort(-points[:, 0], kind="stable") if points.shape[1] == 1
                 else crowded_order(points))
        position = np.empty(len(members), dtype=np.int64)
        position[order] = np.arange(len(members))
        return position

    def _tournament(self, fitness: np.ndarray, rng: np.random.Generator) -> int:
        drawn = rng.choice(len(fitness), size=min(self.sample_size, len(fitness)),
                           replace=False)
        return int(drawn[np.argmin(fitness[drawn])])

    def _child(self, members: list[_Known], fitness: np.ndarray, rng: np.random.Generator,
               batch: set[Architecture]) -> Architecture:
        """A mutated tournament winner that is neither a known trial nor in `batch`.

        When a child repeats a known architecture (a converged population has explored its
        neighbourhood), another tournament is drawn; every `RETRIES_PER_LEVEL` failures the
        mutation changes one more parameter, and after `MAX_RETRIES` it is a random sample.
        """
        for retry in range(MAX_RETRIES):
            parent = members[self._tournament(fitness, rng)].arch
            if self.crossover_rate > 0 and rng.random() < self.crossover_rate:
                other = members[self._tournament(fitness, rng)].arch
                parent = self.space.crossover(parent, other, rng)
            child = self.space.mutate(parent, rng, n=self.mutations + retry // RETRIES_PER_LEVEL)
            if child not in self._archs and child not in batch:
                return child
        return self.space.sample(rng)


def predicted_final(metrics: Mapping[str, float], objectives: Sequence[Objective]
                    ) -> Mapping[str, float]:
    """A curve-stopped trial's metrics at its final epoch as early stopping predicted them:
    `predicted_<metric>` for each objective the curve gave, the metric itself for the costs
    known before training; empty when the trial was not stopped by a prediction (a pruner
    without one) or lacks an objective."""
    out = {}
    for objective in objectives:
        predicted = metrics.get(PREDICTED_PREFIX + objective.metric)
        if predicted is None and objective.metric in KNOWN_BEFORE_TRAINING:
            predicted = metrics.get(objective.metric)
        if predicted is None:
            return {}
        out[objective.metric] = predicted
    return out if any(PREDICTED_PREFIX + o.metric in metrics for o in objectives) else {}


def _option(name: str) -> str:
    return f"[search] strategy_options {name}"


def _integer(what: str, value: object, low: int, high: int | None = None,
             high_name: str = "") -> int:
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
            or value < low or (high is not None and value > high)):
        upper = f" to {high_name} ({high})" if high_name else f" to {high}"
        allowed = f"an integer from {low}{upper}" if high is not None else f"an integer >= {low}"
        raise ConfigError(f"{what} = {value!r} is invalid for strategy 'evolution': "
                          f"use {allowed}.")
    return int(value)


def _rate(what: str, value: object) -> float:
    if (not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool)
            or not 0.0 <= float(value) <= 1.0):
        raise ConfigError(f"{what} = {value!r} is invalid for strategy 'evolution': "
                          "use a number from 0 to 1.")
    return float(value)
