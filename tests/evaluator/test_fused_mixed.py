"""Fused training of candidates that differ in depth, norm kind and dropout rate (aligned into
one stack, `fused.align`) agrees with training each alone: weights written back to each model,
buffers, curves and final metrics, within TOL."""

from __future__ import annotations

import pytest
import torch
from fused_helpers import blobs, check_agrees, mlp

from nasforge.evaluator.fused import train_fused
from nasforge.evaluator.fused.align import align, align_key
from nasforge.evaluator.train import TrainingParams


def params(count: int, **changes: object) -> list[TrainingParams]:
    return [TrainingParams(lr=10 ** (-3 + 0.3 * i), weight_decay=0.02 * (i + 1), batch_size=24,
                           epochs=3, **changes)  # type: ignore[arg-type]
            for i in range(count)]


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_depths_one_to_three_match_training_alone(norm: str) -> None:
    plans = [mlp(norm, width=w, depth=d) for w, d in ((16, 1), (8, 3), (24, 2), (12, 0))]
    check_agrees(plans, params(len(plans)))


def test_norm_kinds_mixed_match_training_alone() -> None:
    plans = [mlp(norm, width=w) for norm, w in (("none", 16), ("batch", 8), ("layer", 24),
                                                ("batch", 12))]
    check_agrees(plans, params(len(plans)))


def test_dropout_rates_mixed_match_training_alone() -> None:
    plans = [mlp("batch", width=16, dropout=p) for p in (0.0, 0.1, 0.2, 0.1)]
    check_agrees(plans, params(len(plans)))


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_everything_mixed_matches_training_alone(optimizer: str) -> None:
    plans = [mlp(norm, act, width=w, depth=d, dropout=p) for norm, act, w, d, p in (
        ("none", "relu", 16, 1, 0.0), ("batch", "gelu", 32, 3, 0.2),
        ("layer", "tanh", 8, 2, 0.1), ("batch", "silu", [12, 20], 2, 0.0),
        ("layer", "relu", 24, 3, 0.2), ("none", "mish", 4, 2, 0.1))]
    check_agrees(plans, params(len(plans), optimizer=optimizer))


def test_activation_groups_side_by_side_match_training_alone() -> None:
    plans = [mlp(norm, act, width=w, depth=d, dropout=p) for norm, act, w, d, p in (
        ("batch", "gelu", 16, 1, 0.1), ("layer", "gelu", 8, 3, 0.0),
        ("none", "relu", 24, 2, 0.2), ("batch", "relu", 12, 2, 0.1),
        ("none", "tanh", 20, 3, 0.0))]
    check_agrees(plans, params(len(plans)))


def test_mixed_stack_with_a_diverging_model_matches() -> None:
    plans = [mlp(norm, width=w, depth=d, dropout=p) for norm, w, d, p in (
        ("batch", 16, 1, 0.1), ("layer", 8, 3, 0.0), ("none", 24, 2, 0.2))]
    ps = params(3)
    ps[1] = TrainingParams(lr=1e30, batch_size=24, epochs=3)
    check_agrees(plans, ps, diverging=(1,))


def test_skipped_slots_are_not_the_models_parameters() -> None:
    """A shallow model's skipped layers stay exactly zero and leave its own weights alone:
    its written-back model has only its own parameters, equal to a stack with it alone."""
    shallow, deep = mlp("batch", width=8, depth=1), mlp("layer", width=32, depth=3,
                                                        dropout=0.2)
    ps = params(2)
    alone = train_fused([shallow], blobs(), ps[:1], seeds=[5], task="classification")[0]
    mixed = train_fused([shallow, deep], blobs(), ps, seeds=[5, 6],
                        task="classification")[0]
    assert mixed.model.state_dict().keys() == alone.model.state_dict().keys()
    torch.testing.assert_close(mixed.model.state_dict(), alone.model.state_dict(),
                               rtol=1e-5, atol=1e-6)


def test_alignment_shares_slots_and_keeps_anchors() -> None:
    shallow, deep = mlp("batch", width=8, depth=1), mlp("layer", width=32, depth=2, dropout=0.1)
    assert align_key(shallow) == align_key(deep)
    slots = align([shallow, deep]).slots
    kinds = [type(slot.reference).__name__ for slot in slots]
    # both first layers share slot 0; batch and layer norm get one slot each
    assert kinds[:5] == ["Linear", "Norm", "Norm", "Activation", "Dropout"]
    assert slots[0].index == (0, 0)
    shallow_ops = [s.index[0] for s in slots if s.index[0] is not None]
    deep_ops = [s.index[1] for s in slots if s.index[1] is not None]
    assert shallow_ops == list(range(len(shallow.ops)))
    assert deep_ops == list(range(len(deep.ops)))
