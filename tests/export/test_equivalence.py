"""model.py with the evaluated model's weights computes what the evaluated model computes
(eval mode, fp32), for every family x activation x norm x quantization level."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import FLAT, IMAGE, SEQUENCE, assert_same, cell, cnn, mlp, train_plan, trained

from nasforge.errors import SpaceError
from nasforge.searchspace.families.cell_ops import CELL_OPS
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.searchspace.plan import PlanBuilder
from nasforge.searchspace.quantization import BIT_WIDTHS, LayerBits


def _usable(norm: str, dims: int) -> bool:
    try:
        NORMS.get(norm)(4, dims)
    except SpaceError:
        return False
    return True


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_every_activation_on_an_mlp(activation: str, tmp_path: Path) -> None:
    assert_same(*trained(mlp(activation=activation, norm="none"), FLAT), tmp_path)


@pytest.mark.parametrize("activation", ["prelu", "swish", "snake", "pau"])
def test_learnable_activations_on_a_cnn(activation: str, tmp_path: Path) -> None:
    assert_same(*trained(cnn(activation=activation), IMAGE), tmp_path)


@pytest.mark.parametrize("norm", [n for n in NORMS.names() if _usable(n, 0)])
def test_every_usable_norm_on_an_mlp(norm: str, tmp_path: Path) -> None:
    assert_same(*trained(mlp(norm=norm), FLAT), tmp_path)


@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("spec", [IMAGE, SEQUENCE], ids=["2d", "1d"])
def test_every_norm_on_a_cnn(norm: str, spec: object, tmp_path: Path) -> None:
    head = 8 if _usable(norm, 0) else 0  # a head norms flat features
    arch = cnn(norm=norm, **{"cnn.head_width": head})
    assert_same(*trained(arch, spec), tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize("step", ["fixed", "learned"])
@pytest.mark.parametrize("bits", BIT_WIDTHS)
@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_every_bit_width(family: str, bits: int, step: str, tmp_path: Path) -> None:
    make, spec = (mlp, FLAT) if family == "mlp" else (cnn, IMAGE)
    arch = make(weight_bits=bits, act_bits=bits, quant_step=step, keep_ends_8bit=False)
    assert_same(*trained(arch, spec, steps=4), tmp_path)


@pytest.mark.parametrize("weight_bits,act_bits", [(2, 8), (1, 4), (8, 1), (16, 4)])
def test_mixed_bit_widths(weight_bits: int, act_bits: int, tmp_path: Path) -> None:
    arch = cnn(weight_bits=weight_bits, act_bits=act_bits, quant_step="learned",
               keep_ends_8bit=True)
    assert_same(*trained(arch, IMAGE), tmp_path)


@pytest.mark.parametrize("op", [o for o in CELL_OPS.names() if o != "none"])
def test_cells_with_each_op(op: str, tmp_path: Path) -> None:
    arch = cell({(1, 0): op, (2, 1): op, (3, 2): op, (3, 0): "skip_connect",
                 (2, 0): "none", (3, 1): "none"})
    assert_same(*trained(arch, IMAGE), tmp_path)


@pytest.mark.parametrize("norm", ["evonorm_b0", "ibn", "none"])
def test_quantized_cells(norm: str, tmp_path: Path) -> None:
    arch = cell({(1, 0): "nor_conv_3x3", (2, 1): "sep_conv_3x3", (3, 2): "max_pool_3x3"},
                norm=norm, activation="swish", weight_bits=4, act_bits=4,
                quant_step="learned")
    assert_same(*trained(arch, SEQUENCE), tmp_path)


def test_even_kernels_and_overlapping_pools(tmp_path: Path) -> None:
    """Plans no family makes today but build.py supports: even kernels (zero pad + conv),
    strided and dilated convs, overlapping avg pools."""
    b = PlanBuilder("custom", (2, 9, 9))
    b.conv(4, 2).norm("batch").activation("gelu").conv(4, 4, stride=2, dilation=1)
    b.conv(4, 3, dilation=2, groups=2, bits=LayerBits(4, 8)).pool("avg", 3, stride=2)
    b.pool("max", 3, stride=1).global_pool().linear(3)
    assert_same(*train_plan(b.build(), 3), tmp_path)
