"""Early stopping in the epoch loops: a stopped candidate keeps the curve it would have had
so far, leaves a fused stack without changing the others, and gets the same PRUNED result
trained fused or alone, inline or in a worker process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from evaluator_helpers import assert_same_results, blobs
from fused_helpers import TOL, mlp, reference

from nasforge.curves.rule import P_IMPROVE, StopRule
from nasforge.evaluator.executors.pool import InlineExecutor, WorkerPool
from nasforge.evaluator.fused import train_fused
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.protocol import Evaluator
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainingParams, train_candidate
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan

TIMINGS = ("train_seconds", "train_cpu_seconds")
RULE = StopRule(parse_objectives(["accuracy:max"]), ((0.9,),), min_epochs=3)


def stop_at(epoch: int):
    def hook(curve: Sequence[CurvePoint]) -> Mapping[str, float] | None:
        return {"stopped_by_test": float(len(curve))} if len(curve) == epoch else None
    return hook


def built(plan: NetworkPlan, seed: int) -> torch.nn.Module:
    with seeded(seed):
        return build_from_plan(plan)


def test_a_stopped_candidate_keeps_its_curve_so_far() -> None:
    data, params = blobs(), TrainingParams(epochs=6, batch_size=24, lr=1e-3)
    _, full = reference(mlp(), data, params, 3, "classification")
    stopped = train_candidate(built(mlp(), 3), data, params, seed=3, task="classification",
                              stop=stop_at(3))
    assert stopped.stopped == {"stopped_by_test": 3.0} and stopped.epochs == 3
    assert stopped.curve == full.curve[:3]  # type: ignore[attr-defined]
    assert stopped.test_loss is None and stopped.test_accuracy is None


def test_a_model_stopped_mid_stack_leaves_it_and_the_others_are_unchanged() -> None:
    data = blobs()
    plans = [mlp(width=16), mlp(width=24), mlp(width=8)]
    params = [TrainingParams(epochs=6, batch_size=24, lr=lr) for lr in (1e-3, 3e-3, 2e-3)]
    seeds = [11, 18, 25]
    hooks = [None, stop_at(3), None]
    results = train_fused(plans, data, params, seeds=seeds, task="classification",
                          stops=hooks)
    for plan, p, seed, hook, result in zip(plans, params, seeds, hooks, results, strict=True):
        alone = built(plan, seed)
        expected = train_candidate(alone, data, p, seed=seed, task="classification", stop=hook)
        got = result.outcome
        assert got is not None and result.error is None
        assert got.stopped == expected.stopped and got.epochs == expected.epochs
        assert len(got.curve) == len(expected.curve)
        for mine, theirs in zip(got.curve, expected.curve, strict=True):
            torch.testing.assert_close(mine.metrics, theirs.metrics, **TOL)
        torch.testing.assert_close(result.model.state_dict(), alone.state_dict(), **TOL)
        assert (got.test_loss is None) == (hook is not None)


def arch(lr: float, width: int) -> Architecture:
    return Architecture({"family": "mlp", "mlp.depth": 1, "mlp.width": width,
                         "activation": "relu", "norm": "none", "dropout": 0.0, "lr": lr,
                         "epochs": 8, "batch_size": 32, "optimizer": "sgd",
                         "schedule": "constant"})


# two hopeless learners (a tiny learning rate) among two good ones, all of one fusable shape
ARCHS = [arch(3e-2, 16), arch(1e-5, 16), arch(3e-2, 24), arch(2e-5, 8)]


def check_pruned(results: Sequence[EvalResult]) -> None:
    assert [r.state for r in results] == [TrialState.COMPLETE, TrialState.PRUNED,
                                          TrialState.COMPLETE, TrialState.PRUNED]
    for result in results:
        if result.state is TrialState.PRUNED:
            assert 3 <= len(result.curve) < 8 and result.metrics["epochs"] == len(result.curve)
            assert result.metrics[P_IMPROVE] < RULE.threshold
            assert "predicted_accuracy" in result.metrics and "test_accuracy" not in result.metrics
            assert result.checkpoint is None
        else:
            assert len(result.curve) == 8 and "p_improve" not in result.metrics


def test_fused_and_alone_give_the_same_pruned_results() -> None:
    data = blobs()
    fused = LocalEvaluator(data, seed=0, fused=True, measure_latency=False).evaluate(
        ARCHS, stop=RULE)
    alone = LocalEvaluator(data, seed=0, fused=False, measure_latency=False).evaluate(
        ARCHS, stop=RULE)
    check_pruned(alone)
    assert_same_results(fused, alone, ignore=TIMINGS)
    unstopped = LocalEvaluator(data, seed=0, fused=False, measure_latency=False).evaluate(ARCHS)
    assert all(r.state is TrialState.COMPLETE for r in unstopped)
    for cut, full in zip(alone, unstopped, strict=True):
        assert cut.curve == full.curve[: len(cut.curve)]


@dataclass(frozen=True)
class BlobsRecipe:
    """Builds a worker's evaluator on the blobs (picklable: module level)."""

    def __call__(self) -> Evaluator:
        return LocalEvaluator(blobs(), seed=0, fused=False, measure_latency=False)


class OneArgument:
    """An evaluator without `stops_early` (as a user's own): the rule is not passed."""

    def __init__(self) -> None:
        self.inner = LocalEvaluator(blobs(), seed=0, fused=False, measure_latency=False)

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return self.inner.evaluate(archs)


def test_inline_executor_passes_the_rule_only_to_evaluators_that_take_it() -> None:
    inline = InlineExecutor(BlobsRecipe()())
    assert inline.stops_early
    check_pruned(inline.evaluate(ARCHS, stop=RULE))
    plain = InlineExecutor(OneArgument())  # type: ignore[arg-type]
    assert not plain.stops_early
    assert {r.state for r in plain.evaluate(ARCHS[:2], stop=RULE)} == {TrialState.COMPLETE}


def test_worker_processes_stop_candidates_as_inline() -> None:
    inline = BlobsRecipe()().evaluate(ARCHS, stop=RULE)
    with WorkerPool(2, BlobsRecipe(), threads=1) as pool:
        pooled = pool.evaluate(ARCHS, stop=RULE)
    check_pruned(pooled)
    assert_same_results(pooled, inline, ignore=TIMINGS)
