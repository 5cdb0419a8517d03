"""An image folder searched end to end over the mbconv and resnet families through the CLI:
scikit-learn's digits upscaled to 32x32 grayscale PNGs in train/ and test/ class folders,
`resolution = [24, 32]` and `augment = ["flip"]`; then `show`, `show --json`, and
`export --best accuracy --weights --onnx`, whose model.py and model.onnx, fed the test PNGs'
raw uint8 pixels as Pillow reads them, predict what the stored model predicted on the
evaluator's preprocessed test images; `export --retrain` reproduces that model (augmented
batches included)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stored_models import exported_model, stored_logits
from typer.testing import CliRunner

from nasforge.ui.cli import app

runner = CliRunner()
SIZE = 32
PER_CLASS = {"train": 40, "test": 6}  # 460 images in 10 class folders

CONFIG = """
[search]
name = "pics"
budget = 4
objectives = ["accuracy:max", "macs:min"]
strategy = "random"
seed = 5  # its four random samples cover both families and both resolutions

[data]
dataset = "images:pics"
augment = ["flip"]

[training]
epochs = 3
batch_size = 16
lr = 0.03
measure_latency = false
checkpoints = "all"

[space]
families = ["mbconv", "resnet"]
resolution = [24, 32]
activation = ["relu", "hardswish"]
norm = ["batch"]

[space.mbconv]
stages = { low = 1, high = 2 }
width = [8, 16]
expand = [1, 3]
kernel = [3, 5]
se = [false, true]
stem = 8
head_channels = 32

[space.resnet]
stages = { low = 1, high = 2 }
width = [8, 16]
depth = 1
block = ["basic", "bottleneck"]
stem = 8
"""


def _write_digit_pngs(root: Path) -> list[Path]:
    """The digits (0..16) scaled to 0..255 and upscaled to 32x32 as grayscale PNGs under
    root/train/<digit>/ and root/test/<digit>/; the test files in the order nasforge reads
    them (class folder, then name)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    taken = dict.fromkeys(range(10), 0)
    for row, label in enumerate(digits.target.tolist()):
        index = taken[label]
        if index >= sum(PER_CLASS.values()):
            continue
        taken[label] += 1
        part = "train" if index < PER_CLASS["train"] else "test"
        folder = root / part / f"{label}"
        folder.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray((digits.images[row] * 255 / 16).astype(np.uint8), "L")
        small.resize((SIZE, SIZE), Image.Resampling.BILINEAR).save(folder / f"{row:04d}.png")
    return sorted((root / "test").glob("*/*.png"), key=lambda p: (p.parent.name, p.name))


def _invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _exported_model(folder: Path) -> torch.nn.Module:
    model, module = exported_model(folder, "pics_model")
    assert module.INPUT_SHAPE == (1, SIZE, SIZE)
    return model


@pytest.mark.slow
def test_image_folder_search_over_mbconv_and_resnet_show_export_onnx(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(tmp_path / "cache"))
    test_files = _write_digit_pngs(tmp_path / "pics")
    (tmp_path / "pics.toml").write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 'pics.db'}"
    searched = _invoke("search", "pics.toml", "--storage", url)
    assert "4 complete, 0 failed" in searched.stdout, searched.stdout

    trials = json.loads(_invoke("show", "pics", "--storage", url, "--json").stdout)["trials"]
    assert [t["state"] for t in trials] == ["COMPLETE"] * 4
    assert {t["arch"]["family"] for t in trials} == {"mbconv", "resnet"}
    assert {t["arch"]["resolution"] for t in trials} == {24, 32}
    assert all(t["metrics"]["macs"] > 0 for t in trials)
    best = max(trials, key=lambda t: (t["metrics"]["accuracy"], -t["metrics"]["macs"]))
    assert best["metrics"]["accuracy"] > 0.3  # chance is 0.1
    shown = _invoke("show", "pics", "--storage", url).stdout
    assert "accuracy" in shown and "macs" in shown

    onnx = importlib.util.find_spec("onnxruntime") is not None
    _invoke("export", "pics", "--best", "accuracy", "--weights", "-o", "out", "--storage", url,
            *(["--onnx"] if onnx else []))
    folder = tmp_path / "out" / f"trial_{best['number']:04d}"
    # what the user has: the PNGs' uint8 pixels, (N, 1, 32, 32)
    raw = np.stack([np.asarray(Image.open(f))[None] for f in test_files])
    assert raw.dtype == np.uint8 and raw.shape == (60, 1, SIZE, SIZE)
    expected = stored_logits(url, "pics", best["number"], tmp_path / "cache")
    with torch.no_grad():
        got = _exported_model(folder)(torch.from_numpy(raw))
    assert torch.equal(got.argmax(1), expected.argmax(1))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # --retrain trains the trial afresh as the search did (its seed, its augmentation)
    _invoke("export", "pics", "--trial", str(best["number"]), "--retrain", "-o", "again",
            "--storage", url)
    with torch.no_grad():
        retrained = _exported_model(tmp_path / "again" / folder.name)(torch.from_numpy(raw))
    torch.testing.assert_close(retrained, expected, rtol=1e-4, atol=1e-4)
    if onnx:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(folder / "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        logits = session.run(None, {"input": raw.astype(np.float32)})[0]
        torch.testing.assert_close(torch.from_numpy(logits), expected, rtol=1e-4, atol=1e-4)
