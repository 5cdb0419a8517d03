"""Fused CNNs (one grouped convolution over the models' channels) agree with training each
candidate alone."""

from __future__ import annotations

import pytest
from evaluator_helpers import CLASSES
from fused_helpers import IMAGE, check_agrees, cnn, images

from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.plan import PlanBuilder


def params(count: int, **fixed: object) -> list[TrainingParams]:
    return [TrainingParams(lr=2e-3 * (i + 1), weight_decay=0.02 * i, batch_size=16, epochs=2,
                           **fixed) for i in range(count)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("norm", "pool", "readout"), [
    ("batch", "max", "flatten"), ("none", "avg", "global_avg"), ("batch", "none", "global_avg"),
])
def test_small_cnns_match_training_each_alone(norm: str, pool: str, readout: str) -> None:
    plan = cnn(norm=norm, pool=pool, readout=readout)
    check_agrees(plan, params(3), data=images())


def test_channels_and_activations_may_differ() -> None:
    plans = [cnn((4, 6), activation="relu"), cnn((2, 8), activation="gelu"),
             cnn((4, 3), activation="sigmoid"), cnn((1, 1), activation="relu")]
    check_agrees(plans, params(4), data=images())


@pytest.mark.parametrize(("kernel", "stride", "dilation"), [(2, 1, 1), (3, 2, 1), (3, 1, 2),
                                                            (1, 1, 1)])
def test_kernels_strides_and_dilations_match(kernel: int, stride: int, dilation: int) -> None:
    plan = cnn((3, 4), kernel=kernel, stride=stride, dilation=dilation, pool="none")
    check_agrees(plan, params(2, optimizer="sgd"), data=images())


def test_a_head_layer_after_the_convolutions_matches() -> None:
    plans = [cnn((3,), head=w) for w in (6, 10)]
    check_agrees(plans, params(2), data=images())


def test_dropout_after_the_convolutions_matches() -> None:
    plans = []
    for channels in ((3, 4), (2, 6)):
        plan = PlanBuilder("cnn", IMAGE)
        for c in channels:
            plan.conv(c, 3).activation("relu").pool("max", 2)
        plans.append(plan.flatten().dropout(0.25).linear(CLASSES).build())
    check_agrees(plans, params(2), data=images())
