"""`nasforge export` choices: `--best` breaks ties by the other objectives (and `nasforge show`
says the same trial is best), `-o` under a parent that cannot hold it exits 2 before anything
is loaded, and `--retrain` implies `--weights`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.config import from_dict
from nasforge.records import EvalResult, TrialState
from nasforge.store import open_store
from nasforge.ui.cli import app

RAW = {
    "search": {"name": "ties", "budget": 6, "objectives": ["accuracy:max", "params:min"],
               "seed": 0},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1, "measure_latency": False},
    "space": {"families": ["mlp"], "activation": ["relu", "tanh"], "norm": ["none"],
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}
# (accuracy, params): trial 1 dominates trial 0 at equal accuracy; trial 3 dominates trial 2
# at equal params. The first of each tie is the one a plain max() picks.
METRICS = [(0.9, 5000.0), (0.9, 1000.0), (0.5, 100.0), (0.7, 100.0), (0.6, 3000.0)]
runner = CliRunner()


@pytest.fixture(scope="module")
def ties(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('ties') / 'n.db'}"
    config = from_dict(RAW)
    archs = config.space.sample_distinct(len(METRICS), np.random.default_rng(0))
    with open_store(url) as store:
        store.create_search("ties", config.objectives, len(METRICS), config.raw)
        trials = store.add_trials("ties", archs, TrialState.RUNNING)
        for trial, (accuracy, params) in zip(trials, METRICS, strict=True):
            store.finish("ties", trial.number, EvalResult(
                TrialState.COMPLETE, {"accuracy": accuracy, "params": params}))
    return url


@pytest.mark.parametrize("metric,expected", [("accuracy", 1), ("params", 3)])
def test_best_breaks_ties_by_the_other_objectives(ties: str, tmp_path: Path, metric: str,
                                                  expected: int) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "ties", "--best", metric, "-o", str(out),
                                 "--storage", ties])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == [f"trial_{expected:04d}"]


def test_show_names_the_same_best_trials_as_export(ties: str) -> None:
    result = runner.invoke(app, ["show", "ties", "--storage", ties, "--json"])
    assert result.exit_code == 0, result.output
    best = json.loads(result.output)["best"]
    assert best["accuracy:max"]["number"] == 1 and best["params:min"]["number"] == 3


def _unusable_parents(tmp_path: Path) -> list[tuple[Path, str]]:
    file = tmp_path / "a_file"
    file.write_text("x")
    cases = [(file / "out", str(file)), (file / "deeper" / "out", str(file)),
             (Path("/proc/nasforge_export_out"), "/proc")]
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases.append((locked / "out", str(locked)))
    return cases


def test_an_output_folder_under_an_unusable_parent_exits_2_before_loading(tmp_path: Path
                                                                         ) -> None:
    for out, named in _unusable_parents(tmp_path):
        # the search does not exist: the destination is checked before the store is read
        result = runner.invoke(app, ["export", "no-such-search", "--trial", "0", "-o",
                                     str(out), "--storage", f"sqlite:///{tmp_path / 'x.db'}"])
        text = result.output.replace("\n", " ")
        assert result.exit_code == 2, (out, result.output)
        assert named in text and "-o" in text and "no-such-search" not in text, text
        assert not out.exists()
    assert not (tmp_path / "x.db").exists()


def test_retrain_implies_weights(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    config = tmp_path / "run.toml"
    config.write_text('[search]\nname = "r"\nbudget = 1\n[data]\ndataset = "digits"\n'
                      '[training]\nepochs = 1\nmeasure_latency = false\n'
                      '[space]\nfamilies = ["mlp"]\n[space.mlp]\ndepth = 1\nwidth = 8\n')
    assert runner.invoke(app, ["search", str(config), "--storage", url]).exit_code == 0
    result = runner.invoke(app, ["export", "r", "--trial", "0", "--retrain", "-o",
                                 str(tmp_path / "out"), "--storage", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "trial_0000" / "weights.pt").is_file()
    assert "retrained" in result.output
    help_text = runner.invoke(app, ["export", "--help"]).output.replace("\n", " ")
    assert "implies --weights" in " ".join(help_text.split())
