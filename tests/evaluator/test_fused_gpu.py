"""Fused training on CUDA agrees with training each candidate alone on CUDA (run on a GPU
machine: `python -m pytest -m gpu tests/evaluator -n 0`)."""

from __future__ import annotations

import pytest
import torch
from fused_helpers import blobs, check_agrees, cnn, images, mlp

from nasforge.evaluator.data.tensors import DeviceData
from nasforge.evaluator.train import TrainingParams
from nasforge.searchspace.plan import NetworkPlan

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def on_cuda(data: DeviceData) -> DeviceData:
    moved = (t.cuda() for t in (data.x_train, data.y_train, data.x_val, data.y_val,
                                data.x_test, data.y_test))
    return DeviceData(*moved, spec=data.spec)


@pytest.fixture(autouse=True)
def ieee_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TF32 in convolutions (cuDNN's default): both sides then round alike."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        monkeypatch.setattr(conv, "fp32_precision", "ieee")
    else:
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


def params(count: int) -> list[TrainingParams]:
    return [TrainingParams(lr=3e-3 * (i + 1), weight_decay=0.01 * i, batch_size=24, epochs=3,
                           optimizer="sgd") for i in range(count)]


@pytest.mark.parametrize("plans", [
    [mlp("batch", width=w) for w in (16, 8, 12)],
    [mlp("layer", a, width=16) for a in ("relu", "gelu", "tanh")],
    [mlp(width=w, dropout=0.3) for w in (16, 8, 12)],
], ids=["padded-batch-norm", "mixed-activations", "dropout"])
def test_fused_mlps_match_on_cuda(plans: list[NetworkPlan]) -> None:
    check_agrees(plans, params(len(plans)), data=on_cuda(blobs()))


def test_fused_cnns_match_on_cuda() -> None:
    plans = [cnn((4, 6)), cnn((2, 8)), cnn((4, 3))]
    check_agrees(plans, params(3), data=on_cuda(images()))
