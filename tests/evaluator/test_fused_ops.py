"""The fused trainer dispatches through the specs: every spec's `fused` part is complete, and
what stacks (check, stack key) is decided by the plan op's implementation."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import CLASSES, FEATURES
from fused_helpers import IMAGE, cnn, mlp
from torch import nn

from nasforge.evaluator.fused import FusionError, check_fusable, stack_key
from nasforge.evaluator.fused.layers import Site, StackCtx
from nasforge.evaluator.fused.ops import ELEMENTWISE_LAYER, fused_impl
from nasforge.searchspace.plan import Activation, PlanBuilder
from nasforge.searchspace.specs import ACTIVATIONS, NORMS, NOT_STACKABLE, OP_SPECS

PARTS = ("check", "key", "exact_sizes", "describe", "forward")


def _specs() -> list[tuple[str, object]]:
    return ([(f"op {n}", OP_SPECS.get(n).fused) for n in OP_SPECS.names()]
            + [(f"activation {n}", ACTIVATIONS.get(n).fused) for n in ACTIVATIONS.names()]
            + [(f"norm {n}", NORMS.get(n).fused) for n in NORMS.names()])


@pytest.mark.parametrize(("name", "ref"), _specs(), ids=[name for name, _ in _specs()])
def test_every_specs_fused_part_is_complete(name: str, ref: object) -> None:
    impl = fused_impl(ref)
    if ref is NOT_STACKABLE:
        assert impl is None
        return
    assert impl is not None
    for part in PARTS:
        assert callable(getattr(impl, part, None)), f"{name}: its fused part lacks {part}"


def test_cells_and_residual_blocks_are_not_stackable() -> None:
    plan = PlanBuilder("mlp", (FEATURES,)).linear(8)
    plan.residual(plan.sub().linear(8).activation("relu")).linear(CLASSES)
    with pytest.raises(FusionError, match="op 1 \\(Residual\\).*not supported"):
        check_fusable(plan.build(), "candidate 0")


@pytest.mark.parametrize(("activation", "message"), [
    ("sin", "activation 'sin' is not stackable"),
    ("snake", "'snake' has learnable parameters"),
])
def test_activations_not_marked_stackable_are_refused(activation: str, message: str) -> None:
    with pytest.raises(FusionError, match=message):
        check_fusable(mlp(activation=activation), "candidate 0")


def test_layer_norm_over_spatial_axes_is_refused() -> None:
    with pytest.raises(FusionError, match="layer norm stacks on flat features only"):
        check_fusable(cnn(norm="layer"), "candidate 0")


def test_the_stack_key_ignores_widths_and_activation_kinds_but_not_norms() -> None:
    assert stack_key(mlp(width=8)) == stack_key(mlp(width=16, activation="gelu"))
    assert stack_key(mlp("batch")) != stack_key(mlp("layer"))
    assert stack_key(mlp()) != stack_key(mlp("batch"))


def test_grouped_convolutions_keep_their_sizes_in_the_stack_key() -> None:
    def grouped(channels: int) -> object:
        return (PlanBuilder("cnn", (4, *IMAGE[1:])).conv(channels, 3, groups=2)
                .flatten().linear(CLASSES).build())

    assert stack_key(grouped(4)) != stack_key(grouped(6))
    assert stack_key(cnn((4, 6))) == stack_key(cnn((3, 5)))


def test_an_elementwise_layer_with_parameters_is_refused() -> None:
    site = Site(2, [Activation("prelu", 4, 0)], [nn.PReLU(4)], [(4,)], torch.device("cpu"))
    with pytest.raises(FusionError, match="registered as elementwise but has parameters"):
        ELEMENTWISE_LAYER.describe(site)


def test_stacked_batch_norm_hands_on_a_contiguous_models_layout() -> None:
    """Batch norm runs per (model, channel) column of a (B, M * C) view; its output goes on
    in the (M, B, C) models layout contiguous: a strided one sends the next elementwise
    kernels down their slow paths (a stacked mish backward ran 10x slower)."""
    from nasforge.evaluator.fused.stack import StackedModel
    from nasforge.evaluator.seeding import seeded
    from nasforge.searchspace.build import build_from_plan

    plans = [mlp("batch", "mish", width=8, depth=1)] * 3
    with seeded(0):
        stack = StackedModel.from_models([build_from_plan(p) for p in plans], plans)
    norm = next(layer for layer in stack.layers if type(layer.impl).__name__ == "BatchNorm")
    ctx = StackCtx(stack.params, stack.buffers, stack.size, True)
    out, layout = norm.impl.forward(norm, (torch.randn(3, 5, 8), "models"), ctx)
    assert layout == "models" and out.shape == (3, 5, 8) and out.is_contiguous()
