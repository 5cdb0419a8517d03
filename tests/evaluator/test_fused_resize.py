"""Fused candidates with a resolution: those of equal resolution stack (one resize for all
of them) and train as each alone; different resolutions never share a stack."""

from __future__ import annotations

import pytest
import torch
from fused_helpers import IMAGE, check_agrees, images

from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.fused.align import align_key, stack_key
from nasforge.evaluator.fused.stack import StackedModel
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec, NetworkPlan
from nasforge.searchspace.plan_ops import Resize

SPEC = DataSpec(IMAGE, 3, name="image-blobs")  # (1, 6, 6), the classes of `images()`


def cnn_plan(resolution: int, channels: int = 4, readout: str = "flatten",
             activation: str = "relu") -> NetworkPlan:
    arch = Architecture({"family": "cnn", "cnn.stages": 1, "cnn.convs_per_stage": 1,
                         "cnn.channels": channels, "cnn.kernel": 3, "cnn.pool": "max",
                         "cnn.readout": readout, "cnn.head_width": 0,
                         "activation": activation, "norm": "batch", "dropout": 0.0,
                         "resolution": resolution})
    return plan_for(arch, SPEC)


def params(count: int) -> list[TrainingParams]:
    return [TrainingParams(lr=2e-3 * (i + 1), weight_decay=0.01 * i, batch_size=16, epochs=2)
            for i in range(count)]


@pytest.mark.parametrize("readout", ["flatten", "global_avg"])
def test_equal_resolutions_fuse_and_match_training_each_alone(readout: str) -> None:
    plans = [cnn_plan(4, channels=c, readout=readout, activation=a)
             for c, a in ((4, "relu"), (6, "gelu"), (3, "relu"))]
    assert all(isinstance(plan.ops[0], Resize) for plan in plans)
    assert len({align_key(plan) for plan in plans}) == 1
    check_agrees(plans, params(3), data=images())


def test_different_resolutions_do_not_share_a_stack() -> None:
    four, five, six = cnn_plan(4), cnn_plan(5), cnn_plan(6)
    assert len({stack_key(four), stack_key(five), stack_key(six)}) == 3
    assert len({align_key(four), align_key(five), align_key(six)}) == 3
    assert not isinstance(six.ops[0], Resize)  # the data's own size: no resize at all


def test_the_stacked_resize_computes_each_models_resize() -> None:
    plans = [cnn_plan(5, channels=c) for c in (4, 6)]
    models = [build_from_plan(plan) for plan in plans]
    stacked = StackedModel.from_models(models, plans)
    x = torch.randn(7, *IMAGE, generator=torch.Generator().manual_seed(0))
    for model in models:
        model.eval()
    with torch.no_grad():
        out = stacked.forward(x.expand(2, *x.shape), training=False)
        for m, model in enumerate(models):
            torch.testing.assert_close(out[m], model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_equal_resolutions_fuse_and_match_on_cuda() -> None:
    data = images()
    moved = (t.cuda() for t in (data.x_train, data.y_train, data.x_val, data.y_val,
                                data.x_test, data.y_test))
    plans = [cnn_plan(4, channels=c) for c in (4, 6)]
    check_agrees(plans, params(2), data=DeviceData(*moved, spec=data.spec))
