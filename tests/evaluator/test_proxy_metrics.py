"""``[training] proxies`` in the local evaluator: zc_<name> metrics of each candidate, equal
fused or alone, never changing what training produces."""

from __future__ import annotations

import pytest
import torch
from evaluator_helpers import blobs

from nasforge.evaluator import local
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.seeding import candidate_seed
from nasforge.objectives import check_objectives, parse_objectives
from nasforge.proxies.candidate import SECONDS, candidate_proxies
from nasforge.records import TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.families import plan_for

PROXIES = ("synflow", "naswot", "zen")


def arch(width: int, activation: str = "relu") -> Architecture:
    return Architecture({"family": "mlp", "mlp.depth": 1, "mlp.width": width,
                         "activation": activation, "norm": "batch", "dropout": 0.1,
                         "lr": 1e-2, "epochs": 2, "batch_size": 32, "optimizer": "adamw",
                         "schedule": "cosine"})


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_each_candidate_reports_its_proxies_as_zc_metrics() -> None:
    data = blobs()
    archs = [arch(16), arch(32, "gelu")]
    results = LocalEvaluator(data, seed=4, proxies=PROXIES, fused=False,
                             measure_latency=False).evaluate(archs)
    for candidate, result in zip(archs, results, strict=True):
        assert result.state is TrialState.COMPLETE, result.error
        expected = candidate_proxies(plan_for(candidate, data.spec),
                                     candidate_seed(4, candidate.arch_id), data.x_train,
                                     data.y_train, "classification", PROXIES)
        for name in PROXIES:
            assert result.metrics[f"zc_{name}"] == expected[f"zc_{name}"]
        assert result.metrics[SECONDS] > 0
    names = local.metric_names("classification", proxies=PROXIES)
    assert {"zc_synflow", "zc_naswot", "zc_zen", SECONDS} <= set(names)
    check_objectives(parse_objectives(["accuracy:max", "zc_synflow:max"]), names,
                     "classification")


def test_proxies_are_equal_fused_or_alone_and_leave_training_unchanged() -> None:
    data = blobs()
    archs = [arch(16), arch(24), arch(32)]
    fused = LocalEvaluator(data, seed=1, proxies=PROXIES, fused=True,
                           measure_latency=False).evaluate(archs)
    alone = LocalEvaluator(data, seed=1, proxies=PROXIES, fused=False,
                           measure_latency=False).evaluate(archs)
    plain = LocalEvaluator(data, seed=1, fused=False, measure_latency=False).evaluate(archs)
    for f, a, p in zip(fused, alone, plain, strict=True):
        for name in PROXIES:
            assert f.metrics[f"zc_{name}"] == a.metrics[f"zc_{name}"]
        for metric in ("accuracy", "loss", "train_loss", "test_accuracy"):
            assert a.metrics[metric] == p.metrics[metric]  # the trained model is untouched
        assert not any(key.startswith("zc_") for key in p.metrics)
