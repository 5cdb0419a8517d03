"""The mbconv family: inverted-residual plans, shapes, costs against the built model, per-stage
quantization, squeeze-and-excite, shortcuts only where shapes match, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space, check_space_fits
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.plan import Activation, Conv, DataSpec, Linear, Norm, Residual
from nasforge.searchspace.plan_ops import GlobalPool, SqueezeExcite, iter_ops

MNIST = DataSpec((1, 28, 28), 10, name="fashion-mnist")
CIFAR = DataSpec((3, 32, 32), 10, name="cifar")
SIGNAL = DataSpec((2, 40), 4, name="signal")
FLAT = DataSpec((12,), 3, name="csv")


def mbconv(**values: object) -> Architecture:
    """Two stages: (expand 1, k3, width 16, no SE, depth 1) and (expand 4, k5, width 24,
    SE, depth 2); batch norm, hardswish."""
    base: dict[str, object] = {
        "family": "mbconv", "mbconv.stages": 2, "mbconv.stem": 16,
        "mbconv.head_channels": 64, "mbconv.head_width": 0,
        "mbconv.depth.0": 1, "mbconv.expand.0": 1, "mbconv.kernel.0": 3,
        "mbconv.width.0": 16, "mbconv.se.0": False,
        "mbconv.depth.1": 2, "mbconv.expand.1": 4, "mbconv.kernel.1": 5,
        "mbconv.width.1": 24, "mbconv.se.1": True,
        "mbconv.se_ratio": 0.25, "mbconv.se_gate": "hardsigmoid",
        "activation": "hardswish", "norm": "batch", "dropout": 0.0}
    return Architecture({**base, **values})


def _walk(ops):
    """Every op, residual branches opened, in order."""
    for op, _ in iter_ops(ops, tuple(() for _ in ops)):
        yield op


def _convs(ops) -> list[Conv]:
    return [op for op in _walk(ops) if isinstance(op, Conv)]


def test_plan_by_hand_on_28x28_images() -> None:
    plan = plan_for(mbconv(), MNIST)
    convs = _convs(plan.ops)
    # stem 1->16 (stride 1 at 28 px); stage 0, expand 1: depthwise 16 (stride 2) + project 16;
    # stage 1 block 0: expand 16->64, depthwise 64 (stride 2), project 64->24; block 1:
    # expand 24->96, depthwise 96, project 96->24; head 24->64
    assert [(c.in_channels, c.out_channels, c.kernel, c.stride, c.groups) for c in convs] == [
        (1, 16, 3, 1, 1),
        (16, 16, 3, 2, 16), (16, 16, 1, 1, 1),
        (16, 64, 1, 1, 1), (64, 64, 5, 2, 64), (64, 24, 1, 1, 1),
        (24, 96, 1, 1, 1), (96, 96, 5, 1, 96), (96, 24, 1, 1, 1),
        (24, 64, 1, 1, 1)]
    assert all(not c.bias for c in convs)  # batch norm follows every conv
    assert [s for op, s in zip(plan.ops, plan.shapes, strict=True)
            if isinstance(op, Residual)] == [(24, 7, 7)]  # the only shape-keeping block
    se = [op for op in _walk(plan.ops) if isinstance(op, SqueezeExcite)]
    assert se == [SqueezeExcite(64, 16, 2, "hardsigmoid"), SqueezeExcite(96, 24, 2, "hardsigmoid")]
    assert isinstance(plan.ops[-2], GlobalPool) and plan.ops[-1] == Linear(64, 10)
    assert plan.output_shape == (10,)
    # 28 -> stage 0 at 14 -> stage 1 at 7 ("auto": halve while the map keeps 7 pixels)
    assert (16, 14, 14) in plan.shapes and plan.shapes[-3] == (64, 7, 7)


def test_projection_has_a_norm_and_no_activation() -> None:
    plan = plan_for(mbconv(), MNIST)
    residual = next(op for op in plan.ops if isinstance(op, Residual))
    kinds = [type(op).__name__ for op in residual.main.ops]
    assert kinds == ["Conv", "Norm", "Activation", "Conv", "Norm", "Activation",
                     "SqueezeExcite", "Conv", "Norm"]
    assert residual.shortcut.ops == ()  # the identity


def test_32x32_rgb_inputs_plan_and_macs_by_hand() -> None:
    arch = mbconv(**{"mbconv.stages": 1, "mbconv.expand.0": 2, "mbconv.se.0": True,
                     "mbconv.head_channels": 0, "norm": "none", "activation": "relu"})
    plan = plan_for(arch, CIFAR)
    # stem 3->16 at 32x32, expand 16->32 at 32x32, depthwise 3x3 stride 2 -> 16x16, SE 32->8,
    # project 32->16 at 16x16, classifier 16->10
    assert plan.macs == (1024 * 16 * 3 * 9 + 1024 * 32 * 16 + 256 * 32 * 9 + 2 * 32 * 8
                         + 256 * 16 * 32 + 16 * 10)
    assert sum(isinstance(op, Activation) for op in _walk(plan.ops)) == 3
    assert all(c.bias for c in _convs(plan.ops))  # no norm: the convs carry biases


@pytest.mark.parametrize("data", [MNIST, CIFAR, SIGNAL], ids=["28x28x1", "32x32x3", "1d"])
def test_params_and_forward_match_the_plan(data: DataSpec) -> None:
    space = assemble_space(["mbconv"], {"norm": ["batch", "group", "evonorm_s0"],
                                        "activation": ["relu", "hardswish", "swish"]}, {})
    rng = np.random.default_rng(4)
    for arch in space.sample_distinct(5, rng):
        plan = plan_for(arch, data)
        model = build_from_plan(plan).eval()
        assert sum(p.numel() for p in model.parameters()) == plan.params, dict(arch)
        out = model(torch.randn(3, *data.input_shape))
        assert out.shape == (3, data.num_outputs)
        assert all(getattr(op, "dims", len(data.input_shape) - 1) in (0, len(data.input_shape) - 1)
                   for op in _walk(plan.ops))


def test_se_off_has_no_squeeze_excite_and_its_keys_leave_the_space() -> None:
    plan = plan_for(mbconv(**{"mbconv.se.1": False}), MNIST)
    assert not any(isinstance(op, SqueezeExcite) for op in _walk(plan.ops))
    space = assemble_space(["mbconv"], {}, {"mbconv": {"se": False}})
    assert "mbconv.se_gate" not in space.params and "mbconv.se_ratio" not in space.params
    gated = assemble_space(["mbconv"], {}, {"mbconv": {"se": True, "se_gate": "sigmoid"}})
    arch = gated.sample(np.random.default_rng(0))
    ses = [op for op in _walk(plan_for(arch, MNIST).ops) if isinstance(op, SqueezeExcite)]
    assert ses and {op.gate for op in ses} == {"sigmoid"}


def test_per_stage_bits_and_8_bit_ends() -> None:
    arch = mbconv(**{"weight_bits": 4, "act_bits": 4, "mbconv.weight_bits.0": 2,
                     "mbconv.act_bits.0": 8, "mbconv.weight_bits.1": 4,
                     "mbconv.act_bits.1": 2, "keep_ends_8bit": True})
    plan = plan_for(arch, MNIST)
    convs = _convs(plan.ops)
    assert (convs[0].weight_bits, convs[0].act_bits) == (8, 8)  # the stem: first layer
    assert {(c.weight_bits, c.act_bits) for c in convs[1:3]} == {(2, 8)}  # stage 0
    assert {(c.weight_bits, c.act_bits) for c in convs[3:9]} == {(4, 2)}  # stage 1
    assert (convs[9].weight_bits, convs[9].act_bits) == (4, 4)  # head conv: global widths
    assert (plan.ops[-1].weight_bits, plan.ops[-1].act_bits) == (8, 8)  # classifier: last
    model = build_from_plan(plan)
    assert sum(p.numel() for p in model.parameters()) == plan.params


def test_per_layer_bits_of_the_space_follow_the_stages() -> None:
    space = assemble_space(["mbconv"], {"weight_bits": [8, 4], "act_bits": [8, 4]},
                           {"mbconv": {"per_layer_bits": True, "stages": {"low": 1, "high": 3}}})
    assert {f"mbconv.weight_bits.{i}" for i in range(3)} <= set(space.params)
    arch = space.sample(np.random.default_rng(1))
    plan = plan_for(arch, MNIST)
    assert plan.bops < plan.macs * 32 * 32


def test_one_dimensional_signals_use_1d_ops() -> None:
    plan = plan_for(mbconv(), SIGNAL)
    dims = {op.dims for op in _walk(plan.ops) if isinstance(op, Conv | SqueezeExcite | Norm)}
    assert dims == {1}
    # 40 > 32: the stem halves it to 20; stages halve to 10, then 10 -> 5 would fall below 7
    assert plan.shapes[-3] == (64, 10)


def test_expand_one_skips_the_expansion_conv() -> None:
    one = plan_for(mbconv(**{"mbconv.expand.1": 1}), MNIST)
    assert [c.kernel for c in _convs(one.ops)] == [3, 3, 1, 5, 1, 5, 1, 1]


def test_explicit_strides_and_searched_strides() -> None:
    space = assemble_space(["mbconv"], {}, {"mbconv": {"stages": 3, "strides": [1, [1, 2], 2],
                                                       "kernel": 3}})
    assert space.params["mbconv.stride.1"].size == 2
    strides = set()
    rng = np.random.default_rng(1)
    for arch in (space.sample(rng) for _ in range(20)):
        plan = plan_for(arch, MNIST)
        strides.add(tuple(c.stride for c in _convs(plan.ops) if c.groups > 1 and c.stride > 1))
    assert strides == {(2,), (2, 2)}


@pytest.mark.parametrize("table, message", [
    ({"kernal": 3}, r"unknown key 'kernal'.*'kernel'.*Allowed keys: stages"),
    ({"kernel": [3, 4]}, r"kernel value\(s\) \[4\] are not allowed; use some of 3, 5, 7, 9"),
    ({"expand": [0, 2]}, "whole numbers >= 1"),
    ({"expand": 40}, "absurdly large"),
    ({"se": ["yes"]}, r"se value\(s\) \['yes'\].*False, True"),
    ({"se_gate": "tanh"}, r"se_gate value\(s\) \['tanh'\].*sigmoid, hardsigmoid"),
    ({"se_ratio": 2}, r"se_ratio = 2: use numbers in \(0, 1\]"),
    ({"strides": "fast"}, r"strides must be \"auto\" or a list"),
    ({"strides": [1, 2]}, r"at least 4, since stages reaches 4.*\[1, 2, 2, 2\]"),
    ({"strides": [1, 2, 0, 2]}, "whole numbers >= 1"),
    ({"per_stage": "yes"}, "per_stage must be true or false"),
    ({"head_channels": -1}, "whole numbers >= 0"),
])
def test_bad_tables_name_the_key_and_the_allowed_values(table, message) -> None:
    with pytest.raises(SpaceError, match=message):
        assemble_space(["mbconv"], {}, {"mbconv": table})


def test_flat_features_are_refused_with_a_fix() -> None:
    with pytest.raises(SpaceError, match=r"mbconv family needs.*input_shape"):
        FAMILIES.get("mbconv").check_data(FLAT)


def test_a_kernel_larger_than_its_stage_map_is_refused_naming_stage_and_map() -> None:
    digits = DataSpec((1, 8, 8), 10, name="digits")
    family = FAMILIES.get("mbconv")
    fine = assemble_space(["mbconv"], {}, {"mbconv": {"kernel": [3, 5, 7]}})
    family.check_space(fine, digits)  # "auto" keeps 8x8: every default kernel fits
    family.check_space(fine, MNIST)   # 28 -> 14, 7, 7, 7
    bad = assemble_space(["mbconv"], {}, {"mbconv": {"stages": 3, "strides": [1, 2, 2],
                                                     "kernel": [3, 5]}})
    with pytest.raises(SpaceError, match=r"\[space.mbconv\] kernel.1 allows kernel 5 at stage 1"
                                         r", whose feature map is only 4x4 \(input 8x8 after the "
                                         r"stem and strides 1, 2\).*kernels <= 4"):
        family.check_space(bad, digits)
    with pytest.raises(SpaceError, match=r"kernel.1 allows kernel 5 at stage 1"):
        check_space_fits(bad, digits)  # what the CLI calls before anything is written
    arch = bad.sample(np.random.default_rng(0)).replace(**{"mbconv.kernel.1": 5})
    with pytest.raises(SpaceError, match=r"kernel.1 = 5 at stage 1.*only 4x4"):
        plan_for(arch, digits)
    shared = assemble_space(["mbconv"], {}, {"mbconv": {"per_stage": False, "kernel": 7}})
    with pytest.raises(SpaceError, match=r"kernel allows kernel 7 at stage 0.*only 5x5"):
        family.check_space(shared, DataSpec((1, 5, 5), 2))


def test_a_searched_resolution_is_checked_at_its_smallest() -> None:
    space = assemble_space(["mbconv"], {}, {"mbconv": {"kernel": [3, 7]}})
    params = dict(space.params)
    from nasforge.searchspace.params import Choice
    from nasforge.searchspace.space import SearchSpace

    params["resolution"] = Choice((6, 28))
    with pytest.raises(SpaceError, match="kernel 7 at stage 0.*only 6x6"):
        FAMILIES.get("mbconv").check_space(SearchSpace(params), MNIST)


def test_a_hidden_head_with_a_norm_activation_that_needs_spatial_axes_is_refused() -> None:
    data = DataSpec((1, 16, 16), 10)
    bad = assemble_space(["mbconv"], {"norm": ["batch", "evonorm_b0"]},
                         {"mbconv": {"head_width": [0, 8]}})
    with pytest.raises(SpaceError, match=r"head_width allows a hidden head layer.*evonorm_b0"):
        check_space_fits(bad, data)
    for norm, head in (("evonorm_b0", 0), ("evonorm_s0", 8), ("batch", 8)):
        check_space_fits(assemble_space(["mbconv"], {"norm": [norm]},
                                        {"mbconv": {"head_width": head}}), data)
