"""The mbconv and resnet families end to end through the CLI, on digits (8x8 images): search
with batches of candidates on two worker processes, show, export model.py + weights + ONNX
and run them on the raw pixels, the dashboard's trial page; and a kernel larger than its
feature map refused with exit 2 before anything is written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from stored_models import exported_model, stored_logits
from typer.testing import CliRunner

from nasforge.ui.cli import app

runner = CliRunner()

CONFIG = """
[search]
name = "fam"
budget = 6
batch = 3
objectives = ["accuracy:max", "macs:min"]
seed = {seed}

[data]
dataset = "digits"

[training]
epochs = 2
batch_size = 32
measure_latency = false
checkpoints = "all"

[space]
families = ["mbconv", "resnet"]
activation = ["relu", "hardswish"]
norm = ["batch"]
lr = 0.01

[space.mbconv]
stages = {{ low = 1, high = 2 }}
width = [8, 16]
expand = [1, 3]
kernel = [3, 5]
head_channels = 32
{mbconv_extra}

[space.resnet]
stages = {{ low = 1, high = 2 }}
width = [8, 16]
depth = 1
block = ["basic", "bottleneck"]
"""


def _write(tmp_path: Path, seed: int = 0, mbconv_extra: str = "") -> Path:
    path = tmp_path / "fam.toml"
    path.write_text(CONFIG.format(seed=seed, mbconv_extra=mbconv_extra))
    return path


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def _raw_test_pixels(seed: int) -> torch.Tensor:
    from sklearn.datasets import load_digits

    from nasforge.evaluator.data.split import split_indices

    digits = load_digits()
    rows = split_indices(digits.target, seed=seed, val_fraction=0.2, test_fraction=0.2,
                         stratify=True).test
    return torch.from_numpy(digits.data[rows])  # pixels 0..16, (N, 64) float64


@pytest.mark.slow
def test_search_show_export_and_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(cache))
    url = f"sqlite:///{tmp_path / 'fam.db'}"
    result = _invoke("search", str(_write(tmp_path)), "--storage", url, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "6 complete, 0 failed" in result.stdout
    shown = _invoke("show", "fam", "--storage", url, "--json")
    assert shown.exit_code == 0, shown.output
    trials = json.loads(shown.stdout)["trials"]
    assert [t["state"] for t in trials] == ["COMPLETE"] * 6
    first = {}
    for trial in trials:
        first.setdefault(trial["arch"]["family"], trial)
        assert trial["metrics"]["accuracy"] > 0.3  # chance is 0.1
        assert trial["metrics"]["macs"] > 0
    assert set(first) == {"mbconv", "resnet"}

    raw = _raw_test_pixels(seed=0)
    onnx = importlib.util.find_spec("onnxruntime") is not None
    for family, trial in first.items():
        out = tmp_path / f"out_{family}"
        args = ["export", "fam", "--trial", str(trial["number"]), "--weights", "-o", str(out),
                "--storage", url, *(["--onnx"] if onnx else [])]
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        folder = out / f"trial_{trial['number']:04d}"
        expected = stored_logits(url, "fam", trial["number"], cache)
        with torch.no_grad():
            got = exported_model(folder, f"fam_model_{folder.name}")[0](raw.float())
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        if onnx:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(folder / "model.onnx"),
                                                   providers=["CPUExecutionProvider"])
            shape = session.get_inputs()[0].shape[1:]  # the raw pixels as (1, 8, 8) images
            logits = session.run(None, {"input": raw.float().reshape(-1, *shape).numpy()})[0]
            torch.testing.assert_close(torch.from_numpy(logits), expected, rtol=1e-4,
                                       atol=1e-4)
        _check_trial_page(url, trial["number"])


def _check_trial_page(url: str, number: int) -> None:
    """The trial page draws the layer stack (residual blocks included) without an error."""
    pytest.importorskip("streamlit")
    pytest.importorskip("plotly")
    from dashboard_helpers import open_page

    at = open_page(url, "trial", search="fam", trial=number)  # fails on any exception
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    layers = next(f for f in figures
                  if f["layout"]["title"]["text"] == f"Layer stack of trial {number}")
    labels = " ".join(layers["data"][0]["text"])
    assert "Residual" in labels or "SqueezeExcite" in labels, labels
    assert at.get("download_button"), "no export button"


def test_a_kernel_larger_than_its_feature_map_exits_2_and_writes_nothing(
        tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    config = _write(tmp_path, mbconv_extra="strides = [1, 2]\nper_stage = false")
    text = config.read_text().replace("kernel = [3, 5]", "kernel = 5")
    config.write_text(text.replace("stages = { low = 1, high = 2 }", "stages = 2", 1))  # mbconv
    result = _invoke("search", str(config), "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    assert "[space.mbconv] kernel" in result.stderr and "stage 1" in result.stderr
    assert "only 4x4" in result.stderr, result.stderr
    assert not db.exists()


def test_layer_stack_rows_of_residual_and_squeeze_excite_blocks() -> None:
    from nasforge.searchspace.architecture import Architecture
    from nasforge.searchspace.families import plan_for
    from nasforge.searchspace.plan import DataSpec
    from nasforge.ui.architecture import layer_frame

    arch = Architecture({
        "family": "mbconv", "mbconv.stages": 1, "mbconv.stem": 8, "mbconv.head_channels": 0,
        "mbconv.head_width": 0, "mbconv.depth.0": 2, "mbconv.expand.0": 2,
        "mbconv.kernel.0": 3, "mbconv.width.0": 8, "mbconv.se.0": True,
        "mbconv.se_ratio": 0.25, "mbconv.se_gate": "hardsigmoid", "activation": "relu",
        "norm": "batch", "dropout": 0.0})
    frame = layer_frame(plan_for(arch, DataSpec((1, 8, 8), 10)))
    rows = list(zip(frame["kind"], frame["label"], frame["shape"], frame["inner_ops"],
                    strict=True))
    # stem conv, bn, act; block 0 (8 -> 8 channels, stride 1): a residual of 9 ops; block 1
    # too; then the pooled classifier
    assert [r[0] for r in rows] == ["Conv", "Norm", "Activation", "Residual", "Residual",
                                    "GlobalPool", "Linear"]
    assert rows[3][1:] == ("Residual", "8x8x8", 9)
    assert rows[0][1] == "Conv2d in_channels=1 out_channels=8 kernel=3 no bias"
