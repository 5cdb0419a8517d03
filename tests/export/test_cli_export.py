"""`nasforge export`: one folder per trial, retrained weights that match the stored trial,
ONNX checked with onnxruntime, and clear errors (exit code 2) that write nothing."""

from __future__ import annotations

import importlib.util
import math
import sqlite3
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasforge.export.weights import load_module
from nasforge.ui.cli import app

CONFIG = """
[search]
name = "tiny"
budget = 4
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "digits"

[training]
epochs = 2
measure_latency = false

[space]
families = ["mlp"]
activation = ["relu", "snake"]
norm = ["none", "batch"]
weight_bits = [32, 4]
act_bits = [32, 8]

[space.mlp]
depth = { low = 1, high = 2 }
width = [16, 32]
"""
runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("search")
    (root / "run.toml").write_text(CONFIG)
    url = f"sqlite:///{root / 'n.db'}"
    result = runner.invoke(app, ["search", str(root / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    return url


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["export", *args])


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="onnxruntime is not installed (pip install 'nasforge[export]')")
def test_export_a_trial_with_retrained_weights_and_onnx(store: str, tmp_path: Path) -> None:
    from nasforge.store import open_store

    out = tmp_path / "out"
    result = invoke("tiny", "--trial", "1", "-o", str(out), "--storage", store, "--weights",
                    "--retrain", "--onnx")
    assert result.exit_code == 0, result.output
    folder = out / "trial_0001"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt", "model.onnx", "model.py", "weights.pt"]
    with open_store(store, create=False) as s:
        stored = s.trial("tiny", 1).metrics
    retrained = float(result.output.split("accuracy ")[1].split(";")[0].split(")")[0])
    assert math.isclose(retrained, stored["accuracy"], rel_tol=1e-3)  # same seed, same data
    model = load_module(folder / "model.py", "cli_export_check").build(
        str(folder / "weights.pt"))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert not list(tmp_path.glob(".out.*"))  # the staging folder was renamed


def test_export_the_pareto_front_and_the_best(store: str, tmp_path: Path) -> None:
    result = invoke("tiny", "--pareto", "-o", str(tmp_path / "front"), "--storage", store)
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "front").glob("trial_*/model.py"))
    result = invoke("tiny", "--best", "params", "-o", str(tmp_path / "best"), "--storage", store)
    assert result.exit_code == 0, result.output
    again = invoke("tiny", "--best", "params", "-o", str(tmp_path / "again"), "--storage",
                   store)
    assert again.exit_code == 0, again.output
    first, = (tmp_path / "best").glob("trial_*/model.py")
    second, = (tmp_path / "again").glob("trial_*/model.py")
    assert first.read_bytes() == second.read_bytes()  # deterministic


@pytest.mark.parametrize("args,message", [
    (("nope", "--trial", "0"), "nope"),
    (("tiny", "--trial", "99"), "no trial 99"),
    (("tiny", "--best", "latency_ms"), "not an objective"),
    (("tiny", "--trial", "0", "--pareto"), "exactly one"),
    (("tiny",), "exactly one"),
    (("tiny", "--trial", "0", "--onnx"), "--onnx needs --weights"),
])
def test_bad_input_exits_2_and_writes_nothing(store: str, tmp_path: Path, args: tuple[str, ...],
                                              message: str) -> None:
    out = tmp_path / "out"
    result = invoke(*args, "-o", str(out), "--storage", store)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_non_empty_output_folder_is_refused(store: str, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    result = invoke("tiny", "--trial", "0", "-o", str(tmp_path), "--storage", store)
    assert result.exit_code == 2 and "not empty" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _kept(url: str) -> tuple[list, set[int]]:  # type: ignore[type-arg]
    """The trials of "tiny" and the numbers of its Pareto front."""
    from nasforge.export.select import choose_trials
    from nasforge.store import open_store

    with open_store(url, create=False) as s:
        return s.trials("tiny"), {t.number for t in choose_trials(s, "tiny", pareto=True)}


def test_the_search_kept_exactly_the_pareto_checkpoints(store: str) -> None:
    trials, front = _kept(store)
    assert {t.number for t in trials if t.checkpoint} == front
    folder = Path(store.removeprefix("sqlite:///") + ".checkpoints") / "tiny"
    assert {p.name for p in folder.iterdir()} == {
        f"{t.arch_id}.pt" for t in trials if t.number in front}


def test_weights_from_the_checkpoint_equal_retrained_weights(store: str, tmp_path: Path) -> None:
    _, front = _kept(store)
    number = str(min(front))
    stored = invoke("tiny", "--trial", number, "-o", str(tmp_path / "stored"), "--storage",
                    store, "--weights")
    assert stored.exit_code == 0, stored.output
    assert "retrained" not in stored.output
    fresh = invoke("tiny", "--trial", number, "-o", str(tmp_path / "fresh"), "--storage", store,
                   "--weights", "--retrain")
    assert fresh.exit_code == 0, fresh.output
    a, b = (tmp_path / d / f"trial_{int(number):04d}" for d in ("stored", "fresh"))
    assert (a / "model.py").read_bytes() == (b / "model.py").read_bytes()
    got, expected = (torch.load(f / "weights.pt", weights_only=True) for f in (a, b))
    assert got.keys() == expected.keys()
    for key in expected:  # the sequential path, on the CPU: the same training
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-6)


def _copy_without_checkpoints(url: str, tmp_path: Path) -> str:
    """The store copied elsewhere: its paths point under a checkpoint folder that is not
    there (as after a crash, or a store moved without its folder)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    target = sqlite3.connect(tmp_path / "copy.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{tmp_path / 'copy.db'}"


def test_missing_or_cleared_checkpoints_exit_2_naming_retrain(store: str, tmp_path: Path
                                                              ) -> None:
    from nasforge.store import open_store

    _, front = _kept(store)
    number = min(front)
    copy = _copy_without_checkpoints(store, tmp_path / "db")
    out = tmp_path / "out"
    missing = invoke("tiny", "--trial", str(number), "-o", str(out), "--storage", copy,
                     "--weights")
    assert missing.exit_code == 2, missing.output
    text = missing.output.replace("\n", " ")
    assert "missing" in text and "--retrain" in text
    with open_store(copy, create=False) as s:
        s.clear_checkpoints("tiny", [number])
    cleared = invoke("tiny", "--trial", str(number), "-o", str(out), "--storage", copy,
                     "--weights", "--onnx")
    assert cleared.exit_code == 2, cleared.output
    text = cleared.output.replace("\n", " ")
    assert "no stored weights" in text and "--retrain" in text
    assert not out.exists()
