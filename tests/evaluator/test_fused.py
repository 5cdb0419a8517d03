"""Fused training agrees with train_candidate on each candidate alone (the plain reference)."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES
from evaluator_helpers import blobs as make_blobs

from nasforge.evaluator.fused import FusionError, train_fused
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.tensors import DeviceData
from nasforge.evaluator.train import Diverged, TrainingParams, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder

TOL = {"rtol": 1e-4, "atol": 1e-5}  # float rounding only: fused kernels vs stacked math


def blobs(n: int = 203, *, task: str = "classification") -> DeviceData:
    """121 train samples: batch 24 leaves a lone last one."""
    return make_blobs(n, task=task)


def mlp(norm: str = "none", activation: str = "relu", width: int = 16, depth: int = 2,
        outputs: int = CLASSES) -> NetworkPlan:
    plan = PlanBuilder("mlp", (FEATURES,))
    for _ in range(depth):
        plan.linear(width, bias=norm == "none").norm_activation(norm, activation)
    return plan.linear(outputs).build()


def reference(plan: NetworkPlan, data: DeviceData, params: TrainingParams, seed: int,
              task: str) -> tuple[torch.nn.Module, object]:
    with seeded(seed):
        model = build_from_plan(plan)
    try:
        return model, train_candidate(model, data, params, seed=seed, task=task)
    except Diverged as err:
        return model, err


def check_agrees(plan: NetworkPlan, params: list[TrainingParams], task: str = "classification",
                 diverging: tuple[int, ...] = ()) -> None:
    data = blobs(task=task)
    seeds = [11 + 7 * i for i in range(len(params))]
    results = train_fused([plan] * len(params), data, params, seeds=seeds, task=task)
    assert len(results) == len(params)
    for i, (result, p, seed) in enumerate(zip(results, params, seeds, strict=True)):
        model, expected = reference(plan, data, p, seed, task)
        if i in diverging:
            assert isinstance(expected, Diverged) and isinstance(result.error, Diverged)
            assert result.outcome is None and result.error.epoch == expected.epoch
            assert result.error.split == expected.split
            continue
        assert result.error is None and not isinstance(expected, Diverged)
        got = result.outcome
        assert got is not None and len(got.curve) == p.epochs
        torch.testing.assert_close(result.model.state_dict(), model.state_dict(), **TOL)
        for mine, theirs in zip(got.curve, expected.curve, strict=True):
            assert mine.epoch == theirs.epoch and mine.metrics.keys() == theirs.metrics.keys()
            torch.testing.assert_close(mine.metrics, theirs.metrics, **TOL)
        for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
            torch.testing.assert_close(getattr(got, key), getattr(expected, key), **TOL)
        assert got.epochs == expected.epochs


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_three_candidates_match_training_each_alone(norm: str, activation: str) -> None:
    params = [TrainingParams(lr=lr, weight_decay=wd, batch_size=24, epochs=3)
              for lr, wd in ((3e-3, 0.0), (1e-2, 0.05), (5e-4, 0.3))]
    check_agrees(mlp(norm, activation), params)


def test_one_candidate_matches() -> None:
    check_agrees(mlp("batch"), [TrainingParams(lr=5e-3, batch_size=32, epochs=3)])


def test_eight_candidates_match_with_one_diverging() -> None:
    params = [TrainingParams(lr=10 ** (-3 + 0.25 * i), weight_decay=0.01 * i, batch_size=24,
                             epochs=3) for i in range(8)]
    params[5] = TrainingParams(lr=1e30, batch_size=24, epochs=3)
    check_agrees(mlp("layer", "gelu"), params, diverging=(5,))


@pytest.mark.parametrize(("optimizer", "schedule"),
                         [("sgd", "cosine"), ("adam", "cosine"), ("adamw", "constant")])
def test_other_optimizers_and_constant_schedule_match(optimizer: str, schedule: str) -> None:
    params = [TrainingParams(lr=lr, weight_decay=wd, batch_size=24, epochs=3,
                             optimizer=optimizer, schedule=schedule)
              for lr, wd in ((1e-2, 0.0), (3e-3, 0.1))]
    check_agrees(mlp("batch"), params)


def test_regression_matches() -> None:
    params = [TrainingParams(lr=lr, batch_size=24, epochs=3) for lr in (1e-3, 3e-3)]
    check_agrees(mlp(outputs=1), params, task="regression")


def test_image_shaped_inputs_are_flattened_and_match() -> None:
    flat = blobs()
    shape = (2, FEATURES // 2)
    data = DeviceData(*(t.reshape(len(t), *shape) if t.is_floating_point() else t
                        for t in (flat.x_train, flat.y_train, flat.x_val, flat.y_val,
                                  flat.x_test, flat.y_test)),
                      spec=DataSpec(shape, CLASSES, "classification", "blobs2d"))
    plan = PlanBuilder("mlp", shape).flatten().linear(8).activation("relu").linear(CLASSES)
    params = [TrainingParams(lr=lr, batch_size=24, epochs=2) for lr in (1e-3, 1e-2)]
    results = train_fused([plan.build()] * 2, data, params, seeds=[3, 4],
                          task="classification")
    for result, p, seed in zip(results, params, [3, 4], strict=True):
        model, expected = reference(plan.build(), data, p, seed, "classification")
        assert result.outcome is not None and not isinstance(expected, Diverged)
        torch.testing.assert_close(result.model.state_dict(), model.state_dict(), **TOL)
        torch.testing.assert_close(result.outcome.val_loss, expected.val_loss, **TOL)


def test_torch_rng_state_is_unchanged() -> None:
    before = torch.random.get_rng_state()
    train_fused([mlp()] * 2, blobs(), [TrainingParams(epochs=1)] * 2, seeds=[1, 2],
                task="classification")
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize(("plans", "params", "message"), [
    ([mlp(), mlp(width=8)], [TrainingParams()] * 2, "layer sizes differ"),
    ([mlp(), mlp("batch")], [TrainingParams()] * 2, "plan signature"),
    ([mlp(), mlp(activation="gelu")], [TrainingParams()] * 2, "plan signature"),
    ([mlp()] * 2, [TrainingParams(batch_size=8), TrainingParams()], "batch_size differs"),
    ([mlp()] * 2, [TrainingParams(optimizer="sgd"), TrainingParams()], "optimizer differs"),
    ([PlanBuilder("mlp", (FEATURES,)).linear(8).activation("relu").dropout(0.1)
      .linear(CLASSES).build()], [TrainingParams()], "dropout p=0.1"),
])
def test_incompatible_candidates_are_refused(plans: list[NetworkPlan],
                                             params: list[TrainingParams], message: str) -> None:
    with pytest.raises(FusionError, match=message):
        train_fused(plans, blobs(), params, seeds=list(range(len(plans))),
                    task="classification")
