"""build_from_plan: shapes, MACs and name resolution, over many random plans."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasforge.errors import SpaceError, UnknownNameError
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan, build_model
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.searchspace.plan import (
    Branch,
    Cell,
    CellEdge,
    Conv,
    DataSpec,
    Dropout,
    GlobalPool,
    NetworkPlan,
    Norm,
    PlanBuilder,
    Pool,
    Residual,
    iter_ops,
)
from nasforge.searchspace.quantization import BIT_WIDTHS, FLOAT, LayerBits

N_PLANS = 60


def _supports(kind: str, dims: int, channels: int = 4) -> bool:
    try:
        NORMS.get(kind)(channels, dims)
    except SpaceError:
        return False
    return True


def _bits(rng: np.random.Generator) -> LayerBits:
    if rng.integers(0, 2):
        return FLOAT
    return LayerBits(int(rng.choice(BIT_WIDTHS)), int(rng.choice(BIT_WIDTHS)),
                     bool(rng.integers(0, 2)))


def _random_branch(b: PlanBuilder, rng: np.random.Generator) -> PlanBuilder:
    """Shape-keeping ops for a cell edge or a residual branch."""
    part = b.sub()
    channels = b.shape[0]
    for _ in range(int(rng.integers(0, 3))):
        step = rng.choice(["conv", "sep", "pool", "act"])
        if step == "conv":
            part.conv(channels, 3, dilation=int(rng.integers(1, 3)), bias=False, bits=_bits(rng))
        elif step == "sep":
            part.conv(channels, 3, groups=channels, bias=False).conv(channels, 1, bias=False)
        elif step == "pool":
            part.pool(str(rng.choice(["max", "avg"])), 3, stride=1)
        else:
            part.activation("relu")
    return part


def random_plan(rng: np.random.Generator) -> NetworkPlan:
    """A random valid plan over flat, sequence or image inputs, odd and even kernels."""
    dims = int(rng.integers(0, 3))
    shape = (int(rng.integers(1, 20)),) if dims == 0 else (
        int(rng.integers(1, 5)), *(int(rng.integers(1, 13)) for _ in range(dims)))
    b = PlanBuilder("random", shape)
    for _ in range(int(rng.integers(0, 5)) if dims else 0):
        step = rng.choice(["conv", "conv", "norm", "act", "pool", "dropout", "cell",
                           "residual"])
        if step == "conv":
            b.conv(int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 4)),
                   bias=bool(rng.integers(0, 2)), bits=_bits(rng))
        elif step == "norm":
            b.norm(str(rng.choice([k for k in NORMS.names() if _supports(k, dims, b.shape[0])])))
        elif step == "cell":
            edges = tuple(CellEdge(to, source, "random", _random_branch(b, rng).branch())
                          for to in range(1, 4) for source in range(to) if rng.integers(0, 2))
            b.cell(4, edges)
        elif step == "residual":
            b.residual(_random_branch(b, rng), None if rng.integers(0, 2) else
                       b.sub().conv(b.shape[0], 1, bias=False))
        elif step == "act":
            b.activation(str(rng.choice(ACTIVATIONS.names())))
        elif step == "pool" and min(b.shape[1:]) >= 2:
            b.pool(str(rng.choice(["max", "avg"])), int(rng.integers(1, min(b.shape[1:]) + 1)))
        elif step == "dropout":
            b.dropout(0.5)
    if dims:
        b.global_pool() if rng.integers(0, 2) else b.flatten()
    for _ in range(int(rng.integers(0, 3))):
        b.linear(int(rng.integers(1, 9)), bias=bool(rng.integers(0, 2)), bits=_bits(rng))
        b.norm(str(rng.choice([k for k in NORMS.names() if _supports(k, 0, b.shape[0])])))
        b.activation(str(rng.choice(ACTIVATIONS.names())))
    return b.linear(int(rng.integers(1, 5))).build()


PLANS = [random_plan(np.random.default_rng(i)) for i in range(N_PLANS)]


def _forward(model: nn.Module, plan: NetworkPlan) -> torch.Tensor:
    x = torch.randn((3, *plan.input_shape), generator=torch.Generator().manual_seed(0))
    model.eval()  # eval: instance norm and batch norm accept any spatial size
    with torch.no_grad():
        return model(x)


def test_random_plans_cover_the_interesting_cases() -> None:
    kernels = {op.kernel % 2 for p in PLANS for op in p.ops if type(op).__name__ == "Conv"}
    kinds = {type(op).__name__ for p in PLANS for op in p.ops}
    assert kernels == {0, 1}
    assert {"Conv", "Pool", "GlobalPool", "Flatten", "Norm", "Activation", "Dropout", "Cell",
            "Residual"} <= kinds
    inner = [op for p in PLANS for op, _ in iter_ops(p.ops, p.shapes)
             if isinstance(op, Cell | Residual)]
    inside = {type(o).__name__ for op in inner for o, _ in iter_ops((op,), ((1,),))} - {
        "Cell", "Residual"}
    assert {"Conv", "Pool", "Activation"} <= inside  # composites hold real ops
    assert any(isinstance(op, Conv) and op.groups > 1 for p in PLANS
               for op, _ in iter_ops(p.ops, p.shapes))
    bits = {(op.weight_bits, op.act_bits) for p in PLANS for op, _ in p.layers()}
    assert {w for w, _ in bits} == set(BIT_WIDTHS) and {a for _, a in bits} == set(BIT_WIDTHS)


@pytest.mark.parametrize("index", range(N_PLANS))
def test_built_shapes_follow_the_plan(index: int) -> None:
    plan = PLANS[index]
    with seeded(index):
        model = build_from_plan(plan)
    assert len(model) == len(plan.ops)
    observed: list[tuple[int, ...]] = []
    for module in model:
        module.register_forward_hook(lambda m, i, out: observed.append(tuple(out.shape[1:])))
    out = _forward(model, plan)
    assert tuple(out.shape) == (3, *plan.output_shape)
    assert observed == list(plan.shapes)


@pytest.mark.parametrize("index", range(N_PLANS))
def test_plan_macs_match_a_hook_count(index: int) -> None:
    plan = PLANS[index]
    with seeded(index):
        model = build_from_plan(plan)
    assert _hook_macs(model, plan.input_shape) == plan.macs
    assert plan.params == sum(p.numel() for p in model.parameters())


def _hook_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Linear/Conv layers for one sample, counted by forward hooks."""
    counted: list[int] = []

    def count(module: nn.Module, inputs: object, out: torch.Tensor) -> None:
        positions = math.prod(out.shape[2:]) if isinstance(module, nn.Conv1d | nn.Conv2d) else 1
        counted.append(module.weight.numel() * positions)

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)]
    was_training = model.training
    with torch.no_grad():
        model.eval()(torch.randn(2, *input_shape))  # some norms need 2 samples
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return sum(counted)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_for_odd_and_even_kernels(dims: int, kernel: int, stride: int) -> None:
    for size in range(1, 10):
        plan = PlanBuilder("c", (2, *(size,) * dims)).conv(3, kernel, stride).build()
        out = _forward(build_from_plan(plan), plan)
        assert tuple(out.shape[1:]) == plan.output_shape, (size, kernel, stride)


def test_even_kernels_pad_the_extra_row_after() -> None:
    plan = PlanBuilder("c", (1, 6)).conv(1, 2, bias=False).build()
    model = build_from_plan(plan)
    conv = model[0][1]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 10.0]]]))
    out = model(torch.arange(1.0, 7.0).view(1, 1, 6))
    # padding (0 before, 1 after): out[i] = x[i] + 10 x[i+1]
    torch.testing.assert_close(out.flatten(), torch.tensor([21.0, 32, 43, 54, 65, 6]))


def test_unknown_names_raise_before_any_module_is_built() -> None:
    plan = (PlanBuilder("mlp", (4,)).linear(8).norm("batch").activation("relux").linear(2)
            .build())
    state = torch.get_rng_state()
    with pytest.raises(UnknownNameError, match="Did you mean 'relu'"):
        build_from_plan(plan)
    assert torch.equal(state, torch.get_rng_state())  # no Linear was initialised
    plan = PlanBuilder("mlp", (4,)).linear(8).norm("bach").linear(2).build()
    with pytest.raises(UnknownNameError, match="Unknown norm 'bach'"):
        build_from_plan(plan)


def test_impossible_plans_are_space_errors() -> None:
    collapsed = PlanBuilder("cnn", (2, 4, 4)).pool("max", 8).global_pool().linear(2).build()
    with pytest.raises(SpaceError, match="reduces the shape"):
        build_from_plan(collapsed)
    odd_pool = PlanBuilder("cnn", (2, 4, 4)).pool("median", 2).flatten().linear(2).build()
    with pytest.raises(SpaceError, match="'max' or 'avg'"):
        build_from_plan(odd_pool)


def test_global_pool_averages_spatial_axes() -> None:
    plan = PlanBuilder("cnn", (3, 4, 5)).global_pool().build()
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(build_from_plan(plan)(x), x.mean(dim=(2, 3)))


def test_build_model_goes_through_the_family_plan() -> None:
    arch = Architecture({"family": "mlp", "mlp.depth": 2, "mlp.width": 16, "activation": "gelu",
                         "norm": "batch", "dropout": 0.1})
    spec = DataSpec((1, 8, 8), 10)
    with seeded(0):
        model = build_model(arch, spec)
    with seeded(0):
        again = build_model(arch, spec)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert sum(isinstance(m, nn.GELU) for m in model) == 2


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 40)], ids=["image", "signal"])
def test_every_registered_family_builds_trains_and_matches_its_plan(
        family: str, input_shape: tuple[int, ...]) -> None:
    """Contract: every family, on every data shape it accepts, builds a model whose output
    shape and MACs are those of its plan, and whose gradients reach every parameter."""
    space = assemble_space([family], {"norm": ["none", "batch", "layer"]}, {})
    data = DataSpec(input_shape, 7)
    rng = np.random.default_rng(3)
    for _ in range(8):
        arch = space.sample(rng)
        plan = plan_for(arch, data)
        model = build_model(arch, data).train()
        x = torch.randn(4, *input_shape)
        out = model(x)
        assert out.shape == (4, 7)
        out.square().mean().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in model.parameters())
        assert _hook_macs(model, input_shape) == plan.macs


@pytest.mark.parametrize(("op", "message"), [
    (Conv(2, 4, 6, 3, groups=4), "groups dividing the channels"),
    (Conv(3, 4, 4, 3), "dims 1 or 2"),
    (Dropout(1.0), "0 <= p < 1"),
    (Pool("max", 2, 2, 1), "odd window"),
    (Pool("median", 2, 2), "'max' or 'avg'"),
    (GlobalPool(0), "no spatial axes"),
    (Norm("instance", 4, 0), r"'instance' does not support \(N, C\)"),
    (Cell(3, 4, 2, (CellEdge(1, 2, "skip", Branch()),)), "from a node to a later one"),
])
def test_ops_that_cannot_be_built_are_refused_by_their_spec_before_building(
        op: object, message: str) -> None:
    plan = NetworkPlan("custom", (4, 4, 4), (Conv(2, 4, 4, 1), op), ((4, 4, 4), (4, 4, 4)))
    state = torch.get_rng_state()
    with pytest.raises(SpaceError, match=rf"Op 1 \({type(op).__name__}\).*cannot be built.*"
                                         + message):
        build_from_plan(plan)
    assert torch.equal(state, torch.get_rng_state())  # the first conv was not initialised


def test_even_kernels_keep_the_pad_then_conv_layout_and_state_dict_keys() -> None:
    plan = PlanBuilder("c", (2, 5, 5)).conv(3, 4, dilation=1).conv(3, 3, dilation=2).build()
    model = build_from_plan(plan)
    assert isinstance(model[0], nn.Sequential) and isinstance(model[0][0], nn.ZeroPad2d)
    assert model[0][0].padding == (1, 2, 1, 2)
    assert isinstance(model[1], nn.Conv2d) and model[1].padding == (2, 2)
    assert set(model.state_dict()) == {"0.1.weight", "0.1.bias", "1.weight", "1.bias"}
