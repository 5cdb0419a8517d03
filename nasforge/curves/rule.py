"""Learning-curve early stopping: stop a trial that will probably not improve the search.

After each epoch (from `min_epochs` on, never at the last) a trial's curve is extrapolated to
its final epoch (`curves.predict.predict_final`, after Domhan et al., IJCAI 2015) and the
trial is stopped when the probability that its final point is not dominated by the search's
current front is below `threshold`. With one objective that is the probability of matching
or beating the incumbent (the best COMPLETE value). The point's coordinates are, per
objective: the extrapolated curve for a learned metric (`LEARNED`: accuracy, loss,
train_loss), the known value for a cost that training does not change (params, macs, bops,
size_bits: from the plan, before training), and otherwise (latency, test metrics) the best
possible value, so an objective that cannot be predicted never stops a trial wrongly.

`StopRule` is a frozen value (objectives, the front, the settings) that pickles, so it goes
with each batch to worker processes (`Evaluator.evaluate(archs, stop=rule)`); `watcher`
makes the per-trial callable the epoch loops call. Its decision depends only on the trial's
own curve, its known costs, the rule and the trial's seed: the same wherever it trains.
Torch-free.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nasforge.best import non_dominated
from nasforge.curves.calibration import Calibration
from nasforge.curves.predict import NoPrediction, Prediction, predict_final
from nasforge.errors import ConfigError
from nasforge.metrics import BOPS, LARGER_IS_BETTER, MACS, PARAMS, SIZE_BITS, TRAIN_LOSS
from nasforge.metrics import CURVE_KEYS as OBJECTIVE_CURVE_KEYS
from nasforge.objectives import Objective
from nasforge.records import CurvePoint

if TYPE_CHECKING:
    from nasforge.searchspace.plan import NetworkPlan

logger = logging.getLogger(__name__)

#: `[training] early_stop` values: "none" trains every trial to the end, "curve" stops by
#: learning-curve extrapolation.
EARLY_STOP_MODES = ("none", "curve")
DEFAULT_THRESHOLD = 0.05
DEFAULT_MIN_EPOCHS = 4
DEFAULT_SAMPLES = 1000

#: Objective metric -> the curve key extrapolated for it.
LEARNED: Mapping[str, str] = {**OBJECTIVE_CURVE_KEYS, TRAIN_LOSS: TRAIN_LOSS}
#: Metrics known before training (from the plan) and unchanged by it.
KNOWN_BEFORE_TRAINING = (PARAMS, MACS, BOPS, SIZE_BITS)
#: Metrics stored with a stopped trial besides `predicted_<objective>`.
P_IMPROVE = "p_improve"
PREDICTED_PREFIX = "predicted_"

#: Called after each epoch with the curve so far; returns the metrics to store when the
#: trial should stop (PRUNED), else None.
EpochHook = Callable[[Sequence[CurvePoint]], "Mapping[str, float] | None"]


@dataclass(frozen=True, slots=True)
class StopRule:
    """The rule and what it compares with: `front` holds the objective values (in
    `objectives` order, raw) of the non-dominated COMPLETE trials; empty: nothing to beat
    yet, so no trial stops."""

    objectives: tuple[Objective, ...]
    front: tuple[tuple[float, ...], ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    min_epochs: int = DEFAULT_MIN_EPOCHS
    samples: int = DEFAULT_SAMPLES
    calibration: Calibration = Calibration()

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "front", tuple(tuple(float(v) for v in p) for p in self.front))
        check_settings(self.threshold, self.min_epochs)
        if any(len(p) != len(self.objectives) for p in self.front):
            raise ValueError("every front point needs one value per objective")

    @classmethod
    def of(cls, objectives: Sequence[Objective], complete: Sequence[Mapping[str, float]], *,
           threshold: float = DEFAULT_THRESHOLD, min_epochs: int = DEFAULT_MIN_EPOCHS
           ) -> StopRule:
        """The rule against the front of `complete` (the metrics of COMPLETE trials; those
        lacking a finite objective value are left out)."""
        points = [tuple(float(m[o.metric]) for o in objectives) for m in complete
                  if all(math.isfinite(m.get(o.metric, math.nan)) for o in objectives)]
        return cls(tuple(objectives), front_of(points, objectives), threshold, min_epochs)

    def watcher(self, epochs: int, known: Mapping[str, float], seed: int) -> EpochHook | None:
        """The epoch hook for one trial of `epochs` epochs with `known` costs, or None when
        it could never stop (nothing to beat yet, or fewer epochs than `min_epochs`)."""
        if not self.front or epochs <= self.min_epochs:
            return None
        return _Watcher(self, epochs, dict(known), seed)

    def plan_watcher(self, epochs: int, plan: NetworkPlan, seed: int) -> EpochHook | None:
        """`watcher` for a candidate of `plan` (a `searchspace.plan.NetworkPlan`): its costs
        known from the plan, its own seed, so it decides alike fused or alone, anywhere."""
        known = {MACS: float(plan.macs), BOPS: float(plan.bops)}
        if plan.params is not None:
            known[PARAMS] = float(plan.params)
            known[SIZE_BITS] = float(plan.size_bits_for(plan.params))
        return self.watcher(epochs, known, seed)

    def decide(self, curve: Sequence[CurvePoint], epochs: int, known: Mapping[str, float],
               seed: int) -> tuple[float, dict[str, float]] | NoPrediction:
        """(probability that the final point is non-dominated by the front, the predicted
        final value of each learned objective: none when the trial already leads, see
        `_leads`), or why there is no decision.

        The probability is the parametric extrapolation's; when that is below the threshold
        and the search has finished enough trials of `epochs` epochs, it is the larger of it
        and the fraction of their gains (`curves.calibration`) that would lift this trial
        onto the front: a trial is stopped only when both say it will not get there."""
        if self._leads(curve, known):
            return 1.0, {}
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, len(curve)])
        columns, predicted = [], {}
        for objective in self.objectives:
            key = LEARNED.get(objective.metric)
            if key is not None:
                prediction = _predict(curve, key, epochs, rng, self.samples)
                if isinstance(prediction, NoPrediction):
                    return NoPrediction(f"{key}: {prediction.reason}")
                predicted[objective.metric] = prediction.mean
                columns.append(objective.sign() * prediction.samples[: self.samples])
            elif objective.metric in known and math.isfinite(known[objective.metric]):
                columns.append(np.array([objective.sign() * known[objective.metric]]))
            else:
                columns.append(np.array([math.inf]))  # cannot be predicted: the best case
        # predictions may have lost a few non-finite samples each: align on the fewest
        size = min((len(c) for c in columns if len(c) > 1), default=1)
        points = np.stack([np.resize(c, size) if len(c) == 1 else c[:size] for c in columns],
                          axis=1)  # (S, d), larger is better
        probability = non_dominated_probability(points, self._signed_front())
        if probability < self.threshold:
            probability = max(probability, self._empirical(curve, epochs, known))
        return probability, predicted

    def _empirical(self, curve: Sequence[CurvePoint], epochs: int,
                   known: Mapping[str, float]) -> float:
        """The fraction of the finished trials' gains after this epoch that would bring the
        trial onto the front (0 with too few finished trials: no say)."""
        last = curve[-1].metrics
        ratios = self.calibration.at(epochs, curve[-1].epoch, last)
        if ratios is None:
            return 0.0
        columns = []
        for objective in self.objectives:
            key = LEARNED.get(objective.metric)
            if key is not None and key in self.calibration.keys and key in last:
                columns.append(objective.sign() * self.calibration.finals(key, last[key], ratios))
            elif key is None and math.isfinite(known.get(objective.metric, math.nan)):
                columns.append(np.full(len(ratios), objective.sign() * known[objective.metric]))
            elif key is None:
                columns.append(np.full(len(ratios), math.inf))
            else:
                return 0.0  # a learned objective without gains: no say
        return non_dominated_probability(np.stack(columns, axis=1), self._signed_front())

    def blind_to(self) -> list[str]:
        """The objectives neither a curve nor the plan gives before training ends (latency,
        test metrics, proxies, ...): with any of them the rule can never stop a trial."""
        return [o.metric for o in self.objectives
                if o.metric not in LEARNED and o.metric not in KNOWN_BEFORE_TRAINING]

    def _leads(self, curve: Sequence[CurvePoint], known: Mapping[str, float]) -> bool:
        """Whether the trial's point as it stands now (its last epoch's values) is already
        non-dominated: then it goes on without a fit (a trial worth finishing is never
        stopped, and a fit costs milliseconds). Values it lacks count as the best case."""
        last = curve[-1].metrics if curve else {}
        now = []
        for objective in self.objectives:
            key = LEARNED.get(objective.metric)
            value = last.get(key, math.nan) if key is not None else known.get(
                objective.metric, math.nan)
            now.append(objective.sign() * value if math.isfinite(value) else math.inf)
        return non_dominated_probability(np.array([now]), self._signed_front()) == 1.0

    def _signed_front(self) -> np.ndarray:
        signs = np.array([o.sign() for o in self.objectives])
        return np.array(self.front, dtype=np.float64).reshape(-1, len(self.objectives)) * signs


class _Watcher:
    """One trial's epoch hook; logs the first reason it cannot decide (then stays quiet)."""

    def __init__(self, rule: StopRule, epochs: int, known: dict[str, float], seed: int) -> None:
        self.rule, self.epochs, self.known, self.seed = rule, epochs, known, seed
        self.warned = False

    def __call__(self, curve: Sequence[CurvePoint]) -> dict[str, float] | None:
        if len(curve) < self.rule.min_epochs or len(curve) >= self.epochs:
            return None
        try:
            decision = self.rule.decide(curve, self.epochs, self.known, self.seed)
        except Exception:  # a broken fit must never end the trial: it trains on
            logger.warning("learning-curve prediction failed after epoch %d; the trial "
                           "trains on", len(curve), exc_info=True)
            return None
        if isinstance(decision, NoPrediction):
            if not self.warned:
                self.warned = True
                logger.info("no learning-curve decision after epoch %d (%s); the trial trains "
                            "on", len(curve), decision.reason)
            return None
        probability, predicted = decision
        logger.debug("epoch %d: P(improves the front) = %.4f", len(curve), probability)
        if probability >= self.rule.threshold:
            return None
        out = {PREDICTED_PREFIX + metric: value for metric, value in predicted.items()}
        out[P_IMPROVE] = probability
        return out


def _predict(curve: Sequence[CurvePoint], key: str, epochs: int, rng: np.random.Generator,
             samples: int) -> Prediction | NoPrediction:
    points = [(p.epoch, p.metrics[key]) for p in curve if key in p.metrics]
    if not points:
        return NoPrediction(f"the curve has no {key!r}")
    bounds = (0.0, 1.0) if "accuracy" in key else (0.0, math.inf)
    return predict_final([e for e, _ in points], [v for _, v in points], epochs,
                         increasing=key in LARGER_IS_BETTER, rng=rng, samples=samples,
                         bounds=bounds)


def non_dominated_probability(points: np.ndarray, front: np.ndarray) -> float:
    """The fraction of `points` (S, d) that no row of `front` (m, d) dominates (larger is
    better in every column; a tie is not domination)."""
    if len(front) == 0:
        return 1.0
    at_least = np.all(front[None, :, :] >= points[:, None, :], axis=2)  # (S, m)
    better = np.any(front[None, :, :] > points[:, None, :], axis=2)
    return float(1.0 - np.mean(np.any(at_least & better, axis=1)))


def front_of(points: Sequence[tuple[float, ...]], objectives: Sequence[Objective]
             ) -> tuple[tuple[float, ...], ...]:
    """The non-dominated `points` (raw values), duplicates once, in a stable order:
    `best.non_dominated` (O(n log n) for two objectives), as the first read after a resume
    may hold every finished trial of a large search."""
    unique = sorted(set(points))
    columns = [[o.sign() * p[j] for p in unique] for j, o in enumerate(objectives)]
    return tuple(unique[i] for i in non_dominated(columns))


def check_settings(threshold: object, min_epochs: object) -> tuple[float, int]:
    """(threshold, min_epochs) as float and int; ConfigError naming the `[training]` key
    when a setting is out of range."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold < 1:
        raise ConfigError(f"[training] early_stop_threshold = {threshold!r}; use a probability "
                          f"strictly between 0 and 1 (default {DEFAULT_THRESHOLD}: stop a trial "
                          "with under a 5% chance of improving the front).")
    if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 3:
        raise ConfigError(f"[training] early_stop_min_epochs = {min_epochs!r}; use a whole "
                          f"number of at least 3 (default {DEFAULT_MIN_EPOCHS}): a curve needs "
                          "three points before it can be extrapolated.")
    return float(threshold), min_epochs


def check_mode(mode: object) -> str:
    if mode not in EARLY_STOP_MODES:
        allowed = ", ".join(f'"{m}"' for m in EARLY_STOP_MODES)
        raise ConfigError(f"[training] early_stop = {mode!r}; use one of {allowed} "
                          '("curve": stop trials whose extrapolated learning curve will '
                          "probably not improve the search).")
    return str(mode)
