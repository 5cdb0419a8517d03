"""The stopping rule: single- and multi-objective decisions against the front, the settings,
the incumbents it is built from, and that it never stops a trial it cannot judge."""

from __future__ import annotations

import logging
import math
import pickle

import numpy as np
import pytest

from nasforge.curves import predict
from nasforge.curves.incumbents import Incumbents
from nasforge.curves.rule import (
    P_IMPROVE,
    StopRule,
    check_mode,
    front_of,
    non_dominated_probability,
)
from nasforge.errors import ConfigError
from nasforge.objectives import Objective, parse_objectives
from nasforge.records import CurvePoint, TrialRecord, TrialState
from nasforge.searchspace.architecture import Architecture

ACC = parse_objectives(["accuracy:max"])
ACC_PARAMS = parse_objectives(["accuracy:max", "params:min"])
EPOCHS = 20


def curve(final: float, seen: int, rate: float = 0.35) -> list[CurvePoint]:
    """A saturating accuracy curve towards `final` (and a falling loss), `seen` epochs."""
    points = []
    for epoch in range(1, seen + 1):
        accuracy = final - (final - 0.1) * math.exp(-rate * epoch)
        points.append(CurvePoint(epoch, {"val_accuracy": accuracy, "val_loss": 2 * (1 - accuracy),
                                         "train_loss": 2 * (1 - accuracy)}))
    return points


def test_a_clearly_worse_trial_stops_and_a_clearly_better_one_goes_on() -> None:
    rule = StopRule(ACC, ((0.95,),))
    bad = rule.watcher(EPOCHS, {}, seed=1)
    assert bad is not None
    verdict = bad(curve(0.6, 8))
    assert verdict is not None
    assert verdict[P_IMPROVE] < 0.05
    assert verdict["predicted_accuracy"] == pytest.approx(0.6, abs=0.05)
    good = StopRule(ACC, ((0.85,),)).watcher(EPOCHS, {}, seed=1)
    assert good is not None and good(curve(0.95, 6)) is None
    probability, predicted = StopRule(ACC, ((0.85,),)).decide(curve(0.95, 6), EPOCHS, {}, 1)
    assert probability > 0.5 and predicted["accuracy"] == pytest.approx(0.95, abs=0.05)


def test_a_trial_already_ahead_of_the_front_goes_on_without_a_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predict, "MODELS", ())  # a fit would find no model
    assert StopRule(ACC, ((0.5,),)).decide(curve(0.9, 8), EPOCHS, {}, 1) == (1.0, {})
    behind = StopRule(ACC, ((0.95,),)).decide(curve(0.9, 8), EPOCHS, {}, 1)
    assert not isinstance(behind, tuple)


def test_loss_objectives_are_extrapolated_downwards() -> None:
    rule = StopRule(parse_objectives(["loss:min"]), ((0.1,),))
    probability, predicted = rule.decide(curve(0.6, 8), EPOCHS, {}, 1)
    assert probability < 0.05 and predicted["loss"] == pytest.approx(0.8, abs=0.1)


def test_no_decision_before_min_epochs_nor_at_the_last_epoch() -> None:
    rule = StopRule(ACC, ((0.99,),), min_epochs=5)
    hook = rule.watcher(EPOCHS, {}, seed=0)
    assert hook is not None
    assert hook(curve(0.3, 4)) is None
    assert hook(curve(0.3, 5)) is not None
    assert hook(curve(0.3, EPOCHS)) is None
    assert rule.watcher(5, {}, seed=0) is None  # could never stop before its end
    assert StopRule(ACC).watcher(EPOCHS, {}, seed=0) is None  # nothing to beat yet


def test_multi_objective_uses_known_costs_and_the_front() -> None:
    front = ((0.95, 10_000.0), (0.80, 1_000.0))
    rule = StopRule(ACC_PARAMS, front)
    # smaller than every front point: never dominated, however poor its accuracy
    tiny, _ = rule.decide(curve(0.3, 8), EPOCHS, {"params": 500.0}, 1)
    assert tiny == 1.0
    # larger than the small front point and worse than it: dominated
    big, _ = rule.decide(curve(0.6, 8), EPOCHS, {"params": 5_000.0}, 1)
    assert big < 0.05
    # as large, but on track to beat 0.8: not dominated by (0.8, 1000)
    fine, _ = rule.decide(curve(0.9, 8), EPOCHS, {"params": 5_000.0}, 1)
    assert fine > 0.9


def test_an_objective_it_cannot_predict_never_stops_a_trial() -> None:
    rule = StopRule(parse_objectives(["accuracy:max", "latency_ms:min"]), ((0.99, 0.1),))
    hook = rule.watcher(EPOCHS, {"params": 10.0}, seed=0)
    assert hook is not None and hook(curve(0.2, 10)) is None


def test_a_curve_that_cannot_be_fitted_trains_on_and_is_logged(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(predict, "MODELS", ())
    hook = StopRule(ACC, ((0.99,),)).watcher(EPOCHS, {}, seed=0)
    assert hook is not None
    with caplog.at_level(logging.INFO, logger="nasforge.curves.rule"):
        assert hook(curve(0.2, 6)) is None
        assert hook(curve(0.2, 7)) is None
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "trains on" in caplog.records[0].getMessage()


def test_a_fit_that_raises_is_logged_and_never_crashes(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr("nasforge.curves.rule.predict_final", explode)
    hook = StopRule(ACC, ((0.99,),)).watcher(EPOCHS, {}, seed=0)
    assert hook is not None
    with caplog.at_level(logging.WARNING, logger="nasforge.curves.rule"):
        assert hook(curve(0.2, 6)) is None
    assert "trains on" in caplog.text


def test_garbage_curves_never_raise() -> None:
    hook = StopRule(ACC, ((0.9,),)).watcher(EPOCHS, {}, seed=0)
    assert hook is not None
    rule = StopRule(ACC, ((0.9,),))
    for values in ([math.nan] * 5, [0.5] * 5, [1e308, -1e308, 0.0, 1.0, 2.0], [0.1, 0.9] * 3):
        points = [CurvePoint(i + 1, {"val_accuracy": v}) for i, v in enumerate(values)]
        hook(points)
        decision = rule.decide(points, EPOCHS, {}, seed=0)  # the hook swallows; this may not
        assert isinstance(decision, predict.NoPrediction) or 0.0 <= decision[0] <= 1.0
    assert hook([CurvePoint(i, {"val_loss": 1.0}) for i in range(1, 6)]) is None  # no key


def test_decisions_are_deterministic_and_the_rule_pickles() -> None:
    rule = StopRule(ACC_PARAMS, ((0.9, 100.0),), threshold=0.2, min_epochs=3)
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule
    points = curve(0.85, 6)
    assert rule.decide(points, EPOCHS, {"params": 200.0}, 3) == again.decide(
        points, EPOCHS, {"params": 200.0}, 3)


@pytest.mark.parametrize(("threshold", "min_epochs", "key"), [
    (0.0, 4, "early_stop_threshold"), (1.0, 4, "early_stop_threshold"),
    (True, 4, "early_stop_threshold"), ("0.1", 4, "early_stop_threshold"),
    (0.05, 2, "early_stop_min_epochs"), (0.05, 4.5, "early_stop_min_epochs"),
])
def test_bad_settings_name_the_key(threshold: object, min_epochs: object, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        StopRule(ACC, threshold=threshold, min_epochs=min_epochs)  # type: ignore[arg-type]


def test_an_unknown_mode_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r'early_stop = .*"none", "curve"'):
        check_mode("curves")


def test_non_domination_and_front() -> None:
    front = np.array([[1.0, 0.0], [0.0, 1.0]])
    points = np.array([[0.5, 0.5], [-1.0, -1.0], [1.0, 0.0], [2.0, -5.0]])
    assert non_dominated_probability(points, front) == 0.75  # a tie is not domination
    objectives = (Objective("a"), Objective("b", "min"))
    assert front_of([(1.0, 1.0), (0.5, 2.0), (1.0, 1.0), (2.0, 3.0)], objectives) == (
        (1.0, 1.0), (2.0, 3.0))


def record(number: int, state: TrialState, accuracy: float) -> TrialRecord:
    return TrialRecord("s", number, Architecture({"x": number}), state,
                       {"accuracy": accuracy} if state is not TrialState.FAILED else {})


def test_incumbents_take_only_complete_trials() -> None:
    incumbents = Incumbents(ACC, threshold=0.1, min_epochs=3)
    incumbents.note([record(0, TrialState.COMPLETE, 0.8), record(1, TrialState.PRUNED, 0.99),
                     record(2, TrialState.FAILED, math.nan),
                     record(3, TrialState.COMPLETE, math.nan)])
    assert incumbents.front == ((0.8,),)
    incumbents.note([record(4, TrialState.COMPLETE, 0.9)])
    rule = incumbents.rule()
    assert rule.front == ((0.9,),) and rule.threshold == 0.1 and rule.min_epochs == 3


def test_the_curve_modules_import_neither_torch_nor_the_store() -> None:
    import subprocess
    import sys

    code = ("import sys, nasforge.curves.rule, nasforge.curves.incumbents; "
            "print(sorted(m for m in ('torch', 'sqlalchemy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_objectives_known_only_after_training_are_named() -> None:
    rule = StopRule(parse_objectives(["accuracy:max", "latency_ms:min", "macs:min"]),
                    ((0.9, 1.0, 10.0),))
    assert rule.blind_to() == ["latency_ms"]
    assert StopRule(ACC_PARAMS, ((0.9, 100.0),)).blind_to() == []


def test_two_learned_objectives_with_unequal_sample_counts_still_decide(monkeypatch) -> None:
    real, calls = predict.predict_final, []

    def fewer(*args, **kwargs):  # the first objective loses 3 samples, the second none
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) % 2 and isinstance(out, predict.Prediction):
            return predict.Prediction(out.samples[:-3], out.models)
        return out

    monkeypatch.setattr("nasforge.curves.rule.predict_final", fewer, raising=False)
    rule = StopRule(parse_objectives(["accuracy:max", "loss:min"]), ((0.99, 0.01),))
    decision = rule.decide(curve(0.5, 8), EPOCHS, {}, seed=0)
    assert not isinstance(decision, predict.NoPrediction) and 0.0 <= decision[0] <= 1.0
    assert len(calls) >= 2


@pytest.mark.parametrize("names", [["accuracy:max"], ["accuracy:max", "params:min"],
                                   ["accuracy:max", "params:min", "macs:min"]])
def test_the_front_is_every_point_no_other_dominates(names: list[str]) -> None:
    objectives = parse_objectives(names)
    rng = np.random.default_rng(0)
    signs = np.array([o.sign() for o in objectives])
    for _ in range(100):
        points = [tuple(float(v) for v in rng.integers(0, 5, len(objectives)))
                  for _ in range(int(rng.integers(1, 30)))]
        unique = sorted(set(points))
        signed = np.array(unique, dtype=np.float64) * signs
        expected = tuple(p for p, row in zip(unique, signed, strict=True)
                         if non_dominated_probability(row[None, :], signed) == 1.0)
        assert front_of(points, objectives) == expected
