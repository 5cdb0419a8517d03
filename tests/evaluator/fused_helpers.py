"""Helpers of the fused-training tests: data, plans, and the agreement check against
`train_candidate` on each candidate alone (the plain reference)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES
from evaluator_helpers import blobs as make_blobs

from nasforge.evaluator import local
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.fused import train_fused
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import Diverged, TrainingParams, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import DataSpec, NetworkPlan, PlanBuilder

TOL = {"rtol": 1e-4, "atol": 1e-5}  # float rounding only: fused kernels vs stacked math
IMAGE = (1, 6, 6)


def blobs(n: int = 203, *, task: str = "classification") -> DeviceData:
    """121 train samples: batch 24 leaves a lone last one."""
    return make_blobs(n, task=task)


def images(n: int = 150) -> DeviceData:
    """Blobs of (1, 6, 6) images (a class pattern plus noise), split 60/20/20."""
    g = torch.Generator().manual_seed(1)
    patterns = torch.randn(CLASSES, *IMAGE, generator=g) * 2
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = patterns[y] + torch.randn(n, *IMAGE, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    spec = DataSpec(IMAGE, CLASSES, "classification", "image-blobs")
    return DeviceData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], spec)


def mlp(norm: str = "none", activation: str = "relu", width: int | Sequence[int] = 16,
        depth: int = 2, outputs: int = CLASSES, dropout: float = 0.0) -> NetworkPlan:
    widths = [width] * depth if isinstance(width, int) else list(width)
    plan = PlanBuilder("mlp", (FEATURES,))
    for w in widths:
        plan.linear(w, bias=norm == "none").norm_activation(norm, activation).dropout(dropout)
    return plan.linear(outputs).build()


def cnn(channels: Sequence[int] = (4, 6), *, kernel: int = 3, norm: str = "batch",
        activation: str = "relu", pool: str = "max", readout: str = "flatten",
        stride: int = 1, dilation: int = 1, head: int = 0) -> NetworkPlan:
    plan = PlanBuilder("cnn", IMAGE)
    for c in channels:
        plan.conv(c, kernel, stride=stride, dilation=dilation, bias=norm == "none")
        plan.norm_activation(norm, activation)
        if pool != "none":
            plan.pool(pool, 2)
    plan.global_pool() if readout == "global_avg" else plan.flatten()
    if head:
        plan.linear(head).activation(activation)
    return plan.linear(CLASSES).build()


def reference(plan: NetworkPlan, data: DeviceData, params: TrainingParams, seed: int,
              task: str) -> tuple[torch.nn.Module, object]:
    with seeded(seed):
        model = build_from_plan(plan)
    try:
        return model, train_candidate(model, data, params, seed=seed, task=task)
    except Diverged as err:
        return model, err


def check_agrees(plans: NetworkPlan | Sequence[NetworkPlan], params: list[TrainingParams],
                 task: str = "classification", diverging: tuple[int, ...] = (),
                 data: DeviceData | None = None, tol: dict[str, float] | None = None) -> None:
    """Fused training of (plan i, params i, seed i) equals training each alone: weights,
    buffers, every curve point and the final metrics (within `tol`, default TOL);
    divergence alike."""
    tol = tol or TOL
    data = data if data is not None else blobs(task=task)
    plans = [plans] * len(params) if isinstance(plans, NetworkPlan) else list(plans)
    seeds = [11 + 7 * i for i in range(len(params))]
    results = train_fused(plans, data, params, seeds=seeds, task=task)
    assert len(results) == len(params)
    for i, (plan, result, p, seed) in enumerate(zip(plans, results, params, seeds,
                                                     strict=True)):
        model, expected = reference(plan, data, p, seed, task)
        if i in diverging:
            assert isinstance(expected, Diverged) and isinstance(result.error, Diverged)
            assert result.outcome is None and result.error.epoch == expected.epoch
            assert result.error.split == expected.split
            continue
        assert result.error is None and not isinstance(expected, Diverged)
        got = result.outcome
        assert got is not None and len(got.curve) == p.epochs
        torch.testing.assert_close(result.model.state_dict(), model.state_dict(), **tol)
        for mine, theirs in zip(got.curve, expected.curve, strict=True):
            assert mine.epoch == theirs.epoch and mine.metrics.keys() == theirs.metrics.keys()
            torch.testing.assert_close(mine.metrics, theirs.metrics, **tol)
        for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
            torch.testing.assert_close(getattr(got, key), getattr(expected, key), **tol)
        assert got.epochs == expected.epochs


def spy_train_fused(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make LocalEvaluator's `train_fused` record the size of every stack it trains (the list
    returned grows as it runs); training itself is unchanged."""
    sizes: list[int] = []
    real = local.train_fused

    def spy(plans: list, *args: object, **kwargs: object) -> list:
        sizes.append(len(plans))
        return real(plans, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "train_fused", spy)
    return sizes
