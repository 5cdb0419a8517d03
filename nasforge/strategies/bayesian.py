"""Bayesian optimisation through Optuna's samplers, driven by ask/tell over our typed space.

`OptunaStrategy` keeps an in-memory Optuna study (storage None) as the sampler's working
memory; our `Store` stays the system of record. Lifecycle of one candidate:

``ask``: ``study.ask()`` -> suggest the active parameters define-by-run (conditions honoured,
see `optuna_space`) -> an `Architecture`; the Optuna trial stays RUNNING (constant liar).
``tell``: the trial's records arrive RUNNING (pending) and later finished; COMPLETE gives the
raw objective values in objective order (the study's directions handle max/min), FAILED or a
missing/non-finite objective gives FAIL, PRUNED gives PRUNED (with the last intermediate
value of the objective for one objective; Optuna refuses intermediate values for several).

Records this study did not propose (history replayed on resume, trials of another process)
are added as finished trials with `study.add_trial`; pending ones are remembered so that they
are not proposed again. Telling the same trial number twice is a no-op.

Determinism: the sampler gets `seed`, so the same seed and the same history give the same
proposals. Resume is *not* bit-identical to an uninterrupted run: the replayed study holds
only the stored trials (not the duplicate retries) and the sampler's generator starts afresh
from `seed` instead of where the killed run left it; the search continues from the same
knowledge, not the same random stream. NSGA-II's generations are rebuilt on replay (each
replayed trial gets the generation it would have had); CMA-ES keeps its distribution in
attributes of the trials it sampled itself, so after a resume it starts its search
distribution afresh (it still never proposes a known architecture).

Logging: Optuna's library logger prints INFO lines to stderr by default. The strategy does
not reconfigure logging; only while it creates its study (which logs "A new study created in
memory") it raises the ``optuna`` logger to WARNING and restores it afterwards. A CLI wanting
Optuna quiet for good calls ``optuna.logging.set_verbosity(optuna.logging.WARNING)``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nasforge.errors import ConfigError, SpaceError
from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies import optuna_space
from nasforge.strategies.optuna_samplers import build_sampler

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: How often `ask` samples again when the sampler proposes a known architecture.
DEFAULT_MAX_RETRIES = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished result as Optuna takes it: state ``COMPLETE`` (with `values`), ``FAIL`` or
    ``PRUNED`` (with an optional last intermediate value ``(step, value)``)."""

    state: str
    values: tuple[float, ...] | None = None
    intermediate: tuple[int, float] | None = None


def outcome_of(record: TrialRecord, objectives: Sequence[Objective]) -> Outcome:
    """The Optuna outcome of a finished record (raw values, objective order)."""
    if record.state is TrialState.COMPLETE:
        values = tuple(float(record.metrics.get(o.metric, math.nan)) for o in objectives)
        if all(math.isfinite(v) for v in values):
            return Outcome("COMPLETE", values)
        logger.debug("trial %d has no finite %s; told as FAIL", record.number,
                     [o.metric for o in objectives])
        return Outcome("FAIL")
    if record.state is TrialState.PRUNED:
        last = _last_value(record, objectives[0].metric) if len(objectives) == 1 else None
        return Outcome("PRUNED", intermediate=last)
    return Outcome("FAIL")


def _last_value(record: TrialRecord, metric: str) -> tuple[int, float] | None:
    """Last finite value of the objective on the learning curve (``metric`` or
    ``val_<metric>``), else the record's final metric at step 0."""
    for point in reversed(record.curve):
        for key in (metric, f"val_{metric}"):
            value = point.metrics.get(key)
            if value is not None and math.isfinite(value):
                return point.epoch, float(value)
    value = record.metrics.get(metric)
    return (0, float(value)) if value is not None and math.isfinite(value) else None


class OptunaStrategy:
    """Optuna sampler (``auto``/``tpe``, ``gp``, ``cmaes``, ``nsga2``) behind ask/tell.

    `sampler_options` go to the sampler's constructor (e.g. ``n_startup_trials=20``);
    `max_retries` bounds how often `ask` samples again after a duplicate proposal (then the
    duplicate is returned and the `Deduplicated` wrapper filters it).
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
                 sampler: str = "auto", max_retries: int = DEFAULT_MAX_RETRIES,
                 **sampler_options: object) -> None:
        import optuna

        self.space = space
        self.objectives = tuple(objectives)
        self.seed = seed
        self.sampler_name = sampler
        if not self.objectives:
            raise ConfigError("The Bayesian strategies need at least one objective, e.g. "
                              'objectives = ["accuracy:max"].')
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ConfigError(f"[search] strategy_options max_retries={max_retries!r} must be a "
                              "whole number >= 0.")
        self.max_retries = max_retries
        self._distributions = optuna_space.space_distributions(space)
        directions: list[Literal["maximize", "minimize"]] = [
            "maximize" if o.direction == "max" else "minimize" for o in self.objectives]
        with _quiet_optuna():
            self.study = optuna.create_study(
                directions=directions,
                sampler=build_sampler(sampler, space, self.objectives, seed, sampler_options),
            )
        self._asked: dict[int, optuna.Trial] = {}  # optuna number -> live trial (ours)
        self._proposed: dict[str, int] = {}  # arch_id -> optuna number, not yet in a record
        self._bound: dict[tuple[str, int], int] = {}  # (search, number) -> optuna number
        self._foreign: dict[tuple[str, int], str] = {}  # pending records we did not propose
        self._pending: Counter[str] = Counter()  # arch_id -> pending trials of it
        self._known: dict[str, Outcome] = {}  # arch_id -> latest finished outcome
        self._done: set[tuple[str, int]] = set()
        self._size = space.size  # None for continuous spaces

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Architecture]:
        """Up to `n` candidates; fewer when a finite space has nothing left to propose."""
        out: list[Architecture] = []
        for _ in range(n):
            if self._exhausted():
                break
            out.append(self._ask_one())
        return out

    def _exhausted(self) -> bool:
        """True when every architecture of a finite space is finished or pending."""
        if self._size is None or len(self._known) + len(self._pending) < self._size:
            return False
        return len(self._known.keys() | +self._pending) >= self._size

    def _ask_one(self) -> Architecture:
        for _ in range(self.max_retries + 1):
            trial = self.study.ask()
            arch = optuna_space.suggest(trial, self.space, self._distributions)
            known = self._known.get(arch.arch_id)
            if known is None and not self._pending[arch.arch_id]:
                self._asked[trial.number] = trial
                self._proposed[arch.arch_id] = trial.number
                self._pending[arch.arch_id] += 1
                return arch
            if known is not None:  # a finished duplicate: its result teaches the sampler again
                self._finish(trial, known)
            else:  # a pending duplicate
                self.study.tell(trial, state=_state("FAIL"))
        logger.debug("the sampler keeps proposing known architectures; returning a duplicate")
        return arch

    # ------------------------------------------------------------------ tell
    def tell(self, records: Sequence[TrialRecord]) -> None:
        for record in records:
            key = (record.search, record.number)
            if key in self._done:
                continue
            if not record.state.is_finished:
                self._tell_pending(key, record)
                continue
            outcome = outcome_of(record, self.objectives)
            number = self._bound.pop(key, None)
            if number is None:
                number = self._proposed.pop(record.arch_id, None)
            if number is not None:
                self._pending[record.arch_id] -= 1
                self._finish(self._asked.pop(number), outcome)
            else:
                if self._foreign.pop(key, None) is not None:
                    self._pending[record.arch_id] -= 1
                self._add_foreign(record, outcome)
            self._known[record.arch_id] = outcome
            self._done.add(key)

    def _tell_pending(self, key: tuple[str, int], record: TrialRecord) -> None:
        if key in self._bound or key in self._foreign:
            return
        number = self._proposed.pop(record.arch_id, None)
        if number is not None:
            self._bound[key] = number
        else:
            self._foreign[key] = record.arch_id
            self._pending[record.arch_id] += 1

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        if outcome.state == "COMPLETE":
            self.study.tell(trial, list(outcome.values or ()))
            return
        if outcome.intermediate is not None:
            step, value = outcome.intermediate
            trial.report(value, step)
        self.study.tell(trial, state=_state(outcome.state))

    def _add_foreign(self, record: TrialRecord, outcome: Outcome) -> None:
        import optuna

        try:
            params, dists = optuna_space.trial_params(self.space, record.arch,
                                                      self._distributions)
        except SpaceError as err:
            logger.warning("trial %d does not fit the search space and is not replayed: %s",
                           record.number, err)
            return
        steps, values = None, outcome.values
        if outcome.intermediate is not None:  # a pruned trial's value is its last report
            steps, values = dict([outcome.intermediate]), (outcome.intermediate[1],)
        sampler = self.study.sampler
        if not isinstance(sampler, optuna.samplers.BaseGASampler):
            self.study.add_trial(optuna.trial.create_trial(
                state=_state(outcome.state), values=values, params=params,
                distributions=dists, intermediate_values=steps))
            return
        # NSGA-II counts only trials that carry its generation, which it gives a trial while
        # the trial runs: replay the trial as running, let the sampler date it, then finish it.
        self.study.add_trial(optuna.trial.create_trial(
            state=_state("RUNNING"), params=params, distributions=dists,
            intermediate_values=steps))
        added = self.study.get_trials(deepcopy=False)[-1]
        sampler.get_trial_generation(self.study, added)
        if outcome.state == "COMPLETE":
            self.study.tell(added.number, list(outcome.values or ()))
        else:
            self.study.tell(added.number, state=_state(outcome.state))


def _state(name: str) -> optuna.trial.TrialState:
    import optuna

    return optuna.trial.TrialState[name]


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines off while the block runs (the ``optuna`` logger only, restored)."""
    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    if optuna_logger.getEffectiveLevel() < logging.WARNING:
        optuna_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        optuna_logger.setLevel(level)


# ---------------------------------------------------------------------- registrations
def bayesian(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
             sampler: str = "auto", **options: Any) -> OptunaStrategy:
    """Bayesian optimisation; the default sampler ``auto`` is TPE (multi-objective TPE for
    several objectives). The option ``sampler`` picks another: tpe, gp, cmaes, nsga2."""
    return OptunaStrategy(space, objectives, seed, sampler=sampler, **options)


def tpe(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
        **options: Any) -> OptunaStrategy:
    return OptunaStrategy(space, objectives, seed, sampler="tpe", **options)


def gp(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
       **options: Any) -> OptunaStrategy:
    return OptunaStrategy(space, objectives, seed, sampler="gp", **options)


def cmaes(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
          **options: Any) -> OptunaStrategy:
    return OptunaStrategy(space, objectives, seed, sampler="cmaes", **options)


def nsga2(space: SearchSpace, objectives: Sequence[Objective], seed: int = 0,
          **options: Any) -> OptunaStrategy:
    return OptunaStrategy(space, objectives, seed, sampler="nsga2", **options)

