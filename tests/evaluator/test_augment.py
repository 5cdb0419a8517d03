"""On-device augmentation: what each op does, the per-candidate seeded stream, training
batches only, fused training equal to training alone, and the checks of bad settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from evaluator_helpers import distinct_archs
from fused_helpers import IMAGE, TOL, check_agrees, cnn, images, spy_train_fused
from torch import nn

from nasforge.errors import ConfigError
from nasforge.evaluator.augment import (
    AUGMENTATIONS,
    Augmentation,
    Augmenter,
    augment_stacked,
    check_augment,
)
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainingParams, train_candidate
from nasforge.searchspace.build import build_from_plan

ALL = ("crop", "flip", "cutout")


def batch(n: int = 32, shape: tuple[int, ...] = (3, 8, 8)) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(5)) + 3.0


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 16), (1, 7, 9)])
def test_same_seed_same_batch_different_seeds_differ(shape: tuple[int, ...]) -> None:
    x = batch(shape=shape)
    a, b, c = Augmenter(ALL, 1)(x), Augmenter(ALL, 1)(x), Augmenter(ALL, 2)(x)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, c)
    stream = Augmenter(ALL, 1)
    assert not torch.equal(stream(x), stream(x))  # every step draws anew


def test_crop_is_a_zero_padded_translation() -> None:
    x = batch(64)
    out = Augmenter(["crop"], 3)(x)
    pad = 1  # 8 // 8
    for i in range(len(x)):
        found = False
        for dy in range(-pad, pad + 1):
            for dx in range(-pad, pad + 1):
                shifted = torch.zeros_like(x[i])
                src = x[i][:, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)]
                shifted[:, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)] = src
                found |= torch.equal(out[i], shifted)
        assert found, i


def test_flip_reverses_the_last_axis_of_about_half_the_samples() -> None:
    x = batch(400)
    out = Augmenter(["flip"], 0)(x)
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x, strict=True)]
    kept = [torch.equal(o, s) for o, s in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250


def test_cutout_zeroes_one_window_of_a_quarter_side() -> None:
    x = batch(200, (1, 16, 16))
    out = Augmenter(["cutout"], 4)(x)
    zeroed = (out == 0) & (x != 0)
    assert torch.equal(out[~zeroed], x[~zeroed])
    counts = zeroed.flatten(1).sum(1)
    assert counts.max() == 16 and counts.min() >= 4  # 4x4, clipped at the border
    rows, cols = zeroed[:, 0].any(2), zeroed[:, 0].any(1)
    assert (rows.sum(1) <= 4).all() and (cols.sum(1) <= 4).all()


def test_stacked_rows_get_each_candidates_own_draws() -> None:
    x = batch(3 * 10)
    stacked = augment_stacked([Augmenter(ALL, s) for s in (7, 8, 9)], x)
    for m, seed in enumerate((7, 8, 9)):
        alone = Augmenter(ALL, seed)(x[10 * m:10 * (m + 1)])
        assert torch.equal(stacked[10 * m:10 * (m + 1)], alone)


class Recorder(nn.Module):
    """Records the inputs the model sees, in training and in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.train_inputs: list[torch.Tensor] = []
        self.eval_inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (self.train_inputs if self.training else self.eval_inputs).append(x.detach().clone())
        return x


def _recorded(augment: tuple[str, ...]) -> tuple[Recorder, list[torch.Tensor]]:
    """The inputs a 2-epoch training saw, and the evaluation inputs it should have seen."""
    data = dataclasses.replace(images(), augment=augment)
    with seeded(0):
        recorder = Recorder()
        model = nn.Sequential(recorder, nn.Flatten(), nn.Linear(36, 3))
    train_candidate(model, data, TrainingParams(batch_size=30, epochs=2), seed=3,
                    task="classification")
    return recorder, [data.x_val, data.x_val, data.x_test]


def test_training_batches_are_augmented_and_evaluation_batches_never() -> None:
    plain, _ = _recorded(())
    augmented, evaluated = _recorded(ALL)
    assert len(plain.train_inputs) == len(augmented.train_inputs)
    assert all(not torch.equal(a, b) for a, b in
               zip(plain.train_inputs, augmented.train_inputs, strict=True))
    for recorder in (plain, augmented):
        assert len(recorder.eval_inputs) == len(evaluated)
        assert all(torch.equal(a, b) for a, b in
                   zip(recorder.eval_inputs, evaluated, strict=True))


def test_augmentation_changes_training_and_is_reproducible() -> None:
    plan = cnn()
    params = TrainingParams(batch_size=16, epochs=2)

    def run(augment: tuple[str, ...]) -> float:
        with seeded(4):
            model = build_from_plan(plan)
        data = dataclasses.replace(images(), augment=augment)
        return train_candidate(model, data, params, seed=4, task="classification").val_loss

    assert run(ALL) == run(ALL)
    assert run(ALL) != run(())


@pytest.mark.parametrize("augment", [ALL, ("flip",), ("cutout", "crop")])
def test_fused_training_with_augmentation_matches_training_each_alone(
        augment: tuple[str, ...]) -> None:
    plans = [cnn((4, 6)), cnn((2, 8), activation="gelu"), cnn((4, 3))]
    params = [TrainingParams(lr=2e-3 * (i + 1), batch_size=16, epochs=2) for i in range(3)]
    check_agrees(plans, params, data=dataclasses.replace(images(), augment=augment), tol=TOL)


def test_the_local_evaluator_gives_the_same_results_fused_or_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = {"search": {"name": "t"}, "data": {"dataset": "digits"},
           "training": {"epochs": 2, "batch_size": 16},
           "space": {"families": ["cnn"], "norm": ["batch"], "activation": ["relu", "gelu"],
                     "cnn": {"stages": 1, "convs_per_stage": 1, "channels": [2, 3, 4, 6, 8],
                             "head_width": 0, "pool": "max", "readout": "flatten"}}}
    archs = distinct_archs(raw, 3)
    data = dataclasses.replace(images(), augment=ALL)
    sizes = spy_train_fused(monkeypatch)
    fused = LocalEvaluator(data, seed=2, fused=True, measure_latency=False).evaluate(archs)
    alone = LocalEvaluator(data, seed=2, fused=False, measure_latency=False).evaluate(archs)
    assert sizes and max(sizes) >= 2  # some were trained as one stack
    drop = ("train_seconds", "train_cpu_seconds")
    for a, b in zip(fused, alone, strict=True):
        assert a.state == b.state and a.error is None
        torch.testing.assert_close({k: v for k, v in a.metrics.items() if k not in drop},
                                   {k: v for k, v in b.metrics.items() if k not in drop}, **TOL)
    plain = LocalEvaluator(images(), seed=2, fused=False, measure_latency=False).evaluate(archs)
    assert all(a.metrics["loss"] != b.metrics["loss"] for a, b in zip(alone, plain, strict=True))


def test_a_plugin_augmentation_is_used_by_name() -> None:
    def draw(gen: torch.Generator, n: int, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randint(0, 2, (n, 1), generator=gen)

    def negate(x: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        return torch.where(signs.view(-1, *[1] * (x.ndim - 1)).bool(), -x, x)

    AUGMENTATIONS.register("test-negate", Augmentation(draw, negate, "sign flip"))
    try:
        check_augment(["test-negate"], IMAGE)
        x = batch()
        out = Augmenter(["test-negate"], 0)(x)
        assert all(torch.equal(o, s) or torch.equal(o, -s) for o, s in zip(out, x, strict=True))
    finally:
        AUGMENTATIONS._remove("test-negate")


def test_an_unknown_name_is_refused_with_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"'crp'.*Did you mean 'crop'"):
        check_augment(["crp"], IMAGE)


def test_tabular_data_refuses_augmentation() -> None:
    with pytest.raises(ConfigError, match=r"tabular data.*input_shape"):
        check_augment(["flip"], (12,))
    check_augment([], (12,))
    check_augment(["flip", "crop", "cutout"], (2, 40))
