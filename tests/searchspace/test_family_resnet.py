"""The resnet family: basic and bottleneck blocks, projection shortcuts exactly where the shape
changes, squeeze-and-excite, per-stage quantization, costs against the built model, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import SpaceError
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.plan import Activation, Conv, DataSpec, Linear, Norm, Residual
from nasforge.searchspace.plan_ops import SqueezeExcite, iter_ops

MNIST = DataSpec((1, 28, 28), 10, name="fashion-mnist")
CIFAR = DataSpec((3, 32, 32), 10, name="cifar")
SIGNAL = DataSpec((2, 40), 4, name="signal")


def resnet(**values: object) -> Architecture:
    """Three stages of widths 8, 16, 16 with depths 2, 1, 1; basic blocks; batch norm, relu."""
    base: dict[str, object] = {
        "family": "resnet", "resnet.stages": 3, "resnet.stem": 8, "resnet.block": "basic",
        "resnet.depth.0": 2, "resnet.width.0": 8, "resnet.se.0": False,
        "resnet.depth.1": 1, "resnet.width.1": 16, "resnet.se.1": True,
        "resnet.depth.2": 1, "resnet.width.2": 16, "resnet.se.2": False,
        "resnet.se_ratio": 0.25, "resnet.se_gate": "sigmoid",
        "activation": "relu", "norm": "batch", "dropout": 0.0}
    return Architecture({**base, **values})


def _walk(ops):
    for op, _ in iter_ops(ops, tuple(() for _ in ops)):
        yield op


def _blocks(plan):
    return [(op, shape) for op, shape in zip(plan.ops, plan.shapes, strict=True)
            if isinstance(op, Residual)]


def test_basic_blocks_project_only_where_the_shape_changes() -> None:
    plan = plan_for(resnet(), CIFAR)
    blocks = _blocks(plan)
    assert [shape for _, shape in blocks] == [(8, 32, 32), (8, 32, 32), (16, 16, 16),
                                              (16, 8, 8)]
    shortcuts = [[(c.in_channels, c.out_channels, c.kernel, c.stride)
                  for c in block.shortcut.ops if isinstance(c, Conv)] for block, _ in blocks]
    # stage 0 keeps 8 channels at 32x32: identities; stages 1 and 2 halve the map
    assert shortcuts == [[], [], [(8, 16, 1, 2)], [(16, 16, 1, 2)]]
    assert all(isinstance(b.shortcut.ops[-1], Norm) for b, _ in blocks[2:])
    main = [(c.in_channels, c.out_channels, c.kernel, c.stride)
            for c in blocks[2][0].main.ops if isinstance(c, Conv)]
    assert main == [(8, 16, 3, 2), (16, 16, 3, 1)]
    # an activation after every sum, none at the end of the main branches
    after = [type(plan.ops[plan.ops.index(b) + 1]) for b, _ in blocks]
    assert after == [Activation] * 4
    assert all(isinstance(b.main.ops[-1], Norm | SqueezeExcite) for b, _ in blocks)
    assert plan.ops[-1] == Linear(16, 10) and plan.output_shape == (10,)


def test_bottleneck_blocks_expand_by_four() -> None:
    plan = plan_for(resnet(**{"resnet.block": "bottleneck"}), MNIST)
    blocks = _blocks(plan)
    first = [(c.in_channels, c.out_channels, c.kernel, c.stride)
             for c in blocks[0][0].main.ops if isinstance(c, Conv)]
    assert first == [(8, 8, 1, 1), (8, 8, 3, 1), (8, 32, 1, 1)]
    assert [c.out_channels for c in blocks[0][0].shortcut.ops if isinstance(c, Conv)] == [32]
    assert blocks[1][0].shortcut.ops == ()  # 32 -> 32 at the same map: the identity
    assert [shape for _, shape in blocks] == [(32, 28, 28), (32, 28, 28), (64, 14, 14),
                                              (64, 7, 7)]
    assert plan.ops[-1] == Linear(64, 10)


def test_squeeze_excite_sits_before_the_sum_where_enabled() -> None:
    plan = plan_for(resnet(), CIFAR)
    ses = [op for op in _walk(plan.ops) if isinstance(op, SqueezeExcite)]
    assert ses == [SqueezeExcite(16, 4, 2, "sigmoid")]
    assert _blocks(plan)[2][0].main.ops[-1] == ses[0]
    off = plan_for(resnet(**{"resnet.se.1": False}), CIFAR)
    assert not any(isinstance(op, SqueezeExcite) for op in _walk(off.ops))


@pytest.mark.parametrize("data", [MNIST, CIFAR, SIGNAL], ids=["28x28x1", "32x32x3", "1d"])
def test_params_and_forward_match_the_plan(data: DataSpec) -> None:
    space = assemble_space(["resnet"], {"norm": ["batch", "none", "evonorm_b0"],
                                        "activation": ["relu", "swish"]},
                           {"resnet": {"width": [4, 8], "stages": {"low": 1, "high": 3}}})
    for arch in space.sample_distinct(6, np.random.default_rng(2)):
        plan = plan_for(arch, data)
        model = build_from_plan(plan).eval()
        assert sum(p.numel() for p in model.parameters()) == plan.params, dict(arch)
        assert model(torch.randn(3, *data.input_shape)).shape == (3, data.num_outputs)


def test_per_stage_bits_reach_the_shortcut_and_ends_stay_8_bit() -> None:
    arch = resnet(**{"weight_bits": 4, "act_bits": 4, "keep_ends_8bit": True,
                     "resnet.weight_bits.0": 2, "resnet.act_bits.0": 2,
                     "resnet.weight_bits.1": 8, "resnet.act_bits.1": 4,
                     "resnet.weight_bits.2": 1, "resnet.act_bits.2": 8})
    plan = plan_for(arch, CIFAR)
    convs = [op for op in _walk(plan.ops) if isinstance(op, Conv)]
    assert (convs[0].weight_bits, convs[0].act_bits) == (8, 8)  # stem
    blocks = _blocks(plan)
    for (block, _), expected in zip(blocks, [(2, 2), (2, 2), (8, 4), (1, 8)], strict=True):
        inner = [c for c in _walk(block.main.ops + block.shortcut.ops) if isinstance(c, Conv)]
        assert {(c.weight_bits, c.act_bits) for c in inner} == {expected}
    assert (plan.ops[-1].weight_bits, plan.ops[-1].act_bits) == (8, 8)
    model = build_from_plan(plan)
    assert sum(p.numel() for p in model.parameters()) == plan.params


def test_auto_strides_keep_stage_0_and_stop_at_4_pixels() -> None:
    arch = resnet(**{"resnet.stages": 4, "resnet.depth.3": 1, "resnet.width.3": 16,
                     "resnet.se.3": False})
    assert [s[1:] for _, s in _blocks(plan_for(arch, MNIST))][-3:] == [(14, 14), (7, 7), (4, 4)]
    assert [s[1:] for _, s in _blocks(plan_for(arch, DataSpec((1, 8, 8), 3)))] == [
        (8, 8), (8, 8), (4, 4), (4, 4), (4, 4)]


@pytest.mark.parametrize("table, message", [
    ({"block": ["basic", "dense"]}, r"block value\(s\) \['dense'\].*basic, bottleneck"),
    ({"widths": 8}, r"unknown key 'widths'.*'width'"),
    ({"se_gate": "relu"}, r"se_gate value\(s\) \['relu'\]"),
    ({"depth": 0}, "whole numbers >= 1"),
    ({"strides": [1, 2, 2]}, "at least 4"),
])
def test_bad_tables_name_the_key_and_the_allowed_values(table, message) -> None:
    with pytest.raises(SpaceError, match=message):
        assemble_space(["resnet"], {}, {"resnet": table})


def test_strides_that_shrink_a_map_below_3_pixels_are_refused() -> None:
    digits = DataSpec((1, 8, 8), 10, name="digits")
    family = FAMILIES.get("resnet")
    family.check_space(assemble_space(["resnet"], {}, {}), digits)
    bad = assemble_space(["resnet"], {}, {"resnet": {"stages": 3, "strides": [1, 2, 2]}})
    message = (r"\[space.resnet\] the 3x3 convolutions \(kernel 3\) at stage 2, whose feature "
               r"map is only 2x2 \(input 8x8 after the stem and strides 1, 2, 2\).*Use fewer "
               r"stride-2 stages")
    with pytest.raises(SpaceError, match=message):
        family.check_space(bad, digits)
    with pytest.raises(SpaceError, match=message):
        plan_for(bad.sample(np.random.default_rng(0)), digits)
