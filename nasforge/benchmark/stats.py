"""Exact statistics of a table, no sampling: the expected best of random search.

nasforge's random search never proposes an architecture twice, so after `b` trials it has
seen a uniformly random subset of `b` of the table's N entries (drawn without replacement).
With the values sorted best first, v_1 >= v_2 >= ... >= v_N (for a maximised metric), the
best of the subset is v_k exactly when position k is drawn and positions 1..k-1 are not:

    P(best = v_k) = C(N - k, b - 1) / C(N, b),        k = 1 .. N - b + 1

and E[best] = sum_k v_k P(best = v_k). Working on *positions* of the sorted array makes ties
exact (tied values sit at neighbouring positions, their probabilities add up). The binomials
are evaluated as differences of log-factorials (`math.lgamma`), stable for any N.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from nasforge.errors import ConfigError


def best_first(values: np.ndarray, direction: str) -> np.ndarray:
    """The finite entries of `values` sorted best first (descending for max, ascending for
    min)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.sort(values[np.isfinite(values)])
    return finite[::-1] if direction == "max" else finite


def log_factorials(n: int) -> np.ndarray:
    """log(k!) for k = 0..n, shape (n + 1,)."""
    return np.array([math.lgamma(k + 1.0) for k in range(n + 1)])


def best_of_subset_probabilities(n: int, budget: int,
                                 log_fact: np.ndarray | None = None) -> np.ndarray:
    """P(the best of a uniform `budget`-subset of n sorted entries is entry k), k = 0..n-1
    (0-based, best first); shape (n,), sums to 1."""
    if not 1 <= budget <= n:
        raise ConfigError(f"A budget of {budget} does not fit a table of {n} entries; use a "
                          f"budget from 1 to {n}.")
    lf = log_factorials(n) if log_fact is None else log_fact

    def log_binom(top: np.ndarray | int, bottom: int) -> np.ndarray:
        return lf[top] - lf[bottom] - lf[np.asarray(top) - bottom]

    k = np.arange(n - budget + 1)  # 0-based positions that can be the best
    probs = np.zeros(n)
    probs[: n - budget + 1] = np.exp(log_binom(n - 1 - k, budget - 1) - log_binom(n, budget))
    return probs / probs.sum()  # remove the last ulps of rounding


def expected_best(values: np.ndarray, direction: str, budgets: Iterable[int]) -> np.ndarray:
    """Exact expected best value of random search without replacement over the finite entries
    of `values`, after each budget in `budgets`; shape (len(budgets),)."""
    ordered = best_first(values, direction)
    n = len(ordered)
    if n == 0:
        raise ConfigError("The table has no finite values for this metric.")
    lf = log_factorials(n)
    return np.array([float(best_of_subset_probabilities(n, int(b), lf) @ ordered)
                     for b in budgets])
