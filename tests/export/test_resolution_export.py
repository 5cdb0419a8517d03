"""An exported model of an architecture with a `resolution` resizes the user's raw-size input
inside model.py (and model.onnx) exactly as the evaluated model did."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from export_helpers import IMAGE, SEQUENCE, assert_same, cnn, mlp, trained
from typer.testing import CliRunner

from nasforge.searchspace.plan import DataSpec
from nasforge.searchspace.plan_ops import Resize
from nasforge.ui.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("arch", "spec", "size"), [
    (cnn(resolution=6), IMAGE, 6), (cnn(resolution=5, **{"cnn.readout": "flatten"}), IMAGE, 5),
    (cnn(resolution=9), SEQUENCE, 9), (mlp(resolution=4), IMAGE, 4),
], ids=["cnn-image", "cnn-flatten", "cnn-sequence", "mlp-image"])
def test_model_py_resizes_as_the_evaluated_model(arch: object, spec: DataSpec, size: int,
                                                 tmp_path: Path) -> None:
    plan, model = trained(arch, spec)  # type: ignore[arg-type]
    assert isinstance(plan.ops[0], Resize) and plan.ops[0].size == size
    assert plan.input_shape == spec.input_shape
    assert_same(plan, model, tmp_path)
    assert "class Resize(nn.Module)" in (tmp_path / "model.py").read_text()


def test_non_square_images_export_alike(tmp_path: Path) -> None:
    assert_same(*trained(cnn(resolution=5), DataSpec((2, 6, 9), 3)), tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="pip install 'nasforge[export]' for onnxruntime")
def test_a_digits_search_exports_a_model_that_takes_the_raw_8x8_pixels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as the README prints it: search, export --weights --onnx; model.py and
    model.onnx fed the raw digits pixels (0..16; model.py as (N, 64), model.onnx as
    (N, 1, 8, 8)) predict what the stored checkpoint predicted on the evaluator's
    preprocessed test tensors."""
    import onnxruntime
    from sklearn.datasets import load_digits

    from nasforge.checkpoint_policy import checkpoint_root, stored_checkpoint
    from nasforge.evaluator.data.split import split_indices
    from nasforge.evaluator_setup import load_checked
    from nasforge.export.checkpoint_reader import load_stored
    from nasforge.search import stored_config
    from nasforge.searchspace.families import plan_for
    from nasforge.store import open_store

    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "run.toml").write_text(
        '[search]\nname = "res"\nbudget = 1\nseed = 3\n[data]\ndataset = "digits"\n'
        '[training]\nepochs = 1\nbatch_size = 256\nmeasure_latency = false\n'
        'checkpoints = "all"\n[space]\nfamilies = ["cnn"]\nnorm = ["batch"]\n'
        'resolution = 6\n[space.cnn]\nstages = 1\nconvs_per_stage = 1\nchannels = 4\n'
        'head_width = 0\n')
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = runner.invoke(app, ["search", str(tmp_path / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "res", "--trial", "0", "--weights", "--onnx",
                                 "-o", str(out), "--storage", url])
    assert result.exit_code == 0, result.output
    with open_store(url, create=False) as store:
        config, trial = stored_config(store, "res"), store.trial("res", 0)
    assert trial.arch["resolution"] == 6
    dataset = load_checked(config, cache_dir=tmp_path / "cache")
    plan = plan_for(trial.arch, dataset.spec)
    assert plan.ops[0] == Resize(2, (8, 8), 6)
    path = stored_checkpoint(trial, checkpoint_root(url, config.training.checkpoint_dir))
    with torch.no_grad():
        expected = load_stored(plan, path, 0)(torch.from_numpy(dataset.x_test.copy()))
    digits = load_digits()
    rows = split_indices(digits.target, seed=3, val_fraction=0.2, test_fraction=0.2,
                         stratify=True).test
    raw = digits.data[rows]  # (N, 64) float64 pixels 0..16, as sklearn gives them
    folder = out / "trial_0000"
    spec = importlib.util.spec_from_file_location("res_model", folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.no_grad():
        got = module.build(str(folder / "weights.pt"))(torch.from_numpy(raw))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    images = raw.astype(np.float32).reshape(-1, 1, 8, 8)  # model.onnx takes the images
    onnx_out = session.run(None, {"input": images})[0]
    torch.testing.assert_close(torch.from_numpy(onnx_out), expected, rtol=1e-4, atol=1e-4)
