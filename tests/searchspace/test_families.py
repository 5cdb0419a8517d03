from __future__ import annotations

import numpy as np
import pytest

from nasforge.errors import SpaceError, UnknownNameError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space, check_space_fits
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.plan import Activation, Conv, DataSpec, Linear, Norm, Pool

IMAGE = DataSpec((1, 8, 8), 10, name="digits")
SIGNAL = DataSpec((1, 40), 10, name="mnist1d")
FLAT = DataSpec((12,), 3, name="csv")


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("data", [IMAGE, SIGNAL], ids=["image", "signal"])
def test_every_family_plans_consistent_shapes(family, data):
    space = assemble_space([family], {}, {})
    rng = np.random.default_rng(0)
    for _ in range(30):
        plan = plan_for(space.sample(rng), data)
        assert plan.family == family
        assert plan.output_shape == (data.num_outputs,)
        assert len(plan.ops) == len(plan.shapes)
        assert plan.macs > 0


def test_mlp_plan_and_macs_by_hand():
    arch = Architecture({"family": "mlp", "mlp.depth": 2, "mlp.width": 32, "activation": "relu",
                         "norm": "batch", "dropout": 0.1})
    plan = plan_for(arch, IMAGE)
    linears = [op for op in plan.ops if isinstance(op, Linear)]
    assert [(op.in_features, op.out_features) for op in linears] == [(64, 32), (32, 32), (32, 10)]
    assert [op.bias for op in linears] == [False, False, True]  # norm follows -> no bias
    assert sum(isinstance(op, Norm) for op in plan.ops) == 2
    assert plan.macs == 64 * 32 + 32 * 32 + 32 * 10


def test_mlp_per_layer_widths():
    space = assemble_space(["mlp"], {}, {"mlp": {"per_layer_width": True,
                                                 "depth": {"low": 1, "high": 3}}})
    arch = space.validate({**space.sample(np.random.default_rng(0)), "mlp.depth": 3,
                           "mlp.width.0": 32, "mlp.width.1": 64, "mlp.width.2": 128})
    widths = [op.out_features for op in plan_for(arch, IMAGE).ops if isinstance(op, Linear)]
    assert widths == [32, 64, 128, 10]


def test_cnn_plan_and_macs_by_hand():
    arch = Architecture({"family": "cnn", "cnn.stages": 2, "cnn.channels.0": 4,
                         "cnn.channels.1": 8, "cnn.convs_per_stage": 1, "cnn.kernel": 3,
                         "cnn.pool": "max", "cnn.readout": "flatten", "cnn.head_width": 0,
                         "activation": "relu", "norm": "none", "dropout": 0.0})
    plan = plan_for(arch, IMAGE)
    convs = [op for op in plan.ops if isinstance(op, Conv)]
    assert [(c.in_channels, c.out_channels, c.dims) for c in convs] == [(1, 4, 2), (4, 8, 2)]
    assert plan.shapes[-2] == (8 * 2 * 2,)  # 8x8 -> pool 4x4 -> pool 2x2, flattened
    # conv1: 64 positions * 4 * 1 * 9; conv2: 16 positions * 8 * 4 * 9; head 32 -> 10
    assert plan.macs == 64 * 4 * 9 + 16 * 8 * 4 * 9 + 32 * 10
    assert sum(isinstance(op, Pool) for op in plan.ops) == 2
    assert sum(isinstance(op, Activation) for op in plan.ops) == 2


def test_cnn_on_signals_uses_1d_convolutions_and_stops_pooling_at_one():
    arch = Architecture({"family": "cnn", "cnn.stages": 3, "cnn.channels.0": 4,
                         "cnn.channels.1": 4, "cnn.channels.2": 4, "cnn.convs_per_stage": 2,
                         "cnn.kernel": 5, "cnn.pool": "avg", "cnn.readout": "global_avg",
                         "cnn.head_width": 16, "activation": "gelu", "norm": "batch",
                         "dropout": 0.0})
    plan = plan_for(arch, SIGNAL)
    assert all(op.dims == 1 for op in plan.ops if isinstance(op, Conv))
    assert plan.output_shape == (10,)
    tiny = plan_for(arch, DataSpec((1, 2), 10))  # pooling stops once the signal has length 1
    assert sum(isinstance(op, Pool) for op in tiny.ops) == 1


def test_cnn_refuses_flat_features_with_a_fix():
    space = assemble_space(["mlp", "cnn"], {}, {})
    with pytest.raises(SpaceError, match=r"cnn family needs.*input_shape"):
        check_space_fits(space, FLAT)
    check_space_fits(assemble_space(["mlp"], {}, {}), FLAT)


@pytest.mark.parametrize("families, shared, specs, message", [
    (["mlpp"], {}, {}, r"Unknown family 'mlpp'.*'mlp'"),
    ([], {}, {}, "families is empty"),
    (["mlp"], {"activaton": ["relu"]}, {}, r"unknown key 'activaton'.*'activation'"),
    (["mlp"], {}, {"mlp": {"widht": [8]}}, r"unknown key 'widht'.*'width'"),
    (["mlp"], {}, {"cnn": {}}, r"\[space.cnn\] is given but 'cnn' is not in"),
    (["mlp"], {}, {"mlp": {"width": [10**9]}}, "absurdly large"),
    (["mlp"], {}, {"mlp": {"depth": {"low": 4, "high": 1}}}, "inverted"),
    (["mlp"], {}, {"mlp": {"depth": 100_000}}, "absurdly large"),
    (["mlp"], {}, {"mlp": {"depth": True}}, "whole numbers"),
    (["mlp"], {}, {"mlp": {"depth": {"low": 0, "high": float("nan"), "type": "int"}}},
     "must be an integer"),
    (["mlp"], {}, {"mlp": {"width": {"low": 8, "high": float("inf"), "type": "int"}}},
     "must be an integer"),
    (["cnn"], {}, {"cnn": {"head_width": [True]}}, "whole numbers"),
    (["cnn"], {}, {"cnn": {"stages": 50}}, "absurdly large"),
    (["cnn"], {}, {"cnn": {"kernel": [2, 3]}}, "odd"),
    (["mlp"], {"optimizer": ["adamw", "lbfgs"]}, {}, r"optimizer \['lbfgs'\]"),
    (["mlp"], {"epochs": 0}, {}, "epochs must be whole numbers"),
    (["mlp"], {"lr": -1.0}, {}, "lr = -1.0 is out of range"),
])
def test_space_errors_name_the_problem(families, shared, specs, message):
    with pytest.raises((SpaceError, UnknownNameError), match=message):
        assemble_space(families, shared, specs)


def test_a_linear_mlp_has_no_width():
    space = assemble_space(["mlp"], {}, {"mlp": {"depth": {"low": 0, "high": 2}}})
    archs = [space.sample(np.random.default_rng(s)) for s in range(40)]
    assert {("mlp.width" in a) for a in archs if a["mlp.depth"] == 0} == {False}
    assert {("mlp.width" in a) for a in archs if a["mlp.depth"] > 0} == {True}
    assert "mlp.width" not in assemble_space(["mlp"], {}, {"mlp": {"depth": 0}}).params
