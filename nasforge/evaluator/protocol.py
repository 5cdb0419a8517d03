"""The one evaluator contract, `Evaluator`, that every evaluator and executor meets and the
search loop calls (torch-free), and `Executor`: an evaluator that holds resources (processes,
Ray actors) until `close()`.

Early stopping travels with a batch: an evaluator whose `stops_early` is True takes
`evaluate(archs, stop=rule)` (a `nasforge.curves.rule.StopRule`: the search's front and the
settings, a picklable value) and may return PRUNED results for the candidates the rule stops;
`evaluate_batch` passes the rule only to such an evaluator, so every other one (the user's
`[evaluator]` function, the benchmark tables) keeps its one-argument `evaluate` and simply
trains every candidate to the end.

Results can stream the same way: an evaluator whose `streams_results` is True (a worker pool,
the Ray executor) takes `evaluate(archs, on_result=callback)` and calls it as each chunk's
results arrive, so the search stores them while the other chunks still train;
`evaluate_batch` calls the callback for every other evaluator once its batch is done.

Implementers: `LocalEvaluator` (trains on this device), `FunctionEvaluator` (the user's
`[evaluator]` callable), the supernet's and the benchmark tables' evaluators, and the
executors that run one elsewhere (`InlineExecutor`, `WorkerPool`, `RayExecutor`). Not how an
evaluator is made from a config: that is `nasforge.evaluator_setup`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture

if TYPE_CHECKING:
    from nasforge.curves.rule import StopRule

logger = logging.getLogger(__name__)

#: `on_result(position, result)`: one result of a batch as it arrives (`evaluate_batch`)
OnResult = Callable[[int, EvalResult], None]


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


def stops_early(evaluator: object) -> bool:
    """Whether `evaluator.evaluate` takes a `stop` rule (its `stops_early` attribute)."""
    return getattr(evaluator, "stops_early", False) is True


def streams_results(evaluator: object) -> bool:
    """Whether `evaluator.evaluate` takes `on_result` (its `streams_results` attribute)."""
    return getattr(evaluator, "streams_results", False) is True


def evaluate_batch(evaluator: Evaluator, archs: Sequence[Architecture],
                   stop: StopRule | None = None,
                   on_result: OnResult | None = None
                   ) -> list[EvalResult]:
    """`evaluator.evaluate(archs)`, with `stop=stop` where the evaluator takes it.

    `on_result(position, result)` is called once per architecture when this returns
    normally: as each result arrives where the evaluator streams them (a worker pool, while
    its other chunks still train), else for each result in order once the batch is done
    (not at all for an evaluator that returned a wrong number of results: the caller
    checks). If the evaluator or the callback raises, the results not yet handed over are
    lost with the batch."""
    kwargs: dict[str, object] = {}
    if stop is not None and stops_early(evaluator):
        kwargs["stop"] = stop
    if on_result is not None and streams_results(evaluator):
        kwargs["on_result"] = on_result
        return evaluator.evaluate(archs, **kwargs)  # kwargs: streams_results (on_result)
    results = evaluator.evaluate(archs, **kwargs)  # kwargs: stops_early (stop)
    if on_result is not None and len(results) == len(archs):  # the caller checks the count
        for position, result in enumerate(results):
            on_result(position, result)
    return results


def hand_over(arrived: list[int], results: Sequence[EvalResult | None],
              on_result: OnResult | None) -> None:
    """`on_result` for each position in `arrived` (then emptied): how an executor that
    streams hands over the results it has received (`WorkerPool`, `RayExecutor`)."""
    if on_result is not None:
        for position in arrived:
            result = results[position]
            assert result is not None
            on_result(position, result)
    arrived.clear()
