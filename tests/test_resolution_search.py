"""Resolution as a search dimension through the CLI: each strategy samples it and the store
keeps it with the cost at that resolution; bad resolutions exit 2 before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.store import open_store
from nasforge.ui.cli import app

runner = CliRunner()
DIGITS = DataSpec((1, 8, 8), 10, name="digits")


CNN = '[space.cnn]\nstages = [1, 2]\nconvs_per_stage = 1\nchannels = [4, 8]\nhead_width = 0\n'
MLP = '[space.mlp]\ndepth = 1\nwidth = 8\n'


def _config(strategy: str, resolution: str, data: str = 'dataset = "digits"',
            budget: int = 8, family: str = "cnn") -> str:
    return (f'[search]\nname = "res"\nbudget = {budget}\nseed = 5\nstrategy = "{strategy}"\n'
            f'[data]\n{data}\n[training]\nepochs = 1\nbatch_size = 256\n'
            f'measure_latency = false\n[space]\nfamilies = ["{family}"]\nnorm = ["batch"]\n'
            f'resolution = {resolution}\n' + (CNN if family == "cnn" else MLP))


@pytest.mark.parametrize("strategy", ["random", "evolution", "bayesian"])
def test_each_strategy_samples_the_resolution_and_stores_it(strategy: str,
                                                            tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(_config(strategy, "[6, 8]"))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = runner.invoke(app, ["search", str(tmp_path / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    with open_store(url, create=False) as store:
        trials = [store.trial("res", i) for i in range(8)]
    assert {t.arch["resolution"] for t in trials} == {6, 8}
    for trial in trials:
        assert trial.metrics["macs"] == plan_for(trial.arch, DIGITS).macs
    for t in trials:
        small = plan_for(t.arch.replace(resolution=6), DIGITS).macs
        assert small < plan_for(t.arch.replace(resolution=8), DIGITS).macs


@pytest.mark.parametrize(("resolution", "data", "family", "phrases"), [
    ("[6, 12]", 'dataset = "digits"', "cnn", ("resolution 12 is larger", "8 x 8", "<= 8")),
    ("4", 'dataset = "npz:flat.npz"', "mlp", ("flat features", "remove resolution")),
    ("[0, 4]", 'dataset = "digits"', "cnn", ("resolution must be whole numbers",)),
])
def test_bad_resolutions_exit_2_before_anything_is_written(
        resolution: str, data: str, family: str, phrases: tuple[str, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "flat.npz", x=rng.normal(size=(60, 5)).astype(np.float32),
             y=rng.integers(0, 2, 60))
    (tmp_path / "run.toml").write_text(_config("random", resolution, data, budget=2,
                                                      family=family))
    result = runner.invoke(app, ["search", str(tmp_path / "run.toml"), "--storage",
                                 f"sqlite:///{tmp_path / 'n.db'}"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    for phrase in phrases:
        assert phrase in output, output
    assert not (tmp_path / "n.db").exists()


def test_a_search_on_fashion_sized_npz_images_resizes_them(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    x = (rng.random((90, 1, 28, 28)) * 60 + y[:, None, None, None] * 60).astype(np.uint8)
    np.savez(tmp_path / "fashion.npz", x=x, y=y)
    (tmp_path / "run.toml").write_text(
        _config("random", "[14, 20]", 'dataset = "npz:fashion.npz"', budget=3))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = runner.invoke(app, ["search", str(tmp_path / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    spec = DataSpec((1, 28, 28), 3)
    with open_store(url, create=False) as store:
        for i in range(3):
            trial = store.trial("res", i)
            assert trial.arch["resolution"] in (14, 20)
            assert trial.metrics["macs"] == plan_for(trial.arch, spec).macs
            assert plan_for(trial.arch, spec).shapes[0][1] == trial.arch["resolution"]
