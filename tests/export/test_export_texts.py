"""The words an export writes (model.py's docstring, README.txt) for a dataset that does not
describe its raw samples (a registered dataset whose RawData has no `raw_input`) and for a
dataset without input preprocessing (a `Dataset` built by the caller): no empty sentence, no
claim that the model preprocesses what it does not."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from csv_search import run_search_cli, tiny_config
from typer.testing import CliRunner

from nasforge.evaluator.data import DATASETS
from nasforge.evaluator.data.base import DatasetLoader, LoadContext, RawData
from nasforge.ui.cli import app

runner = CliRunner()


def _blobs(ctx: LoadContext) -> RawData:
    """A dataset as a user registers it: x and y, nothing said about the raw samples."""
    del ctx
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=120)
    x = rng.normal(size=(120, 3)) * 40.0 + y[:, None] * 30.0 + 500.0
    return RawData(x=x, y=y, source="blobs")


@pytest.fixture
def searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(DATASETS._entries, "blobs", DatasetLoader(_blobs))
    monkeypatch.setenv("NASFORGE_CACHE_DIR", str(tmp_path / "cache"))
    return run_search_cli(tmp_path, tiny_config("blobs", "blobs", seed=1))


def _no_empty_sentence(text: str) -> None:
    flat = " ".join(text.split()).replace("(N, ...)", "(N, *)")
    for empty in (": .", " . ", ":.", "..", ": ,"):
        assert empty not in flat, f"{empty!r} in {flat!r}"
    assert not any(line.strip() == "." for line in text.splitlines()), text


def test_a_dataset_without_a_raw_input_description_exports_whole_sentences(
        searched: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "blobs", "--trial", "0", "--weights", "-o",
                                 str(out), "--storage", searched])
    assert result.exit_code == 0, result.output
    folder = out / "trial_0000"
    readme = (folder / "README.txt").read_text()
    docstring = ast.get_docstring(ast.parse((folder / "model.py").read_text())) or ""
    _no_empty_sentence(readme)
    _no_empty_sentence(docstring)
    assert "(N, 3)" in " ".join(readme.split()), readme  # what it takes, said without words
    assert "RAW samples, x of shape (N, *INPUT_SHAPE) = (N, 3)." in " ".join(
        docstring.split()), docstring


def test_a_dataset_without_preprocessing_is_not_said_to_be_preprocessed(
        searched: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasforge.evaluator_setup import load_checked
    from nasforge.export.bundle import Options, export_trials
    from nasforge.search import stored_config
    from nasforge.store import open_store

    with open_store(searched, create=False) as store:
        config, trial = stored_config(store, "blobs"), store.trial("blobs", 0)
    dataset = dataclasses.replace(load_checked(config), preprocessing=None)
    out = tmp_path / "plain"
    (done,) = export_trials(config, dataset, [trial], out, Options(retrain=True, weights=True))
    readme = (done.folder / "README.txt").read_text()
    _no_empty_sentence(readme)
    flat = " ".join(readme.split())
    assert "preprocesses them itself" not in flat, flat
    assert "already preprocessed" in flat, flat
    from nasforge.export.weights import load_module

    module = load_module(done.folder / "model.py", "plain_model")
    model = module.build(str(done.folder / "weights.pt"))
    with torch.no_grad():  # it takes the dataset's x as given, preprocessed
        assert model(torch.from_numpy(dataset.x_test[:4].copy())).shape == (4, 2)
