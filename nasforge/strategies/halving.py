"""Successive halving (ASHA): a wrapper around any strategy, with epochs as the fidelity.

The rungs are the options of the space's ``epochs`` parameter (``epochs = [1, 3, 9, 27]``),
sorted. A *candidate* is an architecture without its ``epochs`` value (its base id); it is
first trained for ``rungs[0]`` epochs and promoted one rung at a time.

ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020):
each ``ask`` slot first looks for a promotion, from the highest rung below the top down to
rung 0: at rung k, the candidates among the best ``floor(finished_k / eta)`` of the
``finished_k`` candidates finished there that have no trial at rung k+1 yet (pending or
finished) are promoted, best first, as the same architecture with ``epochs = rungs[k+1]``.
A slot with nothing to promote gets a new candidate from the inner strategy at rung 0.

The signal is the trial's objective values *at its rung*: from the stored learning curve
where it has the metric at that epoch (``accuracy`` -> ``val_accuracy``, ``loss`` ->
``val_loss``), else from the trial's metrics (cost metrics such as ``params`` do not depend
on the fidelity). One objective ranks by its direction-aware value; several rank by
non-dominated front, then crowding distance (NSGA-II's crowded comparison), so multi-
objective searches are pruned too. FAILED trials, and trials without a value for every
objective at their rung (a PRUNED trial stopped before it), count as finished at their
rung, rank last and are never promoted.

The inner strategy sees a copy of the space whose ``epochs`` is fixed to ``rungs[0]``, so
its proposals are rung-0 candidates and none of its effort goes into the fidelity; it is
told the trials at rung 0 only (pending and finished). Every rung-0 value is measured at
the same fidelity, so a model-based inner strategy never mixes budgets (BOHB's choice
would be to model the highest rung with enough points; rung 0 always has the most).

State is a deterministic function of the history (which candidates exist at which rung,
which already have a trial at the next rung), so a strategy rebuilt from the stored history
proposes what an uninterrupted one would. `tell` is idempotent per trial number: a trial
is recorded once pending and once finished, whatever the order of replays.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.metrics import CURVE_KEYS
from nasforge.objectives import Objective
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.params import Choice
from nasforge.searchspace.space import SearchSpace
from nasforge.strategies.base import Strategy
from nasforge.strategies.pareto import crowded_order

logger = logging.getLogger(__name__)

FIDELITY = "epochs"
#: Rounds of asking the inner strategy for candidates whose base is new.
MAX_INNER_ROUNDS = 20

_RUNGS_HINT = "list the rungs as a choice in [space], e.g. epochs = [1, 3, 9, 27]"


def rungs_of(space: SearchSpace) -> tuple[int, ...]:
    """The sorted epochs of the space's ``epochs`` Choice; ConfigError when there are none."""
    param = space.params.get(FIDELITY)
    if param is None:
        raise ConfigError(f"The halving strategy needs an 'epochs' parameter in the space; "
                          f"{_RUNGS_HINT}.")
    options = param.options if isinstance(param, Choice) else ()
    if len(options) < 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                               for v in options):
        raise ConfigError(f"The halving strategy uses 'epochs' as its fidelity, but epochs is "
                          f"{param.describe()}: {_RUNGS_HINT} (at least two whole numbers).")
    return tuple(sorted(int(v) for v in options))


def rung_zero_space(space: SearchSpace, rungs: Sequence[int]) -> SearchSpace:
    """The space the inner strategy searches: `space` with ``epochs`` fixed to rung 0 (and
    its canonicaliser, so that the inner strategy proposes each network in one encoding)."""
    return SearchSpace({**space.params, FIDELITY: Choice((rungs[0],))}, space.conditions,
                       canonicalize=space.canonicalize)


def base_id(arch: Architecture) -> str:
    """The id of a candidate: the arch_id of `arch` without its ``epochs`` value."""
    return arch.replace(**{FIDELITY: None}).arch_id


def rung_values(record: TrialRecord, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """The trial's objective values at its own epochs, each signed so that larger is better;
    NaN where there is no value (always for FAILED trials).

    A curve metric comes from the curve point at the rung's epoch, else from the final
    metrics (they are the same value when the trial trained to its epochs, so a history
    replayed without curves ranks alike), except for a PRUNED trial that stopped before its
    rung (by its ``epochs`` metric, else its curve's last epoch): its values are not of
    this rung.
    """
    if record.state is TrialState.FAILED:
        return tuple(math.nan for _ in objectives)
    epoch = int(record.arch[FIDELITY])
    point = next((p for p in record.curve if p.epoch == epoch), None)
    trained = record.metrics.get(FIDELITY, record.curve[-1].epoch if record.curve else epoch)
    stopped_early = record.state is TrialState.PRUNED and trained < epoch
    values = []
    for objective in objectives:
        key = CURVE_KEYS.get(objective.metric)
        if key is not None and point is not None and key in point.metrics:
            value = point.metrics[key]
        elif key is not None and stopped_early:
            value = math.nan
        else:
            value = record.metrics.get(objective.metric, math.nan)
        values.append(objective.sign() * float(value))
    return tuple(values)


def promotion_order(values: Sequence[Sequence[float]]) -> list[int]:
    """Indices of `values` (rows signed to be maximised) best first; ties by index, NaN last.

    One column: by value. Several: by non-dominated front, then crowding distance.
    """
    points = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if points.shape[1] == 1:
        column = points[:, 0]
        missing = np.isnan(column)
        return np.lexsort((np.arange(len(column)), -np.where(missing, 0.0, column),
                           missing)).tolist()
    return crowded_order(points).tolist()


class SuccessiveHalving:
    """Asynchronous successive halving around an `inner` strategy that proposes candidates.

    `inner` searches `rung_zero_space(space, rungs_of(space))` and should never repeat
    itself (wrap it in `Deduplicated`; the ``halving`` factory does). `eta` >= 2: a rung
    promotes its best 1/eta.
    """

    def __init__(self, inner: Strategy, space: SearchSpace, objectives: Sequence[Objective],
                 eta: int = 3) -> None:
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ConfigError(f"halving option eta = {eta!r} must be a whole number >= 2 "
                              "(a rung promotes its best 1/eta; 3 is usual).")
        if not objectives:
            raise ConfigError('The halving strategy needs an objective, e.g. '
                              'objectives = ["accuracy:max"].')
        self.inner = inner
        self.space = space
        self.objectives = tuple(objectives)
        self.eta = eta
        self.rungs = rungs_of(space)
        self._rung_index = {epochs: k for k, epochs in enumerate(self.rungs)}
        self._trials: dict[int, TrialRecord] = {}
        # (base id, rung) pairs that have a trial (any state) or a proposal not yet told
        self._occupied: set[tuple[str, int]] = set()
        self._bases: set[str] = set()
        # per rung: base id -> its finished trial there (the lowest-numbered one)
        self._finished: list[dict[str, TrialRecord]] = [{} for _ in self.rungs]
        self._ranked: dict[int, list[tuple[str, TrialRecord, bool]]] = {}

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Architecture]:
        proposals: list[Architecture] = []
        while len(proposals) < n:
            promoted = self._promotion()
            if promoted is None:
                break
            proposals.append(promoted)
        if len(proposals) < n:
            proposals += self._fresh(n - len(proposals))
        return proposals

    def _promotion(self) -> Architecture | None:
        """The best unpromoted candidate in the top 1/eta of the highest possible rung."""
        for k in range(len(self.rungs) - 2, -1, -1):
            ranked = self._ranking(k)
            for base, record, promotable in ranked[:len(ranked) // self.eta]:
                if promotable and (base, k + 1) not in self._occupied:
                    self._occupied.add((base, k + 1))
                    logger.debug("promote %s from %d to %d epochs", base, self.rungs[k],
                                 self.rungs[k + 1])
                    return record.arch.replace(**{FIDELITY: self.rungs[k + 1]})
        return None

    def _ranking(self, k: int) -> list[tuple[str, TrialRecord, bool]]:
        """(base, trial, promotable) of the candidates finished at rung k, best first."""
        if k not in self._ranked:
            entries = sorted(self._finished[k].items(), key=lambda item: item[1].number)
            values = [rung_values(record, self.objectives) for _, record in entries]
            self._ranked[k] = [
                (entries[i][0], entries[i][1], not any(math.isnan(v) for v in values[i]))
                for i in (promotion_order(values) if entries else [])
            ]
        return self._ranked[k]

    def _fresh(self, n: int) -> list[Architecture]:
        """Up to `n` rung-0 candidates from the inner strategy whose base is new."""
        fresh: list[Architecture] = []
        for _ in range(MAX_INNER_ROUNDS):
            proposals = self.inner.ask(n - len(fresh))
            if not proposals:
                break
            for arch in proposals:
                arch = arch.replace(**{FIDELITY: self.rungs[0]})
                base = base_id(arch)
                if base not in self._bases and len(fresh) < n:
                    self._bases.add(base)
                    self._occupied.add((base, 0))
                    fresh.append(arch)
            if len(fresh) >= n:
                break
        return fresh

    # ------------------------------------------------------------------ tell
    def tell(self, records: Sequence[TrialRecord]) -> None:
        """Record trials (any state); the inner strategy is told those at rung 0."""
        for_inner: list[TrialRecord] = []
        for record in records:
            epochs = record.arch.get(FIDELITY)
            k = self._rung_index.get(epochs) if isinstance(epochs, int) else None
            if k is None:
                logger.debug("trial %d has no rung (epochs=%r); ignored", record.number,
                             record.arch.get(FIDELITY))
                continue
            known = self._trials.get(record.number)
            if known is not None and (known.state.is_finished or not record.state.is_finished):
                continue  # nothing new: told before, or a finished trial told again
            self._trials[record.number] = record
            base = base_id(record.arch)
            self._bases.add(base)
            self._occupied.add((base, k))
            if record.state.is_finished:
                current = self._finished[k].get(base)
                if current is None or record.number < current.number:
                    self._finished[k][base] = record
                    self._ranked.pop(k, None)
            if k == 0:
                for_inner.append(record)
        if for_inner:
            self.inner.tell(for_inner)

    # ------------------------------------------------------------------ reporting
    def trials_per_rung(self) -> dict[int, int]:
        """How many trials (any state) each rung holds: epochs -> count."""
        counts = dict.fromkeys(self.rungs, 0)
        for record in self._trials.values():
            counts[int(record.arch[FIDELITY])] += 1
        return counts


def halving_strategy(space: SearchSpace, objectives: Sequence[Objective], seed: int, *,
                     inner: str = "random", inner_options: Mapping[str, object] | None = None,
                     eta: int = 3) -> SuccessiveHalving:
    """The registered ``halving`` factory: `inner` (a registered strategy name) proposes the
    rung-0 candidates, built with `inner_options` and the same seed."""
    # imported here: the registry imports this module to register the factory
    from nasforge.strategies import STRATEGIES, make_strategy

    if not isinstance(inner, str) or inner not in STRATEGIES or inner == "halving":
        names = [name for name in STRATEGIES.names() if name != "halving"]
        raise ConfigError(
            f"halving option inner = {inner!r} is not a strategy it can wrap; use one of "
            f"{', '.join(names)} (strategy_options = {{ inner = \"random\" }}).")
    if inner_options is not None and not isinstance(inner_options, Mapping):
        raise ConfigError(f"halving option inner_options = {inner_options!r} must be a table "
                          f"of the {inner!r} strategy's options, e.g. inner_options = {{}}.")
    rungs = rungs_of(space)
    try:
        strategy = make_strategy(inner, rung_zero_space(space, rungs), objectives, seed,
                                 inner_options)
    except ConfigError as err:
        raise ConfigError(f"halving's inner strategy {inner!r}: {err}") from None
    return SuccessiveHalving(strategy, space, objectives, eta)
