"""The search's own gains after each epoch (`curves.calibration`) and how the stopping rule
uses them: a trial that looks finished to the parametric fits but would still reach the front
by what finished trials gained (a cosine schedule's late rise) trains on."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from nasforge.curves.calibration import (
    MIN_TRIALS,
    SMOOTHING,
    Calibration,
    Gains,
    latest_per_epochs,
)
from nasforge.curves.incumbents import Incumbents
from nasforge.curves.rule import StopRule
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture

ACC = parse_objectives(["accuracy:max"])
ACC_PARAMS = parse_objectives(["accuracy:max", "params:min"])
EPOCHS = 12


def plateau_then_rise(plateau: float, final: float, epochs: int = EPOCHS) -> list[CurvePoint]:
    """Flat at `plateau` from epoch 3 until two thirds of the way, then up to `final` (the
    late rise of an annealed learning rate), with val_loss = 1 - accuracy."""
    points = []
    for epoch in range(1, epochs + 1):
        if epoch <= 2:
            accuracy = plateau - 0.2 / epoch
        elif epoch <= 2 * epochs // 3:
            accuracy = plateau + 1e-4 * epoch
        else:
            done = (epoch - 2 * epochs // 3) / (epochs - 2 * epochs // 3)
            accuracy = plateau + (final - plateau) * done
        points.append(CurvePoint(epoch, {"val_accuracy": accuracy, "val_loss": 1 - accuracy}))
    return points


def finished(number: int, points: list[CurvePoint]) -> TrialRecord:
    return TrialRecord("s", number, Architecture({"x": number}), TrialState.COMPLETE,
                       {"accuracy": points[-1].metrics["val_accuracy"], "params": 5.0},
                       curve=tuple(points))


def gains_of(records: list[TrialRecord], min_epochs: int = 4) -> Gains:
    gains = Gains(["val_accuracy"], min_epochs)
    gains.note(records)
    return gains


def now(accuracy: float) -> dict[str, float]:
    return {"val_accuracy": accuracy}


def test_ratios_are_the_final_gap_over_the_gap_after_each_epoch() -> None:
    points = plateau_then_rise(0.90, 0.96)
    calibration = gains_of([finished(i, points) for i in range(MIN_TRIALS)]).snapshot()
    then = points[3].metrics["val_accuracy"]
    ratios = calibration.at(EPOCHS, 4, now(then))
    assert ratios is not None and ratios.shape == (MIN_TRIALS, 1)
    gap_final = 1 - points[-1].metrics["val_accuracy"]
    assert ratios[0, 0] == pytest.approx((gap_final + SMOOTHING) / (1 - then + SMOOTHING))
    # epochs before min_epochs and the final epoch itself carry no ratio
    assert calibration.at(EPOCHS, 3, now(then)) is None
    assert calibration.at(EPOCHS, EPOCHS, now(then)) is None
    assert calibration.at(EPOCHS + 1, 4, now(then)) is None  # other epochs: their own gains
    finals = calibration.finals("val_accuracy", 1 - (1 - then) * 1.5, ratios)
    assert finals[0] == pytest.approx(1 - ((1 - then) * 1.5 + SMOOTHING) * ratios[0, 0]
                                      + SMOOTHING)
    # only trials that were where this one is (gap within a factor of 2) speak for it
    assert calibration.at(EPOCHS, 4, now(1 - (1 - then) * 1.9)) is not None
    assert calibration.at(EPOCHS, 4, now(1 - (1 - then) * 2.5)) is None
    assert calibration.at(EPOCHS, 4, now(1 - (1 - then) / 2.5)) is None
    assert calibration.at(EPOCHS, 4, {}) is None


def test_a_trial_that_ended_at_the_bound_does_not_promise_it_to_a_trial_at_chance() -> None:
    perfect = plateau_then_rise(0.95, 1.0)
    good = [finished(i, plateau_then_rise(0.95, 0.96)) for i in range(1, 20)]
    rule = StopRule(ACC, ((1.0,),), calibration=gains_of([finished(0, perfect), *good]
                                                        ).snapshot())
    at_chance = [CurvePoint(e, {"val_accuracy": 0.10, "val_loss": 2.3}) for e in range(1, 5)]
    probability, _ = rule.decide(at_chance, EPOCHS, {}, seed=0)
    assert probability < 0.05  # no finished trial was at chance: the fits decide alone
    # a trial a little behind where the perfect one was: its ratio, smoothed, no longer
    # carries it all the way to 1.0 (unsmoothed, the ratio 0 would, for every trial)
    near = plateau_then_rise(0.925, 0.96)[:4]
    assert rule.calibration.at(EPOCHS, 4, near[-1].metrics) is not None
    assert rule._empirical(near, EPOCHS, {}) == 0.0


def test_only_whole_finished_curves_count_once_each_and_few_trials_have_no_say() -> None:
    points = plateau_then_rise(0.90, 0.96)
    records = [finished(i, points) for i in range(MIN_TRIALS - 1)]
    gapped = finished(50, points[:5] + points[6:])
    short = finished(51, points[:8])  # stopped early: not what the end looks like
    pruned = TrialRecord("s", 52, Architecture({"x": 52}), TrialState.PRUNED, {},
                         curve=tuple(points))
    nan = finished(53, [CurvePoint(p.epoch, {"val_accuracy": math.nan}) for p in points])
    gains = gains_of([*records, records[0], gapped, short, pruned, nan])
    level = now(points[3].metrics["val_accuracy"])
    assert gains.snapshot().at(EPOCHS, 4, level) is None  # MIN_TRIALS - 1 usable trials
    gains.note([records[1], finished(60, points)])  # a trial told again counts once
    ratios = gains.snapshot().at(EPOCHS, 4, level)
    assert ratios is not None and len(ratios) == MIN_TRIALS


def test_the_window_keeps_the_highest_numbers_whatever_the_order_and_a_resume_reads_them(
        ) -> None:
    trials = [finished(i, plateau_then_rise(0.90, 0.96 + 0.001 * i)) for i in range(10)]
    shuffled = [trials[i] for i in (9, 0, 4, 7, 1, 8, 2, 6, 3, 5)]
    live, other = Gains(["val_accuracy"], 4, window=3), Gains(["val_accuracy"], 4, window=3)
    live.note(trials)
    other.note(shuffled)  # another worker, or the order trials finished in
    assert live.snapshot() == other.snapshot()
    assert sorted(live._ratios[(EPOCHS, 4)]) == [7, 8, 9]
    mixed = [TrialRecord("s", t.number, t.arch, t.state,
                         {**t.metrics, "epochs": EPOCHS if t.number % 2 else 20})
             for t in trials]
    assert latest_per_epochs(mixed, 3) == [4, 5, 6, 7, 8, 9]


def test_a_flat_looking_trial_trains_on_when_finished_trials_rose_late() -> None:
    rising = [finished(i, plateau_then_rise(0.90, 0.97 + 0.001 * i)) for i in range(10)]
    flat = [finished(i, plateau_then_rise(0.90, 0.9008)) for i in range(10)]
    trial = plateau_then_rise(0.92, 0.99)[:6]  # looks finished at 0.92 after 6 epochs
    front = ((0.965,),)
    without = StopRule(ACC, front).watcher(EPOCHS, {}, seed=3)
    assert without is not None and without(trial) is not None  # the fits alone stop it
    rose = StopRule(ACC, front, calibration=gains_of(rising).snapshot())
    assert rose.calibration.at(EPOCHS, 6, trial[-1].metrics) is not None
    hook = rose.watcher(EPOCHS, {}, seed=3)
    assert hook is not None and hook(trial) is None
    probability, _ = rose.decide(trial, EPOCHS, {}, 3)
    assert probability == 1.0  # every finished trial's gain brings it past 0.965
    stayed = StopRule(ACC, front, calibration=gains_of(flat).snapshot())
    verdict = stayed.watcher(EPOCHS, {}, seed=3)(trial)  # type: ignore[misc]  # not None
    assert verdict is not None and verdict["p_improve"] < 0.05


def test_costs_known_before_training_join_the_empirical_point() -> None:
    rising = [finished(i, plateau_then_rise(0.90, 0.975)) for i in range(10)]
    trial = plateau_then_rise(0.92, 0.99)[:6]
    # the front has a point more accurate than the trial can get AND smaller: dominated
    rule = StopRule(ACC_PARAMS, ((0.999, 1.0),), calibration=gains_of(rising).snapshot())
    assert rule.watcher(EPOCHS, {"params": 5.0}, seed=0)(trial) is not None  # type: ignore[misc]
    # smaller than everything on the front: never dominated, whatever its accuracy
    assert rule.watcher(EPOCHS, {"params": 0.5}, seed=0)(trial) is None  # type: ignore[misc]


def test_the_rule_with_its_gains_pickles_and_incumbents_feed_them() -> None:
    incumbents = Incumbents(ACC)
    incumbents.note([finished(i, plateau_then_rise(0.90, 0.97)) for i in range(MIN_TRIALS)])
    rule = incumbents.rule()
    level = plateau_then_rise(0.90, 0.97)[4].metrics
    assert rule.calibration.at(EPOCHS, 5, level) is not None
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule
    np.testing.assert_array_equal(again.calibration.at(EPOCHS, 5, level),
                                  rule.calibration.at(EPOCHS, 5, level))
    assert Incumbents(parse_objectives(["params:min"])).rule().calibration == Calibration()
