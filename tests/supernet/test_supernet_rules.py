"""The supernet dispatches through the op specs' elastic rules (`nasforge.supernet.rules`)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nasforge.errors import ConfigError
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import NetworkPlan
from nasforge.searchspace.plan_ops import Branch, Cell, Conv, Dropout, Linear, Pool, Residual
from nasforge.searchspace.specs import ACTIVATIONS, FIXED, NOT_ELASTIC, OP_SPECS, resolve, spec_of
from nasforge.supernet import conv as elastic_conv
from nasforge.supernet import rules
from nasforge.supernet.model import Supernet
from nasforge.supernet.rules import rule_of
from tests.supernet.helpers import MLP_SPEC, mlp_space

RULE_METHODS = ("slot_shape", "make", "step", "modules", "copy_into")


@pytest.mark.parametrize("name", OP_SPECS.names())
def test_every_op_spec_names_a_complete_rule_or_not_elastic(name: str) -> None:
    rule = resolve(OP_SPECS.get(name).elastic)
    if rule is NOT_ELASTIC:
        assert name == "cell"
        return
    assert all(callable(getattr(rule, method)) for method in RULE_METHODS), name
    assert isinstance(rule.role, str) and isinstance(rule.stage, int)


def test_cells_are_a_config_error_naming_the_op() -> None:
    with pytest.raises(ConfigError, match="cell ops .*NOT_ELASTIC"):
        rule_of(Cell(2, 4, 2, ()))


def test_residual_blocks_run_their_branches_on_the_slots_inside() -> None:
    main = Branch((Conv(2, 4, 4, 1), Conv(2, 4, 4, 3, groups=4), Conv(2, 4, 4, 1)))
    nested = rule_of(Residual(main)).nested(Residual(main), "stage0_block1")
    assert [slot for _, slot in nested] == ["stage0_block1_expand", "stage0_block1_depthwise",
                                            "stage0_block1_project"]


def test_a_layer_kind_that_is_not_elastic_is_a_config_error(monkeypatch) -> None:
    relu = dataclasses.replace(ACTIVATIONS.get("relu"), elastic=NOT_ELASTIC)
    real = rules.layer_spec
    monkeypatch.setattr(rules, "layer_spec",
                        lambda role, kind: relu if kind == "relu" else real(role, kind))
    with pytest.raises(ConfigError, match="activation 'relu'.*NOT_ELASTIC"):
        Supernet(mlp_space(activation=["relu", "gelu"]), MLP_SPEC)


@pytest.mark.parametrize("conv", [Conv(2, 4, 4, 2), Conv(2, 4, 8, 3, groups=2),
                                  Conv(2, 4, 4, 3, dilation=2)])
def test_convolutions_the_supernet_cannot_slice_are_refused_clearly(conv: Conv) -> None:
    with pytest.raises(ConfigError, match="odd-kernel convolutions without dilation"):
        elastic_conv.CONV.slot_shape(conv, "conv_0_0")


@pytest.mark.parametrize("conv", [Conv(2, 4, 8, 3, stride=2), Conv(2, 6, 6, 5, groups=6)])
def test_strided_and_depthwise_convolutions_are_shared(conv: Conv) -> None:
    shape = elastic_conv.CONV.slot_shape(conv, "stage0_block0_depthwise")
    assert shape.depthwise == (conv.groups > 1) and shape.kernel == conv.kernel


def test_slot_shapes_merge_to_the_largest_layer() -> None:
    a = rules.LINEAR.slot_shape(Linear(8, 16), "linear_0")
    b = rules.LINEAR.slot_shape(Linear(24, 4), "linear_0")
    assert (a.merge(b).out, a.merge(b).in_) == (16, 24)
    flat = rules.LINEAR.slot_shape(Linear(4 * 9, 10), "head_flat_9")
    assert (flat.in_, flat.positions) == (4, 9)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize(("size", "stride"), [(2, 0), (3, 0), (3, 1), (3, 2), (5, 2)])
def test_pools_run_as_the_built_model_overlapping_ones_too(kind, dims, size, stride) -> None:
    """The supernet once ignored `Pool.stride` (always stride = size): an overlapping pool
    trained one net and extracted another."""
    op = Pool(kind, dims, size, stride)
    spatial = (9,) * dims
    out = tuple(-(-9 // stride) if stride else 9 // size for _ in spatial)
    plan = NetworkPlan("cnn", (2, *spatial), (op,), ((2, *out),))
    x = torch.randn(3, 2, *spatial, generator=torch.Generator().manual_seed(0))
    assert rules.POOL.slot_shape(op, "conv_0_0") is None
    y = rules.POOL.step(None, op, "conv_0_0")(x, False)  # type: ignore[arg-type]
    assert y.shape[1:] == plan.output_shape
    torch.testing.assert_close(y, build_from_plan(plan)(x), rtol=0, atol=0)


def test_an_overlapping_pool_with_an_even_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="odd window"):
        rules.POOL.slot_shape(Pool("max", 2, 2, 1), "conv_0_0")


def test_an_op_spec_marked_fixed_runs_its_own_built_module(monkeypatch) -> None:
    op = Dropout(0.5)
    fixed = dataclasses.replace(spec_of(op), elastic=FIXED)
    monkeypatch.setattr(rules, "spec_of", lambda o: fixed if o is op else spec_of(o))
    step = rule_of(op).step(None, op, "linear_0")  # type: ignore[arg-type]
    x = torch.ones(4, 64)
    torch.testing.assert_close(step(x, False), x, rtol=0, atol=0)  # eval: the identity
    assert (step(x, True) == 0).any()  # training: its nn.Dropout drops
