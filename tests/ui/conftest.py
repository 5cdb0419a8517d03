from __future__ import annotations

from pathlib import Path

import pytest

TINY_CONFIG = """
[search]
name = "tiny"
budget = {budget}
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "{dataset}"

[training]
epochs = {epochs}
measure_latency = false

[space]
families = ["mlp"]
activation = {activation}
norm = ["none", "batch"]
lr = {{ low = 1e-3, high = 1e-2, log = true }}

[space.mlp]
depth = {depth}
width = [16, 32, 64]
"""


@pytest.fixture
def write_config(tmp_path: Path):
    def write(budget: int = 3, epochs: int = 2, dataset: str = "digits",
              activation: str = '["relu", "gelu"]', depth: str = "{ low = 1, high = 2 }",
              name: str = "run.toml") -> Path:
        path = tmp_path / name
        path.write_text(TINY_CONFIG.format(budget=budget, epochs=epochs, dataset=dataset,
                                           activation=activation, depth=depth))
        return path

    return write
