"""The SqueezeExcite plan op: its torch-free cost, its module against the formula, its check,
and its markers (trained alone; elastic in the supernet)."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from nasforge.searchspace.build import BuildCtx, build_from_plan
from nasforge.searchspace.plan import PlanBuilder
from nasforge.searchspace.plan_ops import SqueezeExcite
from nasforge.searchspace.specs import NOT_STACKABLE, resolve, spec_of


def test_cost_counts_the_two_1x1_layers() -> None:
    op = SqueezeExcite(24, 6, 2, "hardsigmoid")
    cost = spec_of(op).cost(op, (24, 7, 7))
    assert cost.params == 2 * 24 * 6 + 6 + 24
    assert cost.macs == cost.weights == 2 * 24 * 6  # one position: the pooled features
    assert cost.weight_bits == cost.act_bits == 32
    module = BuildCtx().module(op)
    assert sum(p.numel() for p in module.parameters()) == cost.params


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
@pytest.mark.parametrize("shape", [(5, 8, 6, 7), (5, 8, 11)], ids=["2d", "1d"])
def test_module_gates_each_channel_by_its_pooled_mean(gate: str, shape: tuple[int, ...]) -> None:
    dims = len(shape) - 2
    torch.manual_seed(0)
    module = BuildCtx().module(SqueezeExcite(8, 3, dims, gate))
    x = torch.randn(*shape)
    pooled = x.flatten(2).mean(-1)  # (N, C)
    hidden = F.relu(pooled @ module.down.weight.flatten(1).T + module.down.bias)
    logits = hidden @ module.up.weight.flatten(1).T + module.up.bias
    scale = torch.sigmoid(logits) if gate == "sigmoid" else F.hardsigmoid(logits)
    expected = x * scale.reshape(*scale.shape, *(1,) * dims)
    torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize(("op", "reason"), [
    (SqueezeExcite(8, 2, 0), "spatial axes"),
    (SqueezeExcite(8, 0, 2), "at least 1"),
    (SqueezeExcite(8, 2, 2, "tanh"), "sigmoid, hardsigmoid"),
])
def test_check_refuses_what_cannot_be_built(op: SqueezeExcite, reason: str) -> None:
    why = resolve(spec_of(op).check)(op)
    assert why is not None and reason in why


def test_trained_alone_and_elastic_in_the_supernet() -> None:
    spec = spec_of(SqueezeExcite(8, 2, 2))
    assert spec.fused is NOT_STACKABLE
    assert resolve(spec.elastic) is resolve("nasforge.supernet.squeeze_excite:SQUEEZE_EXCITE")
    assert spec.attribute_prefix(SqueezeExcite(8, 2, 2)) == "se"


def test_plan_and_model_pickle_for_worker_processes() -> None:
    builder = PlanBuilder("custom", (4, 6, 6)).conv(8, 3)
    plan = builder.add(SqueezeExcite(8, 2, 2, "hardsigmoid"), builder.shape).global_pool() \
        .linear(3).build()
    assert pickle.loads(pickle.dumps(plan)) == plan
    model = build_from_plan(plan).eval()
    again = pickle.loads(pickle.dumps(model))
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(again(x), model(x))
