"""Sandwich rule, the supernet search end to end, its diagnostic and its resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nasforge.checkpoint_policy import search_checkpoints
from nasforge.config import from_dict
from nasforge.errors import ConfigError
from nasforge.evaluator_setup import build_evaluator
from nasforge.search import Search
from nasforge.store import open_store
from nasforge.supernet import search as driver
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SandwichSchedule, recalibrate
from nasforge.ui.report import search_report
from tests.supernet.helpers import MLP_SPEC, mlp_space


def test_sandwich_schedule_samples_the_extremes() -> None:
    space = mlp_space()
    steps = [SandwichSchedule(space, 2, seed=0).step() for _ in range(3)]
    for largest, smallest, *rest in steps:
        assert len(rest) == 2
        assert largest["mlp.depth"] == 3 and smallest["mlp.depth"] == 0
        assert all(largest[f"mlp.width.{i}"] == 24 for i in range(3))
        assert largest["weight_bits"] == 32 and smallest["weight_bits"] == 1
        assert largest["act_bits"] == 32 and smallest["act_bits"] == 1


def test_recalibration_resets_and_reestimates_the_subnets_batch_norm() -> None:
    space = mlp_space(norm="batch", weight_bits=32, act_bits=32)
    net = Supernet(space, MLP_SPEC, seed=0).eval()
    arch = space.sample(np.random.default_rng(0))
    x = torch.randn(64, *MLP_SPEC.input_shape) * 3 + 1
    recalibrate(net, arch, x, batches=2, batch_size=64)
    bn = next(m for layer in net.layer_modules(arch) for m in layer.modules()
              if isinstance(m, torch.nn.BatchNorm1d))
    # the two batches in one forward pass: the statistics of all 128 samples
    assert int(bn.num_batches_tracked) == 1 and bn.momentum is not None
    assert not bn.training and float(bn.running_mean.abs().sum()) > 0


def _config(tmp_path, training: dict[str, object] | None = None, **options: object):
    raw = {
        "search": {"name": "sn", "budget": 40, "objectives": ["accuracy:max", "params:min"],
                   "strategy": "supernet", "seed": 0,
                   "strategy_options": {"inner": "evolution", "retrain_top_k": 2,
                                        "ranking_sample": 20, "supernet_epochs": 2,
                                        **options}},
        "data": {"dataset": "digits"},
        "training": {"device": "cpu", "epochs": 1, "measure_latency": False,
                     **(training or {})},
        "space": {"families": ["mlp"], "activation": ["relu", "tanh"],
                  "norm": ["none", "batch"], "weight_bits": [32, 8],
                  "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32],
                          "per_layer_width": True}},
    }
    return from_dict(raw, source="test")


def _run(tmp_path, config):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    checkpoints = search_checkpoints(config, url)
    evaluator = build_evaluator(config, checkpoint_dir=checkpoints.folder)
    search = Search(config, store, evaluator, resume=True, checkpoints=checkpoints)
    outcome = search.run()
    return store, outcome, checkpoints


def test_supernet_search_end_to_end_stores_the_ranking_diagnostic(tmp_path) -> None:
    config = _config(tmp_path)
    store, outcome, checkpoints = _run(tmp_path, config)
    trials = store.trials("sn")
    inherited = [t for t in trials if "inherited_accuracy" in t.metrics]
    standalone = [t for t in trials if "accuracy" in t.metrics]
    assert len(inherited) == 40 and 20 <= len(standalone) <= 22
    assert not any("accuracy" in t.metrics for t in inherited)  # kept apart in the store
    assert all(t.worker.startswith("supernet:") for t in inherited)
    assert set(outcome.pareto) <= {t.number for t in standalone}
    report = json.loads(json.dumps(search_report(store.get_search("sn"), trials)))
    diagnostics = report["diagnostics"]
    assert diagnostics["sample_size"] >= 20
    assert -1 <= diagnostics["kendall_tau"] <= 1 and -1 <= diagnostics["spearman_rho"] <= 1
    assert diagnostics["supernet_reused"] is False
    assert (checkpoints.folder / "supernet.pt").is_file()
    assert set(report["pareto"]) <= {t.number for t in standalone}
    store.close()


def test_a_resumed_supernet_search_reloads_its_checkpoint(tmp_path, monkeypatch) -> None:
    config = _config(tmp_path)
    store, _, _ = _run(tmp_path, config)
    before = len(store.trials("sn"))
    store.close()

    def no_training(*args, **kwargs):
        raise AssertionError("the supernet was retrained instead of loaded")

    monkeypatch.setattr(driver, "train_supernet", no_training)
    store, _, _ = _run(tmp_path, config)
    assert len(store.trials("sn")) == before  # nothing evaluated twice
    assert store.get_search("sn").diagnostics["supernet_reused"] is True
    store.close()


def test_bad_options_and_unsupported_families_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="ranking_sample"):
        _config(tmp_path, ranking_sample=5)
    with pytest.raises(ConfigError, match="inner"):
        _config(tmp_path, inner="bayesian")
    raw = _config(tmp_path).raw
    from nasforge.frozen import thaw

    plain = thaw(raw)
    plain["space"]["families"] = ["cell"]
    plain["space"].pop("mlp")
    with pytest.raises(ConfigError, match="does not support the 'cell' family"):
        from_dict(plain, source="test")



def test_the_supernet_trains_with_the_training_threads_setting(tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, training={"threads": 2})
    real, seen = driver.train_supernet, []

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(driver, "train_supernet", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store, _, _ = _run(tmp_path, config)
        store.close()
        assert seen == [2]  # as [training] threads says, not the process's one thread
        assert torch.get_num_threads() == 1  # and restored after
    finally:
        torch.set_num_threads(before)
