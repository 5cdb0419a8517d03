"""The learning-curve predictor: it recovers known parametric curves, is deterministic under
a seed, and never raises on bad curves (a fit that fails drops out; all fail: no prediction)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.curves import predict
from nasforge.curves.models import MODELS, CurveModel
from nasforge.curves.predict import NoPrediction, Prediction, predict_final

EPOCHS = 30


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def noisy(values: np.ndarray, sigma: float = 0.002, seed: int = 1) -> np.ndarray:
    return values + sigma * np.random.default_rng(seed).standard_normal(len(values))


TRUE_CURVES = {
    "pow3": lambda e: 0.95 - 0.6 * e ** -0.8,
    "exp3": lambda e: 0.9 - 0.7 * np.exp(-0.25 * e),
    "mmf": lambda e: 0.92 - 0.82 / (1 + (e / 3.0) ** 1.5),
    "janoschek": lambda e: 0.88 - 0.78 * np.exp(-0.1 * e ** 1.2),
}


@pytest.mark.parametrize("name", sorted(TRUE_CURVES))
def test_recovers_known_parametric_curves(name: str) -> None:
    epochs = np.arange(1, EPOCHS + 1)
    truth = TRUE_CURVES[name](epochs.astype(float))
    seen = 18
    prediction = predict_final(epochs[:seen], noisy(truth[:seen]), EPOCHS, increasing=True,
                               rng=rng(), bounds=(0.0, 1.0))
    assert isinstance(prediction, Prediction)
    assert prediction.mean == pytest.approx(truth[-1], abs=0.03)
    low, high = np.quantile(prediction.samples, [0.01, 0.99])
    assert low <= truth[-1] <= high
    assert set(prediction.models) >= {"pow3", "exp3"}


def test_a_decreasing_loss_is_predicted_as_falling() -> None:
    epochs = np.arange(1, EPOCHS + 1)
    loss = 0.2 + 2.0 * epochs.astype(float) ** -0.7
    prediction = predict_final(epochs[:10], noisy(loss[:10]), EPOCHS, increasing=False,
                               rng=rng(), bounds=(0.0, math.inf))
    assert isinstance(prediction, Prediction)
    assert prediction.mean == pytest.approx(loss[-1], abs=0.08)
    assert prediction.mean < loss[9]
    assert np.all(prediction.samples >= 0.0)


def test_samples_are_deterministic_under_a_seed() -> None:
    values = 0.9 - 0.7 * np.exp(-0.3 * np.arange(1, 7))
    a = predict_final(range(1, 7), values, 20, increasing=True, rng=rng(5))
    b = predict_final(range(1, 7), values, 20, increasing=True, rng=rng(5))
    c = predict_final(range(1, 7), values, 20, increasing=True, rng=rng(6))
    assert isinstance(a, Prediction) and isinstance(b, Prediction) and isinstance(c, Prediction)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


@pytest.mark.parametrize("values", [
    [math.nan, 0.2, 0.3, 0.4],
    [0.1, math.inf, 0.3, 0.4],
    [0.1, 0.2],
    [],
    [0.1, 0.1, 0.1, 0.1, 0.1],
    [1e300, -1e300, 1e300, 0.0, 5.0],
    [0.5, 0.2, 0.9, 0.1, 0.7, 0.3],
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
])
def test_bad_curves_never_raise(values: list[float]) -> None:
    out = predict_final(range(1, len(values) + 1), values, 20, increasing=True, rng=rng(),
                        bounds=(0.0, 1.0))
    if isinstance(out, Prediction):
        assert np.all(np.isfinite(out.samples)) and len(out.samples)
        assert np.all((out.samples >= 0.0) & (out.samples <= 1.0))
    else:
        assert isinstance(out, NoPrediction) and out.reason


def test_a_flat_curve_predicts_no_improvement() -> None:
    out = predict_final(range(1, 6), [0.1] * 5, 20, increasing=True, rng=rng(), bounds=(0, 1))
    assert isinstance(out, Prediction) and out.mean == pytest.approx(0.1, abs=0.01)


def test_epochs_beyond_the_final_epoch_give_no_prediction() -> None:
    out = predict_final([1, 2, 3, 25], [0.1, 0.2, 0.3, 0.4], 20, increasing=True, rng=rng())
    assert isinstance(out, NoPrediction) and "final epoch" in out.reason


def test_a_failing_family_drops_out_and_all_failing_gives_no_prediction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(t: np.ndarray, theta: np.ndarray) -> np.ndarray:
        raise FloatingPointError("boom")

    def nan_curve(t: np.ndarray, theta: np.ndarray) -> np.ndarray:
        return np.full(np.broadcast(t, theta[0]).shape, np.nan)

    bad = [CurveModel("broken", 2, broken, lambda t0: np.zeros(2)),
           CurveModel("nan", 2, nan_curve, lambda t0: np.zeros(2))]
    values = 0.9 - 0.7 * np.exp(-0.3 * np.arange(1, 9))
    monkeypatch.setattr(predict, "MODELS", (*bad, MODELS[0]))
    some = predict_final(range(1, 9), values, 20, increasing=True, rng=rng())
    assert isinstance(some, Prediction) and some.models == ("pow3",)
    monkeypatch.setattr(predict, "MODELS", tuple(bad))
    none = predict_final(range(1, 9), values, 20, increasing=True, rng=rng())
    assert isinstance(none, NoPrediction) and "no curve model" in none.reason
