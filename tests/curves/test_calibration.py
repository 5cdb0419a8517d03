"""The search's own gains after each epoch (`curves.calibration`) and how the stopping rule
uses them: a trial that looks finished to the parametric fits but would still reach the front
by what finished trials gained (a cosine schedule's late rise) trains on."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from nasforge.curves.calibration import MIN_TRIALS, Calibration, Gains
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


def test_ratios_are_the_final_gap_over_the_gap_after_each_epoch() -> None:
    points = plateau_then_rise(0.90, 0.96)
    calibration = gains_of([finished(i, points) for i in range(MIN_TRIALS)]).snapshot()
    ratios = calibration.at(EPOCHS, 4)
    assert ratios is not None and ratios.shape == (MIN_TRIALS, 1)
    gap_final = 1 - points[-1].metrics["val_accuracy"]
    assert ratios[0, 0] == pytest.approx(gap_final / (1 - points[3].metrics["val_accuracy"]))
    # epochs before min_epochs and the final epoch itself carry no ratio
    assert calibration.at(EPOCHS, 3) is None and calibration.at(EPOCHS, EPOCHS) is None
    assert calibration.at(EPOCHS + 1, 4) is None  # another number of epochs: its own gains
    finals = calibration.finals("val_accuracy", 0.80, ratios)
    assert finals[0] == pytest.approx(1 - 0.2 * ratios[0, 0])


def test_only_whole_finished_curves_count_once_each_and_few_trials_have_no_say() -> None:
    points = plateau_then_rise(0.90, 0.96)
    records = [finished(i, points) for i in range(MIN_TRIALS - 1)]
    gapped = finished(50, points[:5] + points[6:])
    short = finished(51, points[:8])  # stopped early: not what the end looks like
    pruned = TrialRecord("s", 52, Architecture({"x": 52}), TrialState.PRUNED, {},
                         curve=tuple(points))
    nan = finished(53, [CurvePoint(p.epoch, {"val_accuracy": math.nan}) for p in points])
    gains = gains_of([*records, records[0], gapped, short, pruned, nan])
    assert gains.snapshot().at(EPOCHS, 4) is None  # MIN_TRIALS - 1 usable trials
    gains.note([records[1], finished(60, points)])  # a trial told again counts once
    ratios = gains.snapshot().at(EPOCHS, 4)
    assert ratios is not None and len(ratios) == MIN_TRIALS
    windowed = Gains(["val_accuracy"], 4, window=3)
    windowed.note([finished(i, points) for i in range(10)])
    assert len(windowed._ratios[(EPOCHS, 4)]) == 3


def test_a_flat_looking_trial_trains_on_when_finished_trials_rose_late() -> None:
    rising = [finished(i, plateau_then_rise(0.90, 0.97 + 0.001 * i)) for i in range(10)]
    flat = [finished(i, plateau_then_rise(0.90, 0.9008)) for i in range(10)]
    trial = plateau_then_rise(0.92, 0.99)[:6]  # looks finished at 0.92 after 6 epochs
    front = ((0.965,),)
    without = StopRule(ACC, front).watcher(EPOCHS, {}, seed=3)
    assert without is not None and without(trial) is not None  # the fits alone stop it
    rose = StopRule(ACC, front, calibration=gains_of(rising).snapshot())
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
    assert rule.calibration.at(EPOCHS, 4) is not None
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule
    np.testing.assert_array_equal(again.calibration.at(EPOCHS, 5), rule.calibration.at(EPOCHS, 5))
    assert Incumbents(parse_objectives(["params:min"])).rule().calibration == Calibration()
