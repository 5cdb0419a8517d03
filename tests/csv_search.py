"""Tiny searches run through the CLI, shared by the export tests (CLI and dashboard): one on
a user's CSV, and the config and runner for any dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nasforge.ui.cli import app


def tiny_config(name: str, dataset: str, seed: int) -> str:
    """A one-trial, one-epoch MLP search on `dataset` that keeps its checkpoint."""
    return f"""[search]
name = "{name}"
budget = 1
seed = {seed}
[data]
dataset = "{dataset}"
[training]
epochs = 1
batch_size = 256
measure_latency = false
checkpoints = "all"
[space]
families = ["mlp"]
norm = ["batch"]
activation = ["tanh"]
[space.mlp]
depth = 1
width = 8
"""


def run_search_cli(folder: Path, config: str) -> str:
    """Write `config` to folder/run.toml and `nasforge search` it into folder/n.db; the URL."""
    (folder / "run.toml").write_text(config)
    url = f"sqlite:///{folder / 'n.db'}"
    result = CliRunner().invoke(app, ["search", str(folder / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    return url


def run_csv_search(folder: Path, offset: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)) -> str:
    """Write rows.csv (four columns of very different scales, `offset` added) and run.toml
    in `folder`, search it into folder/n.db; the store URL."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4)) * [1.0, 10.0, 100.0, 0.5] + list(offset)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["target"] = (x[:, 0] + x[:, 1] / 10 > 0.5).astype(int)
    frame.to_csv(folder / "rows.csv", index=False)
    return run_search_cli(folder, tiny_config("rows", "csv:rows.csv", seed=3))
