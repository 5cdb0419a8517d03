"""The space's breadth dimensions through the families: bit widths (global, per layer, the
8-bit ends policy) with hand-computed BOPs and sizes, norm-activation layers that subsume the
activation, and the cell family with its canonical form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.errors import SpaceError
from nasforge.evaluator.seeding import seeded
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan, check_buildable
from nasforge.searchspace.families import FAMILIES, plan_for
from nasforge.searchspace.families.cell_ops import CELL_OPS
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.searchspace.plan import Activation, Cell, Conv, DataSpec, Linear, Norm, Residual
from nasforge.searchspace.quantization import BIT_WIDTHS

IMAGE = DataSpec((1, 8, 8), 10, name="digits")
SIGNAL = DataSpec((1, 40), 10, name="mnist1d")


def _mlp(**values: object) -> Architecture:
    return Architecture({"family": "mlp", "mlp.depth": 2, "mlp.width": 16, "activation": "relu",
                         "norm": "none", "dropout": 0.0, **values})  # type: ignore[arg-type]


def test_mlp_bops_and_size_by_hand_with_the_eight_bit_ends() -> None:
    plan = plan_for(_mlp(weight_bits=2, act_bits=4, keep_ends_8bit=True), IMAGE)
    layers = [op for op in plan.ops if isinstance(op, Linear)]
    assert [(op.weight_bits, op.act_bits) for op in layers] == [(8, 8), (2, 4), (8, 8)]
    assert plan.macs == 64 * 16 + 16 * 16 + 16 * 10
    assert plan.bops == 64 * 16 * 8 * 8 + 16 * 16 * 2 * 4 + 16 * 10 * 8 * 8
    weights = 64 * 16 * 8 + 16 * 16 * 2 + 16 * 10 * 8
    assert plan.size_bits == weights + (16 + 16 + 10) * 32  # biases stay float
    assert plan.params == 64 * 16 + 16 * 16 + 16 * 10 + 16 + 16 + 10
    float_plan = plan_for(_mlp(), IMAGE)
    assert float_plan.bops == float_plan.macs * 32 * 32
    assert float_plan.size_bits == float_plan.params * 32


def test_cnn_bops_by_hand() -> None:
    arch = Architecture({"family": "cnn", "cnn.stages": 1, "cnn.channels": 4,
                         "cnn.convs_per_stage": 1, "cnn.kernel": 3, "cnn.pool": "none",
                         "cnn.readout": "global_avg", "cnn.head_width": 0,
                         "activation": "relu", "norm": "batch", "dropout": 0.0,
                         "weight_bits": 4, "act_bits": 8})
    plan = plan_for(arch, IMAGE)
    assert plan.bops == 64 * 4 * 1 * 9 * 4 * 8 + 4 * 10 * 4 * 8
    assert plan.size_bits == 4 * 9 * 4 + 4 * 10 * 4 + (2 * 4 + 10) * 32


def test_per_layer_bits_give_every_hidden_layer_its_own_width() -> None:
    space = assemble_space(["mlp"], {"weight_bits": [8, 4, 2], "act_bits": [8, 4]},
                           {"mlp": {"per_layer_bits": True, "depth": {"low": 1, "high": 3}}})
    assert {"mlp.weight_bits.0", "mlp.weight_bits.2", "mlp.act_bits.1"} <= set(space.names)
    assert space.conditions["mlp.weight_bits.2"][0].values == (3,)
    arch = space.validate({**space.sample(np.random.default_rng(0)), "mlp.depth": 2,
                           "mlp.weight_bits.0": 2, "mlp.weight_bits.1": 8, "mlp.act_bits.0": 4,
                           "mlp.act_bits.1": 8, "weight_bits": 4, "act_bits": 4}
)
    layers = [op for op in plan_for(arch, IMAGE).ops if isinstance(op, Linear)]
    assert [(op.weight_bits, op.act_bits) for op in layers] == [(2, 4), (8, 8), (4, 4)]


@pytest.mark.parametrize(("shared", "tables", "message"), [
    ({"weight_bits": [8, 3]}, {}, "not a supported bit width"),
    ({"weight_bits": {"low": 2, "high": 8}}, {}, "3 is not a supported bit width"),
    ({"weight_bits": {"low": 2.0, "high": 8.0}}, {}, "not a range"),
    ({"quant_step": ["lsq"]}, {}, "quant_step"),
    ({"keep_ends_8bit": "yes"}, {}, "keep_ends_8bit"),
    ({}, {"mlp": {"per_layer_bits": True}}, "needs weight_bits or act_bits"),
    ({"weight_bits": 4}, {"mlp": {"per_layer_bits": "yes"}}, "true or false"),
])
def test_bad_quantization_settings_are_refused(shared, tables, message) -> None:
    with pytest.raises(SpaceError, match=message):
        assemble_space(["mlp"], shared, tables)


def test_float_spaces_keep_their_parameters() -> None:
    """Quantization keys join a space only when given: stored float searches keep their ids."""
    space = assemble_space(["mlp"], {}, {})
    assert not {"weight_bits", "act_bits", "quant_step", "keep_ends_8bit"} & set(space.names)


def test_a_norm_activation_layer_subsumes_the_activation() -> None:
    space = assemble_space(["mlp", "cnn"], {"norm": ["batch", "evonorm_s0"],
                                            "activation": ["relu", "gelu"]}, {})
    assert space.conditions["activation"][0].values == ("batch",)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    evo = [a for a in archs if a["norm"] == "evonorm_s0"]
    assert evo and all("activation" not in a for a in evo)
    for arch in evo:
        plan = plan_for(arch, IMAGE)
        assert not any(isinstance(op, Activation) for op in plan.ops)
        assert any(isinstance(op, Norm) and op.kind == "evonorm_s0" for op in plan.ops)
    # every norm replaces the activation: the activation leaves the space
    only = assemble_space(["mlp"], {"norm": ["evonorm_s0"]}, {})
    assert "activation" not in only.names
    with pytest.raises(SpaceError, match="replaces the activation"):
        assemble_space(["mlp"], {"norm": ["evonorm_s0"], "activation": ["relu", "gelu"]}, {})


def test_a_norm_the_family_cannot_use_is_refused_before_training() -> None:
    space = assemble_space(["mlp"], {"norm": ["batch", "evonorm_b0"]}, {})
    with pytest.raises(SpaceError, match="evonorm_b0"):
        check_buildable(space, IMAGE)
    for norm in ("instance", "ibn"):
        with pytest.raises(SpaceError, match=norm):
            check_buildable(assemble_space(["mlp"], {"norm": [norm]}, {}), IMAGE)
    check_buildable(assemble_space(["cnn"], {"norm": ["evonorm_b0", "ibn"]},
                                   {"cnn": {"head_width": 0}}), IMAGE)


def _cell_values(**edges: str) -> dict[str, object]:
    values = {"family": "cell", "cell.channels": 4, "cell.stages": 1, "cell.cells_per_stage": 1,
              "activation": "relu", "norm": "batch", "dropout": 0.0}
    ops = {f"cell.edge_{to}_{source}": "none" for to in range(1, 4) for source in range(to)}
    return {**values, **ops, **{f"cell.{k}": v for k, v in edges.items()}}


def test_cell_plan_and_macs_by_hand() -> None:
    arch = Architecture(_cell_values(edge_1_0="nor_conv_3x3", edge_3_1="skip_connect",
                              edge_2_0="nor_conv_1x1", edge_3_2="avg_pool_3x3",
                              edge_3_0="sep_conv_3x3"))
    plan = plan_for(arch, IMAGE)
    (cell,) = [op for op in plan.ops if isinstance(op, Cell)]
    assert {(e.to, e.source, e.op) for e in cell.edges} == {
        (1, 0, "nor_conv_3x3"), (2, 0, "nor_conv_1x1"), (3, 0, "sep_conv_3x3"),
        (3, 1, "skip_connect"), (3, 2, "avg_pool_3x3")}
    positions, c = 64, 4
    stem = positions * c * 1 * 9
    edges = positions * c * c * 9 + positions * c * c + positions * (c * 9 + c * c)
    assert plan.macs == stem + edges + c * 10


def test_cell_dead_edges_are_not_built_and_equivalent_cells_share_an_id() -> None:
    space = assemble_space(["cell"], {}, {"cell": {"stages": 1, "cells_per_stage": 1,
                                                   "channels": 4}})
    base = dict(space.sample(np.random.default_rng(0)))

    def _cell(**edges: str) -> dict[str, object]:
        return {**base, **_cell_values(**edges)}

    # node 2 never reaches the output: its edges compute nothing that is used
    dead = space.validate(_cell(edge_1_0="nor_conv_3x3", edge_3_1="nor_conv_1x1",
                                edge_2_0="nor_conv_3x3", edge_2_1="avg_pool_3x3"))
    alive = space.validate(_cell(edge_1_0="nor_conv_3x3", edge_3_1="nor_conv_1x1"))
    assert dead.arch_id == alive.arch_id
    assert sorted(v for k, v in dead.items() if "edge" in k and v != "none") == [
        "nor_conv_1x1", "nor_conv_3x3"]
    # swapping the intermediate nodes (no edge between them) is the same network
    a = space.validate(_cell(edge_1_0="nor_conv_3x3", edge_2_0="avg_pool_3x3",
                             edge_3_1="skip_connect", edge_3_2="nor_conv_1x1"))
    b = space.validate(_cell(edge_1_0="avg_pool_3x3", edge_2_0="nor_conv_3x3",
                             edge_3_1="nor_conv_1x1", edge_3_2="skip_connect"))
    assert a.arch_id == b.arch_id
    (cell,) = [op for op in plan_for(dead, IMAGE).ops if isinstance(op, Cell)]
    assert len(cell.edges) == 2


def test_cell_space_settings_are_checked() -> None:
    for table, message in (({"ops": ["nor_conv_3x3", "conv9x9"]}, "Unknown cell op"),
                           ({"nodes": 9}, "nodes"), ({"ops": []}, "non-empty"),
                           ({"ops": ["none"]}, "ignore their input"),
                           ({"per_layer_bits": True}, "no per-layer bit widths")):
        with pytest.raises(SpaceError, match=message):
            assemble_space(["cell"], {"weight_bits": 8}, {"cell": table})
    space = assemble_space(["cell"], {}, {"cell": {"nodes": 3, "ops": ["skip_connect",
                                                                       "sep_conv_3x3"]}})
    assert [n for n in space.names if "edge" in n] == ["cell.edge_1_0", "cell.edge_2_0",
                                                        "cell.edge_2_1"]
    flat = DataSpec((12,), 3, name="csv")
    with pytest.raises(SpaceError, match="cell family needs"):
        plan_for(space.sample(np.random.default_rng(0)), flat)


def test_cell_macro_network_reduces_between_stages() -> None:
    space = assemble_space(["cell"], {"weight_bits": [4]}, {"cell": {
        "stages": 3, "cells_per_stage": 2, "channels": 8, "ops": sorted(CELL_OPS.names())}})
    arch = space.sample(np.random.default_rng(1))
    plan = plan_for(arch, SIGNAL)
    assert sum(isinstance(op, Cell) for op in plan.ops) == 6
    reductions = [(op, shape) for op, shape in zip(plan.ops, plan.shapes, strict=True)
                  if isinstance(op, Residual)]
    assert [shape for _, shape in reductions] == [(16, 20), (32, 10)]
    convs = [op for op, _ in plan.layers() if isinstance(op, Conv)]
    assert all(op.weight_bits == 4 for op in convs)
    model = build_from_plan(plan)
    assert sum(p.numel() for p in model.parameters()) == plan.params


def _usable_norms(family: str, data: DataSpec) -> list[str]:
    usable = []
    for norm in NORMS.names():
        try:
            check_buildable(assemble_space([family], {"norm": [norm]}, {}), data)
        except SpaceError:
            continue
        usable.append(norm)
    return usable


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("data", [IMAGE, SIGNAL], ids=["image", "signal"])
def test_every_sampled_architecture_of_the_full_space_builds_and_trains_a_step(
        family: str, data: DataSpec) -> None:
    """Contract: every family over every activation, every norm it can use and every bit
    width (fixed and learned steps) builds a model matching its plan that trains a step."""
    norms = _usable_norms(family, data)
    assert "batch" in norms and "evonorm_s0" in norms
    shared = {"activation": list(ACTIVATIONS.names()), "norm": norms,
              "weight_bits": list(BIT_WIDTHS), "act_bits": list(BIT_WIDTHS),
              "quant_step": ["fixed", "learned"], "keep_ends_8bit": [True, False]}
    tables = {"cell": {"ops": list(CELL_OPS.names()), "stages": [1, 2], "channels": 4,
                       "cells_per_stage": 1}}
    space = assemble_space([family], shared, {k: v for k, v in tables.items() if k == family})
    rng = np.random.default_rng(7)
    x = torch.randn(6, *data.input_shape, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6) % data.num_outputs
    for i in range(10):
        arch = space.sample(rng)
        plan = plan_for(arch, data)
        with seeded(i):
            model = build_from_plan(plan).train()
        assert sum(p.numel() for p in model.parameters()) == plan.params
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss), arch
        for name, param in model.named_parameters():
            assert param.grad is not None and torch.isfinite(param.grad).all(), (name, arch)
        torch.optim.SGD(model.parameters(), lr=0.01).step()
        assert torch.isfinite(model.eval()(x)).all(), arch


def test_group_norm_on_features_normalizes_groups_of_at_least_two() -> None:
    for channels in (2, 16, 32, 48, 64):
        layer = NORMS.get("group")(channels, 0)
        assert channels // layer.num_groups >= 2
        out = layer(torch.randn(5, channels, generator=torch.Generator().manual_seed(0)))
        assert out.std(dim=1).min() > 0.5  # not a constant
    assert NORMS.get("group")(64, 2).num_groups == 32


def test_plan_signatures_keep_structure_and_drop_sizes() -> None:
    narrow = plan_for(_mlp(**{"mlp.width": 16}), IMAGE)
    wide = plan_for(_mlp(**{"mlp.width": 64}), IMAGE)
    assert narrow.signature() == wide.signature()
    assert plan_for(_mlp(weight_bits=4), IMAGE).signature() != narrow.signature()
    assert plan_for(_mlp(activation="gelu"), IMAGE).signature() != narrow.signature()
    a = Architecture(_cell_values(edge_1_0="nor_conv_3x3", edge_3_1="skip_connect"))
    b = Architecture(_cell_values(edge_1_0="nor_conv_1x1", edge_3_1="skip_connect"))
    wider = Architecture({**_cell_values(edge_1_0="nor_conv_3x3", edge_3_1="skip_connect"),
                          "cell.channels": 8})
    assert plan_for(a, IMAGE).signature() != plan_for(b, IMAGE).signature()
    assert plan_for(a, IMAGE).signature() == plan_for(wider, IMAGE).signature()
