"""train_candidate: learning, determinism, RNG hygiene, divergence, regression, parameters."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from nasforge.errors import ConfigError, SpaceError
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import (
    Diverged,
    TrainingParams,
    TrainOutcome,
    lr_table,
    train_candidate,
)
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder

FEATURES, CLASSES = 8, 3


def blobs(n: int = 300, *, seed: int = 0, task: str = "classification") -> DeviceData:
    """Well separated Gaussian blobs (or a noisy linear target), split 60/20/20."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(CLASSES, FEATURES, generator=g) * 4
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = centers[y] + torch.randn(n, FEATURES, generator=g)
    if task == "regression":
        y = x @ torch.randn(FEATURES, generator=g) + 0.1 * torch.randn(n, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    spec = DataSpec((FEATURES,), CLASSES if task == "classification" else 1, task, "blobs")
    return DeviceData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], spec)


def mlp(outputs: int = CLASSES, norm: str = "none", dropout: float = 0.0) -> NetworkPlan:
    b = PlanBuilder("mlp", (FEATURES,)).linear(32)
    if norm != "none":
        b.norm(norm)
    return b.activation("relu").dropout(dropout).linear(outputs).build()


def train(plan: NetworkPlan, data: DeviceData, seed: int = 0, **params: object) -> TrainOutcome:
    with seeded(seed):
        model = build_from_plan(plan)
    settings = {"lr": 1e-2, "epochs": 3, "batch_size": 32, **params}
    return train_candidate(model, data, TrainingParams(**settings), seed=seed,  # type: ignore[arg-type]
                           task=data.spec.task)


def test_loss_decreases_on_a_separable_problem() -> None:
    outcome = train(mlp(), blobs())
    losses = [p.metrics["train_loss"] for p in outcome.curve]
    assert losses[-1] < losses[0]
    assert outcome.val_accuracy is not None and outcome.val_accuracy > 0.9
    assert outcome.test_accuracy is not None and outcome.test_accuracy > 0.9
    assert [p.epoch for p in outcome.curve] == [1, 2, 3]
    assert set(outcome.curve[-1].metrics) == {"train_loss", "val_loss", "val_accuracy"}
    assert outcome.val_loss == outcome.curve[-1].metrics["val_loss"]
    assert outcome.epochs == 3 and outcome.seconds > 0


def test_same_seed_gives_bit_identical_curves() -> None:
    plan, data = mlp(norm="batch", dropout=0.3), blobs()  # dropout draws from the global RNG
    first, second = train(plan, data, seed=7), train(plan, data, seed=7)
    assert first.curve == second.curve
    assert (first.test_loss, first.test_accuracy) == (second.test_loss, second.test_accuracy)
    assert train(plan, data, seed=8).curve != first.curve


def test_global_rng_state_is_unchanged() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    train(mlp(dropout=0.5), blobs())
    assert torch.equal(before, torch.get_rng_state())


def test_one_host_read_per_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    tolist = torch.Tensor.tolist

    def counting_tolist(self: torch.Tensor) -> object:
        reads.append(self.shape)
        return tolist(self)

    def no_item(self: torch.Tensor) -> object:
        raise AssertionError("Tensor.item() called during training")

    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    monkeypatch.setattr(torch.Tensor, "item", no_item)
    train(mlp(), blobs(), epochs=3)
    assert len(reads) == 3 + 1  # one per epoch, one for the test split


def test_huge_learning_rate_diverges() -> None:
    with pytest.raises(Diverged, match=r"training diverged at epoch \d+ \(train loss (nan|inf)\); "
                                       "lower the learning rate or add normalization"):
        train(mlp(), blobs(), lr=1e6, optimizer="sgd")


def test_nan_inputs_diverge_at_the_first_epoch() -> None:
    data = blobs()
    x = data.x_train.clone()
    x[5, 0] = float("nan")
    broken = DeviceData(x, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test,
                        data.spec)
    with pytest.raises(Diverged, match=r"epoch 1 \(train loss nan\)") as info:
        train(mlp(), broken)
    assert info.value.epoch == 1
    copy = pickle.loads(pickle.dumps(info.value))  # crosses process boundaries intact
    assert str(copy) == str(info.value) and copy.epoch == 1


def test_regression_with_mse() -> None:
    outcome = train(mlp(outputs=1), blobs(task="regression"), epochs=3)
    losses = [p.metrics["train_loss"] for p in outcome.curve]
    assert losses[-1] < losses[0]
    assert outcome.val_accuracy is None and outcome.test_accuracy is None
    assert outcome.test_loss is not None
    assert set(outcome.curve[0].metrics) == {"train_loss", "val_loss"}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_every_optimizer_and_schedule_trains(optimizer: str, schedule: str) -> None:
    outcome = train(mlp(), blobs(), epochs=2, lr=1e-2, optimizer=optimizer, schedule=schedule,
                    weight_decay=1e-4)
    assert outcome.val_accuracy is not None and outcome.val_accuracy > 0.5


def test_a_lone_last_sample_joins_the_previous_batch() -> None:
    data = blobs()
    shrunk = DeviceData(data.x_train[:65], data.y_train[:65], data.x_val, data.y_val,
                        data.x_test, data.y_test, data.spec)
    # batches of 32 and 33, not 32, 32 and 1 (batch norm cannot train on one sample)
    outcome = train(mlp(norm="batch"), shrunk, batch_size=32)
    assert len(outcome.curve) == 3


def test_cosine_schedule_goes_from_lr_to_zero() -> None:
    table = lr_table(TrainingParams(lr=0.1), 10)
    assert table[0] == 0.1 and table[-1] == pytest.approx(0.0, abs=1e-12)
    assert table == sorted(table, reverse=True)
    assert lr_table(TrainingParams(lr=0.1, schedule="constant"), 10) == []


def test_params_from_arch_defaults_and_values() -> None:
    assert TrainingParams.from_arch(Architecture({})) == TrainingParams(
        lr=1e-3, weight_decay=0.0, batch_size=64, epochs=10, optimizer="adamw",
        schedule="cosine")
    arch = Architecture({"lr": 0.1, "weight_decay": 1e-4, "batch_size": 16, "epochs": 2,
                         "optimizer": "sgd", "schedule": "constant", "mlp.width": 8})
    assert TrainingParams.from_arch(arch) == TrainingParams(0.1, 1e-4, 16, 2, "sgd", "constant")


@pytest.mark.parametrize(
    ("key", "value"),
    [("lr", -1.0), ("lr", 0), ("weight_decay", -0.1), ("batch_size", 0), ("batch_size", 2.5),
     ("epochs", True), ("epochs", "ten"), ("optimizer", "adamx"), ("schedule", "step")],
)
def test_invalid_training_values_name_the_key(key: str, value: object) -> None:
    with pytest.raises(SpaceError, match=f"'{key}'"):
        TrainingParams.from_arch(Architecture({key: value}))  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=f"'{key}'"):
        TrainingParams(**{key: value})  # type: ignore[arg-type]


def test_unknown_task_is_refused() -> None:
    with pytest.raises(ConfigError, match="'task'"):
        train_candidate(build_from_plan(mlp()), blobs(), TrainingParams(epochs=1), seed=0,
                        task="ranking")


def reference_train(model: torch.nn.Module, data: DeviceData, params: TrainingParams,
                    seed: int) -> list[tuple[float, float, float]]:
    """The plain loop as it was before the fast-path switches, with torch.optim's fused
    optimizer (what `KernelOptimizer` calls): (train, val loss, val acc)."""
    from nasforge.evaluator.kernel_optimizer import MOMENTUM
    from nasforge.evaluator.train import batch_starts

    x, y = data.x_train, data.y_train
    starts = batch_starts(len(x), params.batch_size)
    ends = [*starts[1:], len(x)]
    sizes = torch.tensor([e - s for s, e in zip(starts, ends, strict=True)], dtype=torch.float32)
    lrs = lr_table(params, len(starts) * params.epochs)
    curve = []
    with seeded(seed):
        weights, lr, decay = list(model.parameters()), params.lr, params.weight_decay
        optimizer: torch.optim.Optimizer
        if params.optimizer == "sgd":
            optimizer = torch.optim.SGD(weights, lr=lr, momentum=MOMENTUM, nesterov=True,
                                        weight_decay=decay, fused=True)
        elif params.optimizer == "adam":
            optimizer = torch.optim.Adam(weights, lr=lr, weight_decay=decay, fused=True)
        else:
            optimizer = torch.optim.AdamW(weights, lr=lr, weight_decay=decay, fused=True)
        order = torch.Generator().manual_seed(seed)
        step = 0
        for _ in range(params.epochs):
            model.train()
            perm = torch.randperm(len(x), generator=order)
            losses = []
            for start, end in zip(starts, ends, strict=True):
                idx = perm[start:end]
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
                if lrs:
                    step += 1
                    for group in optimizer.param_groups:
                        group["lr"] = lrs[step]
            model.eval()
            with torch.inference_mode():
                out = model(data.x_val)
                val = torch.nn.functional.cross_entropy(out, data.y_val, reduction="sum")
                correct = (out.argmax(dim=1) == data.y_val).sum()
                train_sum = torch.dot(torch.stack(losses), sizes)
            curve.append((train_sum.item() / len(x), val.item() / len(data.y_val),
                          correct.item() / len(data.y_val)))
    return curve


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_default_path_is_bit_identical_to_the_plain_loop(optimizer: str) -> None:
    plan, data = mlp(norm="batch", dropout=0.2), blobs(n=310)  # a partial last batch
    params = TrainingParams(lr=1e-2, epochs=3, batch_size=32, optimizer=optimizer)
    with seeded(3):
        expected = reference_train(build_from_plan(plan), data, params, seed=3)
    for precision in ("fp32", "auto"):  # "auto" is fp32 on CPU
        with seeded(3):
            model = build_from_plan(plan)
        outcome = train_candidate(model, data, params, seed=3, task="classification",
                                  precision=precision)
        got = [(p.metrics["train_loss"], p.metrics["val_loss"], p.metrics["val_accuracy"])
               for p in outcome.curve]
        assert got == expected


def cnn_data(n: int = 200) -> DeviceData:
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    a, b = int(0.6 * n), int(0.8 * n)
    spec = DataSpec((3, 8, 8), CLASSES, "classification", "images")
    return DeviceData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], spec)


def cnn() -> NetworkPlan:
    return (PlanBuilder("cnn", (3, 8, 8)).conv(6, 3).norm("batch")
            .activation("relu").pool("avg", 2).flatten().linear(CLASSES).build())


def test_channels_last_matches_contiguous() -> None:
    data = cnn_data()
    outcomes = {}
    for layout in (False, True):
        with seeded(0):
            model = build_from_plan(cnn())
        # SGD: the conv bias before batch norm gets only rounding-noise gradients, which
        # Adam would normalise into full-size steps (0.03 apart after one epoch)
        params = TrainingParams(lr=1e-2, epochs=2, batch_size=32, optimizer="sgd")
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        seen: list[bool] = []
        hook = conv.register_forward_pre_hook(lambda m, _, seen=seen: seen.append(
            m.weight.is_contiguous(memory_format=torch.channels_last)))
        outcomes[layout] = train_candidate(model, data, params, seed=0, task="classification",
                                           channels_last=layout)
        hook.remove()
        assert set(seen) == {layout}  # trained (and evaluated) in the layout asked for
        assert conv.weight.is_contiguous()  # handed back as a fused or exported model is
    for a, b in zip(outcomes[False].curve, outcomes[True].curve, strict=True):
        for key in ("train_loss", "val_loss"):
            torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)
    assert outcomes[True].test_loss == pytest.approx(outcomes[False].test_loss, rel=1e-4)


def test_channels_last_auto_is_on_for_convolutions_and_off_for_flat_inputs() -> None:
    from nasforge.evaluator.layout import use_channels_last

    x = torch.zeros(2, 3, 8, 8)
    model = build_from_plan(cnn())
    assert use_channels_last("auto", model, x)  # on the CPU too: oneDNN's NHWC kernels
    assert not use_channels_last(False, model, x)
    assert not use_channels_last("auto", nn.Sequential(nn.Flatten(), nn.Linear(192, 4)), x)
    assert use_channels_last(True, model, x)
    assert not use_channels_last(True, model, torch.zeros(2, 8))
    with pytest.raises(ConfigError, match="channels_last"):
        use_channels_last("yes", model, x)


@pytest.mark.slow
def test_compiled_model_trains_close_to_eager() -> None:
    data = blobs(n=256)  # full batches only: one compiled training shape (and one for eval)
    eager = train(mlp(), data, epochs=2, batch_size=32, lr=1e-2, optimizer="sgd")
    with seeded(0):
        model = build_from_plan(mlp())
    compiled = train_candidate(model, data, TrainingParams(lr=1e-2, epochs=2, batch_size=32,
                                                           optimizer="sgd"),
                               seed=0, task="classification", compile=True)
    for a, b in zip(eager.curve, compiled.curve, strict=True):
        for key in ("train_loss", "val_loss"):
            torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)
