"""Precision names, per-device resolution, scoped autocast / TF32, and bf16 training."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import blobs

from nasforge.errors import ConfigError
from nasforge.evaluator.precision import PRECISIONS, autocast, resolve_precision, tf32
from nasforge.evaluator.seeding import seeded
from nasforge.evaluator.train import TrainingParams, TrainOutcome, train_candidate
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.plan import PlanBuilder


@pytest.mark.parametrize(("name", "cpu", "cuda"), [
    ("auto", "fp32", "bf16"), ("fp32", "fp32", "fp32"), ("tf32", "fp32", "tf32"),
    ("bf16", "bf16", "bf16")])
def test_resolution_per_device(name: str, cpu: str, cuda: str) -> None:
    assert resolve_precision(name, "cpu") == cpu
    assert resolve_precision(name, torch.device("cuda")) == cuda


def test_unknown_precision_names_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="precision='fp16' is invalid; choose one of 'auto', "
                                          "'fp32', 'tf32', 'bf16'"):
        resolve_precision("fp16", "cpu")


def test_config_and_evaluator_agree_on_the_names() -> None:
    from nasforge.config import PRECISIONS as CONFIG_PRECISIONS

    assert CONFIG_PRECISIONS == PRECISIONS


def test_autocast_is_bf16_only_for_bf16() -> None:
    layer = torch.nn.Linear(4, 2)
    with autocast("cpu", "bf16"):
        assert layer(torch.randn(3, 4)).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert layer(torch.randn(3, 4)).dtype == torch.float32
    assert layer(torch.randn(3, 4)).dtype == torch.float32


def test_tf32_context_sets_and_restores_the_flags() -> None:
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = (matmul.fp32_precision, conv.fp32_precision)
    with pytest.raises(RuntimeError, match="boom"), tf32("cuda", "tf32"):
        assert (matmul.fp32_precision, conv.fp32_precision) == ("tf32", "tf32")
        raise RuntimeError("boom")
    assert (matmul.fp32_precision, conv.fp32_precision) == before
    for device, precision in (("cpu", "tf32"), ("cuda", "fp32"), ("cuda", "bf16")):
        with tf32(device, precision):
            assert (matmul.fp32_precision, conv.fp32_precision) == before


def train(precision: str, device: str = "cpu") -> TrainOutcome:
    data = blobs()
    if device != "cpu":
        from nasforge.evaluator.data.tensors import DeviceData

        data = DeviceData(data.x_train.to(device), data.y_train.to(device), data.x_val.to(device),
                          data.y_val.to(device), data.x_test.to(device), data.y_test.to(device),
                          data.spec)
    plan = PlanBuilder("mlp", (8,)).linear(32).activation("relu").linear(3).build()
    with seeded(0, device):
        model = build_from_plan(plan).to(device)
    return train_candidate(model, data, TrainingParams(lr=1e-2, epochs=3, batch_size=32), seed=0,
                           task="classification", precision=precision)


def test_bf16_trains_close_to_fp32_on_cpu() -> None:
    fp32, bf16 = train("fp32"), train("bf16")
    assert isinstance(bf16.train_loss, float) and (bf16.val_accuracy or 0) > 0.9
    for a, b in zip(fp32.curve, bf16.curve, strict=True):
        assert b.metrics["val_loss"] == pytest.approx(a.metrics["val_loss"], rel=0.1, abs=0.02)
    assert train("bf16").curve == bf16.curve  # still deterministic


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["auto", "bf16", "tf32"])
def test_cuda_fast_precisions_train_close_to_fp32(precision: str) -> None:
    fp32, fast = train("fp32", "cuda"), train(precision, "cuda")
    assert (fast.val_accuracy or 0) > 0.9
    for a, b in zip(fp32.curve, fast.curve, strict=True):
        assert b.metrics["val_loss"] == pytest.approx(a.metrics["val_loss"], rel=0.1, abs=0.02)
