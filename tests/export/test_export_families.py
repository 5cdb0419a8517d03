"""model.py of the mbconv and resnet families (residual blocks, depthwise convolutions,
squeeze-and-excite) computes what the evaluated model computes, in PyTorch and in ONNX."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from export_helpers import assert_same, exported, trained

from nasforge.export import ModelMeta, generate
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.plan import DataSpec

IMAGE = DataSpec((1, 12, 12), 3)
RGB = DataSpec((3, 10, 10), 4)
SEQUENCE = DataSpec((2, 20), 3)


def mbconv(**values: object) -> Architecture:
    base: dict[str, object] = {
        "family": "mbconv", "mbconv.stages": 2, "mbconv.stem": 8, "mbconv.head_channels": 16,
        "mbconv.head_width": 0, "mbconv.depth.0": 1, "mbconv.expand.0": 1,
        "mbconv.kernel.0": 3, "mbconv.width.0": 8, "mbconv.se.0": True,
        "mbconv.depth.1": 2, "mbconv.expand.1": 3, "mbconv.kernel.1": 5,
        "mbconv.width.1": 12, "mbconv.se.1": True, "mbconv.se_ratio": 0.25,
        "mbconv.se_gate": "hardsigmoid", "activation": "hardswish", "norm": "batch",
        "dropout": 0.0}
    merged = {**base, **values}
    if str(merged["norm"]).startswith("evonorm"):
        merged.pop("activation")
    return Architecture(merged)


def resnet(**values: object) -> Architecture:
    base: dict[str, object] = {
        "family": "resnet", "resnet.stages": 2, "resnet.stem": 8, "resnet.block": "basic",
        "resnet.depth.0": 2, "resnet.width.0": 8, "resnet.se.0": False,
        "resnet.depth.1": 1, "resnet.width.1": 8, "resnet.se.1": True,
        "resnet.se_ratio": 0.5, "resnet.se_gate": "sigmoid", "activation": "relu",
        "norm": "batch", "dropout": 0.0}
    merged = {**base, **values}
    if str(merged["norm"]).startswith("evonorm"):
        merged.pop("activation")
    return Architecture(merged)


CASES = {
    "mbconv-bn-hardswish": (mbconv(), IMAGE),
    "mbconv-swish-1d": (mbconv(activation="swish", **{"mbconv.se_gate": "sigmoid"}), SEQUENCE),
    "mbconv-evonorm-head": (mbconv(norm="evonorm_s0", **{"mbconv.head_width": 16}), RGB),
    "mbconv-4bit-ends8": (mbconv(weight_bits=4, act_bits=4, quant_step="learned",
                                 keep_ends_8bit=True), IMAGE),
    "resnet-basic": (resnet(), IMAGE),
    "resnet-bottleneck-1d": (resnet(**{"resnet.block": "bottleneck"}, norm="group"),
                             SEQUENCE),
    "resnet-bottleneck-2bit": (resnet(**{"resnet.block": "bottleneck"}, weight_bits=2,
                                      act_bits=8), RGB),
}


@pytest.mark.parametrize("name", CASES)
def test_exported_model_equals_the_evaluated_one(name: str, tmp_path: Path) -> None:
    arch, spec = CASES[name]
    assert_same(*trained(arch, spec, steps=4), tmp_path)


def test_model_py_is_plain_pytorch_with_the_squeeze_excite_class_inlined() -> None:
    arch, spec = CASES["mbconv-bn-hardswish"]
    plan, _ = trained(arch, spec, steps=1)
    source = generate(plan, ModelMeta(search="t", trial=0)).source
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all("nasforge" not in line for line in imports)
    assert "class SqueezeExcite(nn.Module)" in source
    assert 'SqueezeExcite(24, 6, 2, gate="hardsigmoid")' in source
    assert "Residual(" in source and "groups=24" in source


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="pip install 'nasforge[export]' for onnxruntime")
@pytest.mark.parametrize("name", ["mbconv-bn-hardswish", "resnet-bottleneck-1d"])
def test_onnx_matches_pytorch(name: str, tmp_path: Path) -> None:
    from nasforge.export.onnx_check import write_onnx

    arch, spec = CASES[name]
    plan, model = trained(arch, spec)
    check = write_onnx(exported(plan, model, tmp_path), plan.input_shape, tmp_path / "m.onnx")
    assert check.max_abs_diff <= 1e-4
