"""The proxy contract, for every registered proxy over every registered family (tested by
being registered): finite, deterministic under the trial seed, the scored model unchanged;
with batch and other norms, learnable activations and quantized layers (fake-quant, STE)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nasforge.errors import SpaceError
from nasforge.evaluator.seeding import seeded
from nasforge.proxies import PROXIES, proxy_batch, score
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.plan import DataSpec

SPEC = DataSpec((1, 8, 8), 3, "classification", "tiny-images")
#: layer choices every family is tried with: norms of every kind, learnable activations,
#: fake-quantized weights and activations with fixed and learned (LSQ) steps
LAYERS = {"activation": ["relu", "gelu", "prelu", "pau"],
          "norm": ["none", "batch", "layer", "group", "evonorm_s0"]}
QUANT = {"weight_bits": [8, 4, 2, 1], "act_bits": [32, 4], "quant_step": ["fixed", "learned"]}
ARCHS_PER_FAMILY = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small networks: one thread is fastest, and on a loaded machine much faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _archs(family: str) -> list:
    try:
        space = assemble_space([family], {**LAYERS, **QUANT}, {})
    except SpaceError:  # a family without quantized layers: its other layers still count
        space = assemble_space([family], LAYERS, {})
    return space.sample_distinct(ARCHS_PER_FAMILY, np.random.default_rng(7))


def _model(arch, seed: int = 3) -> torch.nn.Module:
    with seeded(seed):
        return build_from_plan(plan_for(arch, SPEC))


def _batch(seed: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, *SPEC.input_shape, generator=g)
    y = torch.randint(0, 3, (80,), generator=g)
    return proxy_batch(x, y, "classification", seed, size=16)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("proxy", PROXIES.names())
def test_every_proxy_scores_every_family(proxy: str, family: str) -> None:
    batch = _batch()
    for arch in _archs(family):
        model = _model(arch)
        model.eval()
        before = _snapshot(model)
        value = score(proxy, model, batch, seed=3)
        assert math.isfinite(value), (proxy, dict(arch))
        assert value == score(proxy, _model(arch), batch, seed=3)  # deterministic
        after = _snapshot(model)
        assert after.keys() == before.keys()
        for key, tensor in before.items():
            assert torch.equal(after[key], tensor), (proxy, key)
        assert not model.training and all(p.grad is None for p in model.parameters())
        assert all(p.dtype == torch.float32 for p in model.parameters())


def test_the_batch_is_drawn_by_the_trial_seed() -> None:
    x = torch.arange(100.0).reshape(100, 1)
    y = torch.zeros(100, dtype=torch.long)
    first = proxy_batch(x, y, "classification", 5, size=10)
    assert torch.equal(first.x, proxy_batch(x, y, "classification", 5, size=10).x)
    assert not torch.equal(first.x, proxy_batch(x, y, "classification", 6, size=10).x)
    assert len(proxy_batch(x[:4], y[:4], "classification", 5).x) == 4  # small data: all of it


def test_scoring_leaves_the_global_rng_alone() -> None:
    arch = _archs("mlp")[0]
    model, batch = _model(arch), _batch()
    state = torch.random.get_rng_state()
    for proxy in PROXIES.names():
        score(proxy, model, batch, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
