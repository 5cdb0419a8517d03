"""Helpers of the evaluator tests (imported by name: `from evaluator_helpers import ...`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pytest
import torch

from nasforge.config import from_dict
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.plan import DataSpec

FEATURES, CLASSES = 8, 3


def blobs(n: int = 300, *, task: str = "classification") -> DeviceData:
    """Gaussian blobs (FEATURES features, CLASSES classes; regression: a linear target),
    split 60/20/20 in order."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(CLASSES, FEATURES, generator=g) * 4
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = centers[y] + torch.randn(n, FEATURES, generator=g)
    if task == "regression":
        y = x @ torch.randn(FEATURES, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    spec = DataSpec((FEATURES,), CLASSES if task == "classification" else 1, task, "blobs")
    return DeviceData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], spec)


def distinct_archs(raw: Mapping, n: int, seed: int = 0) -> list[Architecture]:
    """`n` different architectures sampled from the space of the config `raw`."""
    return from_dict(raw).space.sample_distinct(n, np.random.default_rng(seed))


def assert_same_results(got: Sequence[EvalResult], expected: Sequence[EvalResult],
                        ignore: Collection[str]) -> None:
    """Equal states and errors; metrics (but `ignore`) and curves within fused training's
    tolerance (an executor's worker may fuse chunk-mates that the reference trained alone)."""
    assert [(r.state, r.error) for r in got] == [(r.state, r.error) for r in expected]
    for a, b in zip(got, expected, strict=True):
        keys = set(b.metrics) - set(ignore)
        assert set(a.metrics) - set(ignore) == keys
        for key in keys:
            assert a.metrics[key] == pytest.approx(b.metrics[key], rel=1e-4, abs=1e-5), key
        assert [p.epoch for p in a.curve] == [p.epoch for p in b.curve]
        for pa, pb in zip(a.curve, b.curve, strict=True):
            assert dict(pa.metrics) == pytest.approx(dict(pb.metrics), rel=1e-4, abs=1e-5)
