"""An exported model takes the data as the user has it and predicts what the evaluator
predicted: for every dataset kind, a tiny search through the CLI, `nasforge export
--weights`, then model.py (and model.onnx) fed the RAW rows (the CSV's feature columns as read
from the file, the npz's `x` as stored, a built-in dataset's raw values) against the stored
checkpoint evaluated on the evaluator's preprocessed test tensors."""

from __future__ import annotations

import ast
import importlib.util
import itertools
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from nasforge.evaluator.data.builtin import (
    FASHION_MNIST_FILES,
    FASHION_MNIST_ROOT,
    mnist1d_args,
    mnist1d_cache_path,
    read_idx,
)
from nasforge.evaluator.data.split import split_indices
from nasforge.ui.cli import app

runner = CliRunner()
_modules = itertools.count()
MLP = '[space]\nfamilies = ["mlp"]\nnorm = ["batch"]\nactivation = ["tanh"]\n' \
      '[space.mlp]\ndepth = 1\nwidth = 16\n'
CNN = '[space]\nfamilies = ["cnn"]\nnorm = ["batch"]\n' \
      '[space.cnn]\nstages = 1\nconvs_per_stage = 1\nchannels = 4\nhead_width = 0\n'


@dataclass(frozen=True)
class Exported:
    folder: Path
    logits: torch.Tensor  # the evaluator's: stored checkpoint on the preprocessed x_test
    cache_dir: Path


def _search_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: str, space: str,
                       *export_args: str) -> Exported:
    from nasforge.checkpoint_policy import checkpoint_root, stored_checkpoint
    from nasforge.evaluator_setup import load_checked
    from nasforge.export.checkpoint_reader import load_stored
    from nasforge.search import stored_config
    from nasforge.searchspace.families import plan_for
    from nasforge.store import open_store

    cache = tmp_path / "cache"
    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(cache))
    (tmp_path / "run.toml").write_text(
        f'[search]\nname = "raw"\nbudget = 1\nseed = 3\n[data]\n{data}\n'
        '[training]\nepochs = 1\nbatch_size = 256\nmeasure_latency = false\n'
        'checkpoints = "all"\n' + space)
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = runner.invoke(app, ["search", str(tmp_path / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "raw", "--trial", "0", "--weights", "-o", str(out),
                                 "--storage", url, *export_args])
    assert result.exit_code == 0, result.output
    with open_store(url, create=False) as store:
        config, trial = stored_config(store, "raw"), store.trial("raw", 0)
    dataset = load_checked(config, cache_dir=cache)
    path = stored_checkpoint(trial, checkpoint_root(url, config.training.checkpoint_dir))
    model = load_stored(plan_for(trial.arch, dataset.spec), path, 0)
    with torch.no_grad():
        logits = model(torch.from_numpy(dataset.x_test.copy()))
    return Exported(out / "trial_0000", logits, cache)


def _import(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"raw_model_{next(_modules)}",
                                                  folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(exported: Exported, raw: np.ndarray, *phrases: str) -> ModuleType:
    """model.py with weights.pt on `raw` (the test rows as the user has them) predicts what
    the evaluator predicted; its docstring contains `phrases`."""
    module = _import(exported.folder)
    model = module.build(str(exported.folder / "weights.pt"))
    with torch.no_grad():
        got = model(torch.from_numpy(raw))
    expected = exported.logits
    assert got.shape == expected.shape
    assert torch.equal(got.argmax(1), expected.argmax(1))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    docstring = " ".join((ast.get_docstring(ast.parse(
        (exported.folder / "model.py").read_text())) or "").split())
    for phrase in phrases:
        assert phrase in docstring, phrase
    return module


def _split_test_rows(labels: np.ndarray, seed: int) -> np.ndarray:
    """The evaluator's test rows of a dataset without a predefined test split."""
    return split_indices(labels, seed=seed, val_fraction=0.2, test_fraction=0.2,
                         stratify=True).test  # type: ignore[return-value]


def test_digits_on_raw_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits

    exported = _search_and_export(tmp_path, monkeypatch, 'dataset = "digits"', MLP)
    digits = load_digits()  # pixels 0..16, shape (1797, 64)
    rows = _split_test_rows(digits.target, seed=3)
    module = _check(exported, digits.data[rows], "0..16", "(N, 64)")
    assert module.INPUT_SHAPE == (1, 8, 8)


def test_mnist1d_on_raw_signals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exported = _search_and_export(tmp_path, monkeypatch, 'dataset = "mnist1d"', CNN)
    with np.load(mnist1d_cache_path(exported.cache_dir, mnist1d_args())) as data:
        signals = data["x_test"]  # (1000, 40), as mnist1d's make_dataset returns them
    assert signals.shape == (1000, 40)
    _check(exported, signals, "(N, 40)")


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="pip install 'nasforge[export]' for onnxruntime")
def test_csv_on_the_files_columns_and_in_onnx(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer(as_frame=True)
    frame = cancer.data.copy()
    frame.insert(5, "target", cancer.target)  # the label column sits between features
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    exported = _search_and_export(tmp_path, monkeypatch, 'dataset = "csv:cancer.csv"', MLP,
                                  "--onnx")
    table = pd.read_csv(tmp_path / "cancer.csv")  # what the user has
    rows = _split_test_rows(table["target"].to_numpy(), seed=3)
    features = table.drop(columns=["target"]).to_numpy()[rows]  # file order, float64
    features32 = features.astype(np.float32)
    _check(exported, features32, "(N, 30)", "'target'", *cancer.data.columns)
    session = onnxruntime.InferenceSession(str(exported.folder / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": features32})[0])
    assert torch.equal(got.argmax(1), exported.logits.argmax(1))
    torch.testing.assert_close(got, exported.logits, rtol=1e-4, atol=1e-4)


def test_npz_on_the_stored_x_with_an_input_shape(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    offsets, scales = np.linspace(-500, 3000, 24), np.linspace(5, 80, 24)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.normal(size=(n, 24))
        y = (z[:, :12].sum(1) > z[:, 12:].sum(1)).astype(np.int64) + (z[:, 0] > 1)
        return (z * scales + offsets).astype(np.int16), y

    (x, y), (x_test, y_test) = part(400), part(120)
    np.savez(tmp_path / "signals.npz", x=x, y=y, x_test=x_test, y_test=y_test)
    exported = _search_and_export(
        tmp_path, monkeypatch, 'dataset = "npz:signals.npz"\ninput_shape = [2, 12]', CNN)
    with np.load(tmp_path / "signals.npz") as data:
        stored = data["x_test"]  # int16 (120, 24), as the user saved it
    module = _check(exported, stored, "(N, 24)", "'x'")
    assert module.INPUT_SHAPE == (24,)


@pytest.mark.skipif(not all((FASHION_MNIST_ROOT / f).is_file()
                            for f in FASHION_MNIST_FILES.values()),
                    reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_on_raw_uint8_pixels(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    exported = _search_and_export(tmp_path, monkeypatch, 'dataset = "fashion-mnist"', MLP)
    images = read_idx(FASHION_MNIST_ROOT / FASHION_MNIST_FILES["x_test"], ndim=3)
    assert images.dtype == np.uint8 and images.shape == (10000, 28, 28)
    _check(exported, images, "0..255", "(N, 28, 28)")


def _write_image_folder(root: Path) -> dict[str, list[Path]]:
    """scikit-learn's digits as 12x12 RGB PNGs (tinted per class) in train/ val/ test/ class
    folders; the files of each part, in the order nasforge reads them (class, then name)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    parts = {"train": range(0, 240), "val": range(240, 300), "test": range(300, 360)}
    for part, rows in parts.items():
        for row in rows:
            label = int(digits.target[row])
            gray = Image.fromarray((digits.images[row] * 255 / 16).astype(np.uint8), "L")
            pixels = np.asarray(gray.resize((12, 12)))[..., None].astype(np.float32)
            tint = np.array([1.0, 0.4 + 0.06 * label, 0.2], dtype=np.float32)
            folder = root / part / f"digit{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((pixels * tint).astype(np.uint8), "RGB").save(
                folder / f"{row:04d}.png")
    return {part: sorted((root / part).glob("*/*.png"), key=lambda p: (p.parent.name, p.name))
            for part in parts}


def test_image_folder_on_raw_uint8_images_with_augmentation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    files = _write_image_folder(tmp_path / "pics")
    exported = _search_and_export(
        tmp_path, monkeypatch, 'dataset = "images:pics"\naugment = ["crop", "flip", "cutout"]',
        CNN, "--onnx")
    raw = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1)
                    for f in files["test"]])  # uint8 (60, 3, 12, 12): what the user has
    module = _check(exported, raw, "0..255", "(N, 3, 12, 12)", "RGB")
    assert module.INPUT_SHAPE == (3, 12, 12)
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(exported.folder / "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"input": raw.astype(np.float32)})[0])
        torch.testing.assert_close(got, exported.logits, rtol=1e-4, atol=1e-4)
