"""A supernet (Once-for-All) search over mbconv runs end to end through the CLI on the digits
(8x8), with progressive shrinking, and stores its ranking diagnostic."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nasforge.store import open_store
from nasforge.ui.cli import app

runner = CliRunner()

CONFIG = """
[search]
name = "ofa"
budget = 24
seed = 3
objectives = ["accuracy:max", "macs:min"]
strategy = "supernet"
[search.strategy_options]
supernet_epochs = 2
supernet_batch_size = 32
retrain_top_k = 1
ranking_sample = 20
progressive = true
progressive_fractions = [0.2, 0.2, 0.2, 0.4]
[data]
dataset = "digits"
[training]
epochs = 2
batch_size = 32
measure_latency = false
[space]
families = ["mbconv"]
activation = ["relu", "hardswish"]
norm = ["batch"]
lr = 0.005
[space.mbconv]
stages = [1, 2]
depth = [1, 2]
expand = [1, 3]
kernel = [3, 5, 7]
width = [4, 8]
se = [false, true]
stem = 4
head_channels = [0, 8]
"""


def test_a_supernet_search_over_mbconv_runs_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "ofa.toml").write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 'ofa.db'}"
    result = runner.invoke(app, ["search", str(tmp_path / "ofa.toml"), "--storage", url])
    assert result.exit_code == 0, result.output
    with open_store(url, create=False) as store:
        trials = store.trials("ofa")
    inherited = [t for t in trials if "inherited_accuracy" in t.metrics]
    standalone = [t for t in trials if "accuracy" in t.metrics]
    assert len(inherited) == 24 and len(standalone) >= 20
    assert {t.arch["family"] for t in trials} == {"mbconv"}
    assert len({t.arch["mbconv.kernel.0"] for t in inherited}) > 1
    shown = runner.invoke(app, ["show", "ofa", "--storage", url, "--json"])
    assert shown.exit_code == 0, shown.output
    diagnostics = json.loads(shown.output)["diagnostics"]
    assert diagnostics["sample_size"] >= 20 and diagnostics["metric"] == "accuracy"
    assert -1 <= diagnostics["kendall_tau"] <= 1 and -1 <= diagnostics["spearman_rho"] <= 1
