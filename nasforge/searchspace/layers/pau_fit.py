"""Least-squares fit of a "safe" Padé activation unit to a target activation (numpy only).

The PAU (Molina et al. 2020) is y = P(x) / (1 + |Q(x)|) with P of degree 5 (a0..a5) and Q of
degree 4 without a constant term (b1..b4). `fit_pau` fits the 10 coefficients to a target on
[-3, 3]: first the linear least-squares problem P(x) - f(x) Q(x) = f(x) (the rational fit
without the absolute value), then Levenberg-Marquardt on the true residual. Everything is
deterministic (a fixed grid, no random starts).

`nasforge.searchspace.layers.portable.pau` stores the results as constants, so that an initial model
does not depend on this machine's LAPACK; its test regenerates them with this module.
Print fresh constants with ``python -m nasforge.searchspace.layers.pau_fit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

NUMERATOR_DEGREE = 5
DENOMINATOR_DEGREE = 4
FIT_RANGE = (-3.0, 3.0)

_erf = np.vectorize(math.erf, otypes=[float])

TARGETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
}
"""The activations a PAU can be initialised to, as numpy functions of x."""


def fit_grid(points: int = 1201) -> np.ndarray:
    """The evenly spaced fit (and check) points on FIT_RANGE, shape (points,)."""
    return np.linspace(*FIT_RANGE, points)


def pau_numpy(numerator: np.ndarray, denominator: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(x) / (1 + |Q(x)|) for coefficients (a0..a5) and (b1..b4), elementwise on x."""
    p = np.polynomial.polynomial.polyval(x, numerator)
    q = x * np.polynomial.polynomial.polyval(x, denominator)
    return p / (1.0 + np.abs(q))


def _residual_and_jacobian(theta: np.ndarray, x: np.ndarray, f: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    powers = np.vander(x, NUMERATOR_DEGREE + 1, increasing=True)  # (M, 6): 1, x, ..., x^5
    a, b = theta[:NUMERATOR_DEGREE + 1], theta[NUMERATOR_DEGREE + 1:]
    p = powers @ a
    q = powers[:, 1:DENOMINATOR_DEGREE + 1] @ b
    d = 1.0 + np.abs(q)
    da = powers / d[:, None]
    db = -(p * np.sign(q) / d**2)[:, None] * powers[:, 1:DENOMINATOR_DEGREE + 1]
    return p / d - f, np.hstack([da, db])


def fit_pau(target: str, points: int = 1201, iterations: int = 200
            ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Fit (a0..a5), (b1..b4) so that P(x) / (1 + |Q(x)|) approximates `target` on [-3, 3].

    Minimises the squared error on `points` evenly spaced points. Raises KeyError for a
    target not in TARGETS.
    """
    x = fit_grid(points)
    f = TARGETS[target](x)
    powers = np.vander(x, NUMERATOR_DEGREE + 1, increasing=True)
    linear = np.hstack([powers, -f[:, None] * powers[:, 1:DENOMINATOR_DEGREE + 1]])
    theta = np.linalg.lstsq(linear, f, rcond=None)[0]
    residual, jacobian = _residual_and_jacobian(theta, x, f)
    cost, damping = float(residual @ residual), 1e-3
    for _ in range(iterations):
        normal = jacobian.T @ jacobian
        step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12),
                               -jacobian.T @ residual)
        trial = theta + step
        trial_residual, trial_jacobian = _residual_and_jacobian(trial, x, f)
        trial_cost = float(trial_residual @ trial_residual)
        if trial_cost < cost:
            converged = cost - trial_cost <= 1e-14 * cost
            theta, residual, jacobian, cost = trial, trial_residual, trial_jacobian, trial_cost
            damping = max(damping / 10.0, 1e-12)
            if converged:
                break
        else:
            damping *= 10.0
            if damping > 1e12:
                break
    numerator = tuple(float(v) for v in theta[:NUMERATOR_DEGREE + 1])
    return numerator, tuple(float(v) for v in theta[NUMERATOR_DEGREE + 1:])


if __name__ == "__main__":
    for name in TARGETS:
        print(f"    {name!r}: {fit_pau(name)!r},")
