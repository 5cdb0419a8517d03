"""Helpers of the evaluator tests (imported by name: `from evaluator_helpers import ...`)."""

from __future__ import annotations

import torch

from nasforge.evaluator.tensors import DeviceData
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
