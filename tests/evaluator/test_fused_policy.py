"""The fused-or-sequential policy and LocalEvaluator's fused buckets (vs sequential)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES
from evaluator_helpers import blobs as make_blobs
from fused_helpers import spy_train_fused

from nasforge.errors import ConfigError
from nasforge.evaluator import local
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.fused import FusedPolicy, ProbeTiming, probe_steps
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.train import TrainData, TrainingParams
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.plan import NetworkPlan, PlanBuilder

TOL = {"rtol": 1e-4, "atol": 1e-5}  # the fused tolerance (tests/evaluator/test_fused.py)
TIMINGS = ("train_seconds", "train_cpu_seconds", "latency_ms", "latency_ms_p90",
           "throughput")
CLASSIFICATION_METRICS = {"accuracy", "loss", "test_accuracy", "test_loss", "train_loss",
                          "params", "macs", "bops", "size_bits", "latency_ms", "latency_ms_p90",
                          "throughput", "train_seconds", "train_cpu_seconds", "epochs"}


def blobs(n: int = 203, *, task: str = "classification") -> DeviceData:
    """121 train samples: batch 24 leaves a lone last one."""
    return make_blobs(n, task=task)


def mlp(norm: str = "none", width: int = 16) -> NetworkPlan:
    plan = PlanBuilder("mlp", (FEATURES,)).linear(width, bias=norm == "none")
    return plan.norm_activation(norm, "relu").linear(CLASSES).build()


def arch(**changes: object) -> Architecture:
    values = {"family": "mlp", "mlp.depth": 1, "mlp.width": 32, "activation": "relu",
              "norm": "none", "dropout": 0.0, "lr": 1e-2, "epochs": 2, "batch_size": 32,
              "optimizer": "adamw", "schedule": "cosine", **changes}
    return Architecture(values)  # type: ignore[arg-type]


class FakeProbe:
    """Returns a fixed timing and counts calls (optionally running the real probe first)."""

    def __init__(self, fused: float, sequential: float, real: bool = False) -> None:
        self.timing, self.real, self.calls = ProbeTiming(fused, sequential), real, 0

    def __call__(self, plans: Sequence[NetworkPlan], data: TrainData,
                 params: Sequence[TrainingParams], task: str) -> ProbeTiming:
        self.calls += 1
        if self.real:
            probe_steps(plans, data, params, task, budget=1e9)  # the whole probe, always
        return self.timing


def bucket(m: int) -> list[Architecture]:
    return [arch(lr=1e-3 * (i + 1), weight_decay=0.01 * i, **{"mlp.width": 16})
            for i in range(m)]


def test_policy_picks_sequential_when_fused_is_slower_and_caches_per_bucket() -> None:
    probe = FakeProbe(fused=2.0, sequential=1.0)
    policy = FusedPolicy(probe, model=None)
    plans, params = [mlp()] * 4, [TrainingParams()] * 4
    assert policy.use_fused(plans, blobs(), params, "classification") is False
    assert policy.use_fused(plans, blobs(), params, "classification") is False
    assert probe.calls == 1  # cached per (structure, sizes, batch, optimizer, M up to 2^k)
    policy.use_fused(plans[:3], blobs(), params[:3], "classification")  # 3 -> 4: cached
    assert probe.calls == 1
    policy.use_fused(plans[:2], blobs(), params[:2], "classification")
    policy.use_fused([mlp(width=8)] * 4, blobs(), params, "classification")
    assert probe.calls == 3


def test_policy_picks_fused_when_faster_beyond_the_margin() -> None:
    plans, params = [mlp()] * 4, [TrainingParams()] * 4
    fast = FusedPolicy(FakeProbe(0.2, 1.0), model=None)
    assert fast.use_fused(plans, blobs(), params, "classification")
    close = FusedPolicy(FakeProbe(0.95, 1.0), model=None, margin=1.1)
    assert not close.use_fused(plans, blobs(), params, "classification")
    alone = FusedPolicy(FakeProbe(0.0, 1.0), model=None)
    assert not alone.use_fused(plans[:1], blobs(), params[:1], "classification")


def test_a_failing_probe_decides_sequential() -> None:
    def broken(*args: object) -> ProbeTiming:
        raise RuntimeError("out of memory")

    policy = FusedPolicy(broken, model=None)
    assert not policy.use_fused([mlp()] * 2, blobs(), [TrainingParams()] * 2, "classification")


def test_probe_times_each_candidate_alone_and_leaves_rng_alone() -> None:
    ticks = iter(range(1000))
    dropped = PlanBuilder("mlp", (FEATURES,)).linear(16).norm_activation("none", "relu")
    dropped = dropped.dropout(0.5).linear(CLASSES).build()  # alone, it draws global noise
    before = torch.get_rng_state()
    probe_steps([dropped] * 2, blobs(), [TrainingParams(batch_size=24, epochs=50)] * 2,
                "classification", steps=1, min_seconds=0.0, timer=lambda: float(next(ticks)))
    assert torch.equal(before, torch.get_rng_state())
    ticks = iter(range(1000))
    params = [TrainingParams(batch_size=24, epochs=50)] * 5  # 250 steps: budget 25 ticks
    timing = probe_steps([mlp("batch")] * 5, blobs(), params, "classification",
                         steps=1, min_seconds=0.0, timer=lambda: float(next(ticks)))
    assert timing == ProbeTiming(fused=1.0, sequential=5.0)
    assert torch.equal(before, torch.get_rng_state())


def test_the_probe_trains_every_candidate_of_the_bucket_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not one of them times M: the candidates of a stack differ in depth, norms, dropout."""
    from nasforge.evaluator.fused import steppers

    built: list[NetworkPlan] = []
    real = steppers.build_from_plan

    def spy(plan: NetworkPlan) -> torch.nn.Sequential:
        built.append(plan)
        return real(plan)

    monkeypatch.setattr(steppers, "build_from_plan", spy)
    plans = [mlp("none"), mlp("batch"), mlp("layer", width=8)]
    ticks = iter(range(1000))
    timing = probe_steps(plans, blobs(), [TrainingParams(batch_size=24, epochs=50)] * 3,
                         "classification", steps=1, min_seconds=0.0,
                         timer=lambda: float(next(ticks)))
    assert timing == ProbeTiming(fused=1.0, sequential=3.0)
    assert built[:3] == plans  # alone, each once; then the stack's copies
    assert len(built) == 6


def test_a_bucket_too_short_for_a_probe_trains_sequentially() -> None:
    ticks = iter(range(1000))
    params = [TrainingParams(batch_size=24, epochs=5)] * 5  # 25 steps: budget 2.5 ticks
    timing = probe_steps([mlp()] * 5, blobs(), params, "classification", min_seconds=0.0,
                         timer=lambda: float(next(ticks)))
    assert timing.fused == float("inf")
    ticks = iter(range(1000))  # a floor of 100 ticks pays for the probe after all
    floor = probe_steps([mlp()] * 5, blobs(), params, "classification", min_seconds=100.0,
                        steps=1, timer=lambda: float(next(ticks)))
    assert floor == ProbeTiming(fused=1.0, sequential=5.0)
    few = [TrainingParams(batch_size=24, epochs=3)] * 5  # 15 steps < min_steps: no probe
    assert probe_steps([mlp()] * 5, blobs(), few, "classification").fused == float("inf")
    heavy = probe_steps([mlp()] * 5, blobs(), params, "classification", max_step_macs=1.0)
    assert heavy.fused == float("inf")  # compute-bound: not probed
    assert not FusedPolicy(lambda *a: timing, model=None).use_fused([mlp()] * 5, blobs(), params,
                                                        "classification")


def comparable(result: EvalResult) -> dict[str, float]:
    return {k: v for k, v in result.metrics.items() if k not in TIMINGS}


def evaluate(fused: object, archs: list[Architecture], **kwargs: object) -> list[EvalResult]:
    return LocalEvaluator(blobs(), seed=1, fused=fused, **kwargs).evaluate(archs)  # type: ignore[arg-type]


def test_fused_true_false_and_auto_agree_with_every_metric() -> None:
    archs = bucket(4)
    runs = {mode: evaluate(mode, archs) for mode in (False, True, "auto")}
    for mode, results in runs.items():
        assert [r.state for r in results] == [TrialState.COMPLETE] * 4, mode
        for result, expected in zip(results, runs[False], strict=True):
            assert set(result.metrics) == CLASSIFICATION_METRICS
            assert all(result.metrics[k] > 0 for k in TIMINGS)
            torch.testing.assert_close(comparable(result), comparable(expected), **TOL)
            for mine, theirs in zip(result.curve, expected.curve, strict=True):
                torch.testing.assert_close(mine.metrics, theirs.metrics, **TOL)


def test_the_policy_decides_whether_train_fused_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_train_fused(monkeypatch)
    evaluate(FusedPolicy(FakeProbe(2.0, 1.0), model=None), bucket(3), measure_latency=False)
    evaluate(False, bucket(3), measure_latency=False)
    assert calls == []
    evaluate(FusedPolicy(FakeProbe(0.1, 1.0), model=None), bucket(3), measure_latency=False)
    evaluate(True, bucket(3), measure_latency=False)
    assert calls == [3, 3]


@pytest.mark.parametrize(("decision", "mode"), [((0.1, 1.0), True), ((2.0, 1.0), False)])
def test_results_are_bit_identical_whether_the_probe_ran_or_not(
        decision: tuple[float, float], mode: bool) -> None:
    archs = [*bucket(3), arch(norm="batch", batch_size=24, **{"mlp.width": 16}),
             arch(norm="batch", batch_size=24, lr=3e-3, **{"mlp.width": 16})]
    probe = FakeProbe(*decision, real=True)
    before = torch.get_rng_state()
    probed = evaluate(FusedPolicy(probe, model=None), archs, measure_latency=False)
    assert probe.calls == 2 and torch.equal(before, torch.get_rng_state())
    plain = evaluate(mode, archs, measure_latency=False)
    for a, b in zip(probed, plain, strict=True):
        assert comparable(a) == comparable(b) and a.curve == b.curve


def test_mixed_batch_keeps_input_order_and_isolates_failures() -> None:
    archs = [arch(**{"mlp.width": 16}), arch(dropout=0.2), arch(activation="relux"),
             arch(lr=1e30, **{"mlp.width": 16}), arch(lr=3e-3, **{"mlp.width": 16}),
             arch(**{"mlp.width": 8})]
    fused = evaluate(True, archs, measure_latency=False)
    plain = evaluate(False, archs, measure_latency=False)
    states = [r.state for r in plain]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAILED,
                      TrialState.FAILED, TrialState.COMPLETE, TrialState.COMPLETE]
    assert [r.state for r in fused] == states
    assert fused[3].error == plain[3].error and "diverged" in (fused[3].error or "")
    assert fused[2].error == plain[2].error
    for a, b in zip(fused, plain, strict=True):
        if a.state is TrialState.COMPLETE:
            torch.testing.assert_close(comparable(a), comparable(b), **TOL)


def test_a_raising_fused_run_falls_back_to_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(local, "train_fused", broken)
    results = evaluate(True, bucket(3), measure_latency=False)
    assert [r.state for r in results] == [TrialState.COMPLETE] * 3


def test_fused_is_stored_and_validated_on_evaluate() -> None:
    evaluator = LocalEvaluator(blobs(), seed=0, fused="sometimes")
    assert evaluator.fused == "sometimes"
    assert LocalEvaluator(blobs(), seed=0).fused == "auto"
    with pytest.raises(ConfigError, match="fused='sometimes'"):
        evaluator.evaluate(bucket(2))
