"""The one evaluator contract, `Evaluator`, that every evaluator and executor meets and the
search loop calls (torch-free), and `Executor`: an evaluator that holds resources (processes,
Ray actors) until `close()`.

Implementers: `LocalEvaluator` (trains on this device), `FunctionEvaluator` (the user's
`[evaluator]` callable), the supernet's and the benchmark tables' evaluators, and the
executors that run one elsewhere (`InlineExecutor`, `WorkerPool`, `RayExecutor`). Not how an
evaluator is made from a config: that is `nasforge.evaluator_setup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture


class Evaluator(Protocol):
    """Evaluates a batch. An evaluator may also have `slots` (int): how many candidates it
    runs at once (a worker pool's size); the search then asks for max(batch, slots) per
    round. Without it, 1."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        """One finished result per architecture, in order; failures are FAILED results."""
        ...


class Executor(Evaluator, Protocol):
    """An `Evaluator` that runs candidates elsewhere (`InlineExecutor`, `WorkerPool`,
    `RayExecutor`; what `evaluator_setup.make_executor` returns) and must be closed."""

    def close(self) -> None:
        """Release what it holds (worker processes, Ray actors); idempotent."""
        ...
