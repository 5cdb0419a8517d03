"""Which driver runs a strategy whose search is not the plain trial loop. Torch-free.

A strategy registered here is run by ``module:Class`` (imported only when the search runs),
built as ``Class(loop, strategy)`` over the public `nasforge.trial_loop.TrialLoop` and
run with ``.run()``. Strategies not registered here run in `Search`'s own loop.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Driver:
    """`target`: ``"package.module:Class"``. `budget_counts_trials`: False where the budget
    counts something else than finished trials (the resume budget check then does not
    apply). `join_refusal`: why `nasforge worker` cannot join such a search (None: it can)."""

    target: str
    budget_counts_trials: bool = True
    join_refusal: str | None = None
