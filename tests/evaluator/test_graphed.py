"""CUDA-graph training steps: the policy, the static-buffer step (run eagerly on CPU: the same
code as the graph, without capture) against the eager loop, and, on CUDA, graphed == eager."""

from __future__ import annotations

import logging

import pytest
import torch
from evaluator_helpers import blobs

from nasforge.errors import ConfigError
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.fused.graphed import GRAPH_MIN_STEPS, WARMUP, GraphedSteps, use_graphs
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainingParams, TrainOutcome, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan, PlanBuilder


def mlp(norm: str = "none") -> NetworkPlan:
    b = PlanBuilder("mlp", (8,)).linear(32)
    if norm != "none":
        b.norm(norm)
    return b.activation("relu").linear(3).build()


def train(plan: NetworkPlan, data: DeviceData, graphs: bool | str, **settings: object
          ) -> TrainOutcome:
    with seeded(0, data.x_train.device):
        model = build_from_plan(plan).to(data.x_train.device)
    params = TrainingParams(**{"lr": 1e-2, "epochs": 3, "batch_size": 32, **settings})  # type: ignore[arg-type]
    return train_candidate(model, data, params, seed=0, task=data.spec.task, graphs=graphs,
                           precision=str(settings.get("precision", "fp32")))


def assert_curves_close(a: TrainOutcome, b: TrainOutcome, rtol: float = 1e-4,
                        atol: float = 1e-5) -> None:
    for x, y in zip(a.curve, b.curve, strict=True):
        for key in x.metrics:
            torch.testing.assert_close(x.metrics[key], y.metrics[key], rtol=rtol, atol=atol)


def on(device: str, data: DeviceData) -> DeviceData:
    tensors = (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)
    return DeviceData(*(t.to(device) for t in tensors), data.spec)


# NOISE_GRADIENTS: a bias just before batch norm gets only rounding-noise gradients, and Adam
# normalises noise into full-size steps, so two equivalent runs (here: a float64 vs a float32
# learning rate) drift apart by ~1e-3 there. Batch norm is tested with SGD.


def test_policy() -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert use_graphs("auto", cuda, GRAPH_MIN_STEPS)
    assert not use_graphs("auto", cuda, GRAPH_MIN_STEPS - 1)
    assert not use_graphs("auto", cpu, 10**6)
    assert use_graphs(True, cpu, 1) and not use_graphs(False, cuda, 10**6)
    with pytest.raises(ConfigError, match="graphs='always' is invalid"):
        use_graphs("always", cuda, 1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_static_buffer_step_matches_eager_on_cpu(optimizer: str, schedule: str) -> None:
    data = blobs(n=310)  # 186 train rows: 5 full batches of 32 and a partial one of 26
    kwargs = {"optimizer": optimizer, "schedule": schedule, "weight_decay": 1e-3}
    plan = mlp(norm="batch" if optimizer == "sgd" else "none")  # see NOISE_GRADIENTS
    eager = train(plan, data, False, **kwargs)
    graphed = train(plan, data, True, **kwargs)
    assert_curves_close(eager, graphed)
    assert (graphed.val_accuracy or 0) > 0.9


def test_steps_warm_up_then_replay_full_batches_only() -> None:
    data = blobs(n=310)
    model = build_from_plan(mlp())
    from nasforge.evaluator.fused.graphed import make_graph_optimizer, train_step
    from nasforge.evaluator.precision import autocast

    optimizer = make_graph_optimizer(model, "adamw", 1e-2, 0.0, torch.device("cpu"))
    steps = GraphedSteps(model, optimizer, torch.nn.functional.cross_entropy, data.x_train,
                         data.y_train, 32, lambda: autocast("cpu", "fp32"), capture=False)
    calls = []
    steps._run = lambda idx: calls.append(len(idx)) or train_step(  # type: ignore[method-assign]
        model, optimizer, torch.nn.functional.cross_entropy, data.x_train, data.y_train, idx,
        lambda: autocast("cpu", "fp32"))
    for size in (32,) * (WARMUP + 2) + (26,):
        loss = steps.step(torch.arange(size))
        assert loss.shape == () and torch.isfinite(loss)
    assert steps.warmed == WARMUP and steps._replay is not None and not steps.captured
    assert calls == [32] * (WARMUP + 2) + [26]
    steps.set_lr(0.5)
    assert all(float(g["lr"]) == 0.5 for g in optimizer.param_groups)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("norm", "optimizer"),
                         [("none", "sgd"), ("batch", "sgd"), ("none", "adam"), ("none", "adamw")])
def test_cuda_graphed_matches_eager(norm: str, optimizer: str) -> None:
    data = on("cuda", blobs(n=310))
    eager = train(mlp(norm), data, False, optimizer=optimizer, epochs=4)
    graphed = train(mlp(norm), data, True, optimizer=optimizer, epochs=4)
    assert_curves_close(eager, graphed)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_is_captured_and_bf16_graphed_matches_bf16_eager() -> None:
    data = on("cuda", blobs(n=310))
    eager = train(mlp("batch"), data, False, precision="bf16", optimizer="sgd")
    graphed = train(mlp("batch"), data, True, precision="bf16", optimizer="sgd")
    assert_curves_close(eager, graphed, rtol=2e-2, atol=2e-3)
    model = build_from_plan(mlp()).cuda()
    from nasforge.evaluator.fused.graphed import make_graph_optimizer

    optimizer = make_graph_optimizer(model, "adamw", 1e-2, 0.0, torch.device("cuda"))
    import contextlib

    steps = GraphedSteps(model, optimizer, torch.nn.functional.cross_entropy, data.x_train,
                         data.y_train, 32, contextlib.nullcontext)
    for _ in range(WARMUP + 3):
        steps.step(torch.arange(32, device="cuda"))
    assert steps.captured and not steps.failed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_capture_failure_falls_back_to_eager(caplog: pytest.LogCaptureFixture) -> None:
    class Syncing(torch.nn.Module):  # a host read inside forward: not capturable
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) * (1.0 if x.sum().item() < float("inf") else 0.0)

    data = on("cuda", blobs(n=310))
    outcomes = []
    for graphs in (False, True):
        with seeded(0, "cuda"):
            model = Syncing().cuda()
        with caplog.at_level(logging.WARNING, logger="nasforge.evaluator.fused.graphed"):
            outcomes.append(train_candidate(model, data, TrainingParams(lr=1e-2, epochs=3,
                            batch_size=32), seed=0, task="classification", graphs=graphs))
    assert "capture of the training step failed" in caplog.text
    assert_curves_close(outcomes[0], outcomes[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graphed_cnn_with_channels_last_trains() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (400,), generator=g)
    x = torch.randn(400, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    from nasforge.searchspace.plan import DataSpec

    spec = DataSpec((3, 8, 8), 3, "classification", "images")
    data = on("cuda", DeviceData(x[:240], y[:240], x[240:320], y[240:320], x[320:], y[320:],
                                 spec))
    plan = (PlanBuilder("cnn", (3, 8, 8)).conv(8, 3).norm("batch").activation("relu")
            .pool("avg", 2).flatten().linear(3).build())
    eager = train(plan, data, False, optimizer="sgd", epochs=4)
    fast = train(plan, data, True, optimizer="sgd", epochs=4)  # channels_last "auto": on
    assert_curves_close(eager, fast, rtol=1e-3, atol=1e-4)
