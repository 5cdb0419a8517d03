"""model.onnx of an exported model matches PyTorch under onnxruntime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from export_helpers import FLAT, IMAGE, cell, cnn, exported, mlp, trained

from nasforge.export.onnx_check import write_onnx

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                reason="pip install 'nasforge[export]' for onnxruntime")


@pytest.mark.parametrize("arch,spec", [
    (mlp(activation="pau", weight_bits=1, act_bits=1), FLAT),
    (mlp(activation="snake", weight_bits=16, act_bits=16), FLAT),
    (mlp(norm="rms", weight_bits=8, act_bits=8, quant_step="learned"), FLAT),
    (cnn(norm="evonorm_b0", weight_bits=4, act_bits=4, **{"cnn.head_width": 0}), IMAGE),
    (cell({(1, 0): "sep_conv_3x3", (2, 1): "dil_conv_3x3", (3, 2): "avg_pool_3x3"},
          norm="evonorm_s0", weight_bits=2, act_bits=2, quant_step="learned"), IMAGE),
], ids=["binary-pau", "bf16-snake", "lsq8-rms", "cnn-evonorm-4bit", "cell-2bit"])
def test_onnx_matches_pytorch(arch: object, spec: object, tmp_path: Path) -> None:
    plan, model = trained(arch, spec)  # type: ignore[arg-type]
    check = write_onnx(exported(plan, model, tmp_path), plan.input_shape, tmp_path / "m.onnx")
    assert check.max_abs_diff <= 1e-4
