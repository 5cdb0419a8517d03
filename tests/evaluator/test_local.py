"""LocalEvaluator end to end on a tiny synthetic dataset, plus measure and seeding."""

from __future__ import annotations

import logging

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES, blobs
from torch import nn

from nasforge.evaluator import local, measure
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.seeding import candidate_seed
from nasforge.objectives import check_objectives, parse_objectives
from nasforge.records import TrialState
from nasforge.searchspace.architecture import Architecture

CLASSIFICATION_METRICS = {"accuracy", "loss", "test_accuracy", "test_loss", "train_loss",
                          "params", "macs", "bops", "size_bits", "latency_ms", "latency_ms_p90",
                          "throughput", "train_seconds", "train_cpu_seconds", "epochs"}


def arch(**changes: object) -> Architecture:
    values = {"family": "mlp", "mlp.depth": 1, "mlp.width": 32, "activation": "relu",
              "norm": "none", "dropout": 0.0, "lr": 1e-2, "epochs": 2, "batch_size": 32,
              "optimizer": "adamw", "schedule": "cosine", **changes}
    return Architecture(values)  # type: ignore[arg-type]


def test_a_good_mlp_reaches_high_accuracy_with_every_metric() -> None:
    (result,) = LocalEvaluator(blobs(), seed=0).evaluate([arch()])
    assert result.state is TrialState.COMPLETE, result.error
    assert set(result.metrics) == CLASSIFICATION_METRICS
    assert set(result.metrics) == set(local.metric_names("classification"))  # they agree
    assert result.metrics["accuracy"] > 0.9 and result.metrics["test_accuracy"] > 0.9
    assert result.metrics["params"] == FEATURES * 32 + 32 + 32 * CLASSES + CLASSES
    assert result.metrics["macs"] == FEATURES * 32 + 32 * CLASSES
    assert result.metrics["bops"] == result.metrics["macs"] * 32 * 32  # float32
    assert result.metrics["size_bits"] == result.metrics["params"] * 32
    assert result.metrics["throughput"] > 0
    assert result.metrics["epochs"] == 2 and len(result.curve) == 2
    assert result.metrics["loss"] == result.curve[-1].metrics["val_loss"]
    assert result.metrics["latency_ms"] > 0 and result.metrics["train_seconds"] > 0
    assert result.metrics["latency_ms_p90"] >= result.metrics["latency_ms"]
    assert result.metrics["train_cpu_seconds"] > 0


def test_the_load_robust_timings_can_be_objectives() -> None:
    objectives = parse_objectives(["latency_ms_p90:min", "train_cpu_seconds:min"])
    check_objectives(objectives, local.metric_names("classification"), "classification")
    assert "latency_ms_p90" not in local.metric_names("regression", measure_latency=False)


def test_regression_metrics_have_no_accuracy() -> None:
    evaluator = LocalEvaluator(blobs(task="regression"), seed=0, measure_latency=False)
    (result,) = evaluator.evaluate([arch(lr=3e-3)])
    assert result.state is TrialState.COMPLETE, result.error
    assert set(result.metrics) == CLASSIFICATION_METRICS - {"accuracy", "test_accuracy",
                                                            "latency_ms", "latency_ms_p90",
                                                            "throughput"}


def test_a_diverging_candidate_fails_and_the_next_completes() -> None:
    results = LocalEvaluator(blobs(), seed=0).evaluate([arch(lr=1e6, optimizer="sgd"), arch()])
    assert [r.state for r in results] == [TrialState.FAILED, TrialState.COMPLETE]
    assert results[0].error is not None
    assert results[0].error.startswith("training diverged at epoch")
    assert "lower the learning rate" in results[0].error


def test_a_raising_build_fails_with_a_one_line_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(plan: object) -> nn.Module:
        raise RuntimeError("boom\nsecond line of detail")

    monkeypatch.setattr(local, "build_from_plan", broken)
    with caplog.at_level(logging.WARNING, logger="nasforge.evaluator.local"):
        (result,) = LocalEvaluator(blobs(), seed=0).evaluate([arch()])
    assert result.state is TrialState.FAILED
    assert result.error == "RuntimeError: boom"
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is not None


def test_out_of_memory_becomes_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(local, "train_candidate", oom)
    (result,) = LocalEvaluator(blobs(), seed=0).evaluate([arch(batch_size=16)])
    assert result.state is TrialState.FAILED
    assert result.error is not None and result.error.startswith("out of memory on cpu")
    assert "batch_size=16" in result.error


def test_user_errors_fail_with_their_message() -> None:
    results = LocalEvaluator(blobs(), seed=0).evaluate(
        [arch(activation="relux"), arch(batch_size=0), arch(family="transformer"), arch()])
    assert [r.state for r in results[:3]] == [TrialState.FAILED] * 3
    assert "Did you mean 'relu'" in (results[0].error or "")
    assert "'batch_size'" in (results[1].error or "")
    assert "transformer" in (results[2].error or "")
    assert results[3].state is TrialState.COMPLETE


def test_keyboard_interrupt_is_never_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(plan: object) -> nn.Module:
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "build_from_plan", interrupted)
    with pytest.raises(KeyboardInterrupt):
        LocalEvaluator(blobs(), seed=0).evaluate([arch()])


def test_results_do_not_depend_on_batch_order() -> None:
    a, b = arch(dropout=0.2), arch(**{"mlp.width": 16})
    evaluator = LocalEvaluator(blobs(), seed=3, measure_latency=False)
    first = evaluator.evaluate([a, b])
    second = evaluator.evaluate([b, a])
    assert first[0].curve == second[1].curve and first[1].curve == second[0].curve
    other = LocalEvaluator(blobs(), seed=4, measure_latency=False).evaluate([a])
    assert other[0].curve != first[0].curve


def test_evaluation_leaves_the_global_rng_alone() -> None:
    before = torch.get_rng_state()
    LocalEvaluator(blobs(), seed=0).evaluate([arch(dropout=0.3)])
    assert torch.equal(before, torch.get_rng_state())


def test_constructor_only_stores_arguments() -> None:
    data = blobs()
    evaluator = LocalEvaluator(data, seed=5, latency_batch=8, measure_latency=False)
    assert (evaluator.data, evaluator.seed, evaluator.latency_batch,
            evaluator.measure_latency) == (data, 5, 8, False)
    assert evaluator.evaluate([]) == []


def test_candidate_seed_is_stable() -> None:
    assert candidate_seed(0, "0123456789abcdef") == 4034117403007414728
    assert candidate_seed(1, "0123456789abcdef") == 8346950109818613336
    assert 0 <= candidate_seed(2**40, "x") < 2**63


def test_count_params_and_latency() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    assert measure.count_params(model) == 16 + 8 + 10
    before = torch.get_rng_state()
    (timing,) = measure.time_forwards(model, (3,), "cpu", [4], warmup=2, repeats=5)
    assert timing.best_ms > 0 and model.training  # training mode restored
    assert torch.equal(before, torch.get_rng_state())
    assert measure.peak_memory_mb("cpu") is None
    with pytest.raises(ValueError, match="repeats"):
        measure.time_forwards(model, (3,), "cpu", [1], repeats=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_evaluation_reports_peak_memory() -> None:
    cpu = blobs()
    tensors = (cpu.x_train, cpu.y_train, cpu.x_val, cpu.y_val, cpu.x_test, cpu.y_test)
    data = DeviceData(*(t.cuda() for t in tensors), cpu.spec)
    (result,) = LocalEvaluator(data, seed=0).evaluate([arch()])
    assert result.state is TrialState.COMPLETE, result.error
    assert set(result.metrics) == CLASSIFICATION_METRICS | {"peak_memory_mb"}
    assert result.metrics["peak_memory_mb"] > 0 and result.metrics["accuracy"] > 0.9
