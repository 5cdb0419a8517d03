"""Parametric learning-curve families (after Domhan, Springenberg and Hutter, "Speeding up
Automatic Hyperparameter Optimization of Deep Neural Networks by Extrapolation of Learning
Curves", IJCAI 2015), each an increasing, saturating function of the training progress.

Every family is written over `t` = epoch / final epoch (so the prediction target is t = 1)
and over unconstrained parameters `theta` (positive quantities as logarithms), so a plain
least-squares fit and a Gaussian (Laplace) approximation of its parameters both make sense.
`curve(t, theta)` broadcasts: `t` (n,) with `theta` (k,) gives (n,); `t` a scalar with
`theta` (k, S) gives (S,) -- one value per parameter sample. The fitted values are the
curve normalised by `predict.normalise` (starting near 0, rising to about 1), which is what
`initial` guesses for. Torch-free, numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Curve = Callable[[np.ndarray, np.ndarray], np.ndarray]
_ILOG_SCALE = 10.0 * np.e  # ilog2 over raw epochs (log x) when t counts tenths of the run


@dataclass(frozen=True, slots=True)
class CurveModel:
    """One family: its name, parameter count, curve and a starting point for the fit
    (from the first observed t)."""

    name: str
    size: int
    curve: Curve
    initial: Callable[[float], np.ndarray]


def _pow3(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    c, a, alpha = th[0], np.exp(th[1]), np.exp(th[2])
    return c - a * t ** (-alpha)


def _exp3(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    c, a, b = th[0], np.exp(th[1]), np.exp(th[2])
    return c - a * np.exp(-b * t)


def _janoschek(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    alpha, beta, kappa, delta = th[0], th[1], np.exp(th[2]), np.exp(th[3])
    return alpha - (alpha - beta) * np.exp(-kappa * t**delta)


def _mmf(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    alpha, beta, kappa, delta = th[0], th[1], np.exp(th[2]), np.exp(th[3])
    return alpha - (alpha - beta) / (1.0 + (kappa * t) ** delta)


def _ilog2(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    c, a = th[0], np.exp(th[1])
    return c - a / np.log1p(_ILOG_SCALE * t)


def _log_power(t: np.ndarray, th: np.ndarray) -> np.ndarray:
    a, b, c = th[0], th[1], np.exp(th[2])
    return a / (1.0 + (t / np.exp(b)) ** (-c))


MODELS: tuple[CurveModel, ...] = (
    CurveModel("pow3", 3, _pow3,
               lambda t0: np.array([1.2, np.log(1.2) + 0.5 * np.log(t0), np.log(0.5)])),
    CurveModel("exp3", 3, _exp3,
               lambda t0: np.array([1.1, np.log(1.1) + 3.0 * t0, np.log(3.0)])),
    CurveModel("janoschek", 4, _janoschek,
               lambda t0: np.array([1.1, -0.1, np.log(3.0), 0.0])),
    CurveModel("mmf", 4, _mmf,
               lambda t0: np.array([1.2, -0.2, np.log(1.0 / max(t0, 0.05)), 0.0])),
    CurveModel("ilog2", 2, _ilog2,
               lambda t0: np.array([1.5, np.log(1.5 * np.log1p(_ILOG_SCALE * t0))])),
    CurveModel("log_power", 3, _log_power,
               lambda t0: np.array([1.1, np.log(max(2.0 * t0, 0.05)), np.log(2.0)])),
)
