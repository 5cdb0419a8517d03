"""The proxy registry: one `ProxySpec` per zero-cost proxy, by name (`PROXIES`).

A zero-cost proxy scores a freshly initialised network from one mini-batch, without training
(Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021). Each spec's
`compute(model, batch) -> float` receives a private copy of the model (`score` makes it), so a
proxy may change weights, modes or dtypes freely; larger is better for every proxy here.

`applies(model) -> str | None` says why a proxy cannot score a network (None: it can), e.g. a
proxy that reads activation patterns needs activation layers; `nasforge.proxies.checks`
asks it for one network of every family before a search starts. A plugin registers its own
proxy with ``PROXIES.register("name", ProxySpec(...))``.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nasforge.evaluator.seeding import seeded
from nasforge.metrics import ZERO_COST_PREFIX
from nasforge.registry import Registry

logger = logging.getLogger(__name__)

#: The metric a proxy's score is stored under: ``zc_<name>``.
METRIC_PREFIX = ZERO_COST_PREFIX
#: Samples of the mini-batch a proxy sees (Abdelfattah et al. use one batch of 64).
BATCH_SIZE = 64


@dataclass(frozen=True, slots=True, eq=False)
class ProxyBatch:
    """One mini-batch: x (N, *input_shape) float, y (N,) int64 classes or (N[, K]) float
    targets, on the model's device; `task` "classification" or "regression"."""

    x: torch.Tensor
    y: torch.Tensor
    task: str = "classification"


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """`compute(model, batch)`: the score of `model` (a copy, in train mode) on `batch`;
    `applies(model)`: why it cannot score `model`, or None; `summary`: one line with its
    reference."""

    name: str
    compute: Callable[[nn.Module, ProxyBatch], float]
    summary: str
    applies: Callable[[nn.Module], str | None] | None = None


PROXIES: Registry[ProxySpec] = Registry("proxy")


def metric_name(proxy: str) -> str:
    """``zc_<proxy>``: the trial metric that holds a proxy's score."""
    return f"{METRIC_PREFIX}{proxy}"


def inapplicable(name: str, model: nn.Module) -> str | None:
    """Why proxy `name` cannot score `model` (None: it can)."""
    spec = PROXIES.get(name)
    return None if spec.applies is None else spec.applies(model)


def score(name: str, model: nn.Module, batch: ProxyBatch, seed: int) -> float:
    """Proxy `name` of `model` on `batch`, computed on a deep copy in train mode under
    `seed` (dropout masks, random inputs), so `model` (weights, buffers, mode, gradients) is
    left exactly as it was. A non-finite score, or a proxy that raises on this network (logged),
    becomes -inf (the worst rank), never NaN and never an error."""
    spec = PROXIES.get(name)
    work = copy.deepcopy(model)
    work.train()
    try:
        with seeded(seed, batch.x.device):
            value = float(spec.compute(work, batch))
    except Exception as err:  # one odd candidate must not fail its trial or the pool
        logger.warning("Proxy %s cannot score this network (%s: %s); it scores -inf",
                       name, type(err).__name__, err)
        return -math.inf
    if value == math.inf:  # e.g. synflow overflowing in float32: the largest finite score,
        return sys.float_info.max  # so JSON (no infinities) and ranking keep it on top
    return value if math.isfinite(value) else -math.inf


def proxy_batch(x: torch.Tensor, y: torch.Tensor, task: str, seed: int,
                size: int = BATCH_SIZE) -> ProxyBatch:
    """`size` samples of (x, y) drawn without replacement by a generator seeded with `seed`
    (the trial's seed: the same candidate always sees the same batch)."""
    generator = torch.Generator().manual_seed(int(seed) & (2**63 - 1))
    index = torch.randperm(len(x), generator=generator)[: min(size, len(x))].to(x.device)
    return ProxyBatch(x.index_select(0, index), y.index_select(0, index), task)
