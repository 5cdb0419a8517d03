"""Bucketing for fused training: which candidates share one stacked model."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import FEATURES
from fused_helpers import TOL, blobs, cnn, mlp, spy_train_fused

from nasforge.evaluator.fused import padded_macs, split_by_padding
from nasforge.evaluator.local import LocalEvaluator
from nasforge.records import TrialState
from nasforge.searchspace.architecture import Architecture


def test_padded_macs_take_the_widest_size_of_every_layer() -> None:
    a, b = mlp(width=[16, 8]), mlp(width=[5, 12])
    assert padded_macs([a]) == a.macs
    assert padded_macs([a, b]) == FEATURES * 16 + 16 * 12 + 12 * 3
    small, wide = cnn((4, 6)), cnn((2, 8))
    assert padded_macs([small, wide]) == cnn((4, 8)).macs


def test_tiny_networks_share_one_bucket_whatever_their_widths() -> None:
    plans = [mlp(width=w) for w in (4, 64, 16, 32)]
    assert split_by_padding(plans, lambda p: p) == [plans]


def test_padding_that_wastes_compute_splits_the_bucket() -> None:
    plans = [mlp(width=w, depth=3) for w in (256, 16, 240, 24)]
    buckets = split_by_padding(plans, lambda p: p, tiny_macs=0)
    assert buckets == [[plans[0], plans[2]], [plans[1], plans[3]]]
    assert split_by_padding(plans, lambda p: p, max_padding=100.0) == [plans]


def arch(**changes: object) -> Architecture:
    values = {"family": "mlp", "mlp.depth": 2, "mlp.width": 16, "activation": "relu",
              "norm": "batch", "dropout": 0.0, "lr": 3e-3, "epochs": 2, "batch_size": 24,
              "optimizer": "adamw", "schedule": "cosine", **changes}
    return Architecture(values)  # type: ignore[arg-type]


def test_local_evaluator_fuses_mixed_widths_and_activations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    archs = [arch(**{"mlp.width": w}, activation=a, lr=1e-3 * (i + 1))
             for i, (w, a) in enumerate([(16, "relu"), (8, "gelu"), (32, "tanh"), (4, "relu")])]
    archs.append(arch(epochs=1))  # another bucket: alone, so sequential
    sizes = spy_train_fused(monkeypatch)
    fused = LocalEvaluator(blobs(), seed=3, fused=True, measure_latency=False).evaluate(archs)
    plain = LocalEvaluator(blobs(), seed=3, fused=False, measure_latency=False).evaluate(archs)
    assert sizes == [4]
    for a, b in zip(fused, plain, strict=True):
        assert a.state is b.state is TrialState.COMPLETE
        drop = ("train_seconds", "train_cpu_seconds")
        torch.testing.assert_close({k: v for k, v in a.metrics.items() if k not in drop},
                                   {k: v for k, v in b.metrics.items() if k not in drop},
                                   **TOL)
