"""Fused training agrees with train_candidate on each candidate alone (the plain reference)."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES
from fused_helpers import TOL, blobs, check_agrees, mlp, reference

from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.fused import FusionError, train_fused
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import Diverged, TrainingParams, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder


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
    ([mlp(), mlp(outputs=2)], [TrainingParams()] * 2, "layer structure differs"),
    ([mlp(), mlp(activation="prelu")], [TrainingParams()] * 2, "'prelu' has learnable"),
    ([mlp()] * 2, [TrainingParams(batch_size=8), TrainingParams()], "batch_size differs"),
    ([mlp()] * 2, [TrainingParams(optimizer="sgd"), TrainingParams()], "optimizer differs"),
    ([PlanBuilder("mlp", (FEATURES,)).linear(8).norm("rms").activation("relu")
      .linear(CLASSES).build()], [TrainingParams()], "Norm\\(kind='rms'"),
])
def test_incompatible_candidates_are_refused(plans: list[NetworkPlan],
                                             params: list[TrainingParams], message: str) -> None:
    with pytest.raises(FusionError, match=message):
        train_fused(plans, blobs(), params, seeds=list(range(len(plans))),
                    task="classification")


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_different_widths_are_padded_and_match(norm: str) -> None:
    plans = [mlp(norm, width=w) for w in ([16, 8], [5, 12], [16, 16], [3, 2])]
    params = [TrainingParams(lr=lr, weight_decay=0.05, batch_size=24, epochs=3)
              for lr in (3e-3, 1e-2, 5e-4, 2e-3)]
    check_agrees(plans, params)


def test_different_activations_in_one_stack_match() -> None:
    kinds = ["relu", "sigmoid", "gelu", "relu", "tanh"]  # sigmoid(0) != 0 on padded units
    plans = [mlp("batch", kind, width=4 + 3 * i) for i, kind in enumerate(kinds)]
    params = [TrainingParams(lr=3e-3 * (i + 1), batch_size=24, epochs=3) for i in range(5)]
    check_agrees(plans, params)


def test_a_diverging_padded_candidate_leaves_the_others_matching() -> None:
    plans = [mlp("layer", kind, width=w) for kind, w in (("gelu", 8), ("relu", 16),
                                                          ("gelu", 4))]
    params = [TrainingParams(lr=lr, batch_size=24, epochs=3) for lr in (3e-3, 1e30, 1e-2)]
    check_agrees(plans, params, diverging=(1,))


def test_bf16_fused_training_follows_bf16_training_alone() -> None:
    data, plan = blobs(), mlp("layer", "gelu")
    params = [TrainingParams(lr=lr, batch_size=24, epochs=3) for lr in (3e-3, 1e-2)]
    bf16 = train_fused([plan] * 2, data, params, seeds=[1, 2], task="classification",
                       precision="bf16")
    fp32 = train_fused([plan] * 2, data, params, seeds=[1, 2], task="classification")
    for mine, full, p, seed in zip(bf16, fp32, params, [1, 2], strict=True):
        with seeded(seed):
            model = build_from_plan(plan)
        alone = train_candidate(model, data, p, seed=seed, task="classification",
                                precision="bf16")
        assert mine.outcome is not None and full.outcome is not None
        assert mine.outcome.val_loss != full.outcome.val_loss  # autocast ran
        # bf16 keeps 8 bits of mantissa: the two bf16 runs round differently, but stay close
        assert abs(mine.outcome.val_loss - alone.val_loss) < 0.05
        assert abs((mine.outcome.val_accuracy or 0) - (alone.val_accuracy or 0)) <= 0.05


def test_dropout_masks_come_from_each_candidates_own_stream() -> None:
    plans = [mlp(width=w, dropout=p) for w, p in ((16, 0.3), (8, 0.3), (12, 0.3))]
    check_agrees(plans, [TrainingParams(lr=lr, batch_size=24, epochs=3)
                         for lr in (3e-3, 1e-2, 5e-3)])
    before = torch.random.get_rng_state()
    train_fused(plans[:2], blobs(), [TrainingParams(epochs=1)] * 2, seeds=[1, 2],
                task="classification")
    assert torch.equal(before, torch.random.get_rng_state())
