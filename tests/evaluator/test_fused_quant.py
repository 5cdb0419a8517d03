"""Fused quantized candidates (fixed-step fake quantization, per-model observers) agree with
training each alone."""

from __future__ import annotations

import pytest
from evaluator_helpers import CLASSES, FEATURES
from fused_helpers import IMAGE, check_agrees, images

from nasforge.evaluator.fused import FusionError, train_fused
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.plan import NetworkPlan, PlanBuilder
from nasforge.searchspace.quantization import LayerBits


def quant_mlp(weight: int, act: int, norm: str = "batch", learned: bool = False,
              width: int = 16) -> NetworkPlan:
    bits = LayerBits(weight, act, learned)
    plan = PlanBuilder("mlp", (FEATURES,)).linear(width, bias=norm == "none", bits=LayerBits(8, 8))
    plan.norm_activation(norm, "relu").linear(width, bias=norm == "none", bits=bits)
    return plan.norm_activation(norm, "relu").linear(CLASSES, bits=LayerBits(8, 8)).build()


def params(count: int) -> list[TrainingParams]:
    return [TrainingParams(lr=3e-3 * (i + 1), weight_decay=0.01 * i, batch_size=24, epochs=3)
            for i in range(count)]


@pytest.mark.parametrize(("weight", "act"), [(8, 8), (4, 4), (2, 2), (1, 1), (16, 16), (4, 32)])
def test_quantized_mlps_match_training_each_alone(weight: int, act: int) -> None:
    check_agrees(quant_mlp(weight, act), params(3))


#: A grouped convolution's gradients differ from one convolution's by float rounding (1e-6);
#: on a 2-4 bit grid such a difference can move a weight across a rounding boundary, after
#: which the two runs differ by about a quantization step in a few weights.
GRID_TOL = {"rtol": 0.05, "atol": 5e-3}


def test_quantized_cnns_match_training_each_alone() -> None:
    plan = PlanBuilder("cnn", IMAGE).conv(4, 3, bias=False, bits=LayerBits(4, 4))
    plan.norm_activation("batch", "relu").pool("max", 2)
    plan.conv(4, 2, bias=False, bits=LayerBits(2, 8)).norm_activation("batch", "relu")
    plan.flatten().linear(CLASSES, bits=LayerBits(8, 8))
    check_agrees(plan.build(), params(3), data=images(), tol=GRID_TOL)


def test_quantized_plans_of_different_widths_or_learned_steps_are_not_fused() -> None:
    with pytest.raises(FusionError, match="layer structure differs"):
        train_fused([quant_mlp(4, 4), quant_mlp(4, 4, width=8)], None,  # type: ignore[arg-type]
                    params(2), seeds=[1, 2], task="classification")
    with pytest.raises(FusionError, match="LSQ"):
        train_fused([quant_mlp(4, 4, learned=True)] * 2, None,  # type: ignore[arg-type]
                    params(2), seeds=[1, 2], task="classification")
