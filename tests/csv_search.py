"""One tiny search on a user's CSV, run through the CLI: the shared setup of the tests on
exports of data that changed since the search (CLI and dashboard)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nasforge.ui.cli import app

SEARCH = """[search]
name = "rows"
budget = 1
seed = 3
[data]
dataset = "csv:rows.csv"
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


def run_csv_search(folder: Path, offset: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)) -> str:
    """Write rows.csv (four columns of very different scales, `offset` added) and run.toml
    in `folder`, search it into folder/n.db; the store URL."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4)) * [1.0, 10.0, 100.0, 0.5] + list(offset)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["target"] = (x[:, 0] + x[:, 1] / 10 > 0.5).astype(int)
    frame.to_csv(folder / "rows.csv", index=False)
    (folder / "run.toml").write_text(SEARCH)
    url = f"sqlite:///{folder / 'n.db'}"
    result = CliRunner().invoke(app, ["search", str(folder / "run.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    return url
