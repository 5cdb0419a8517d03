"""What can only be checked against the data is refused by build_evaluator, before any write."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.config import from_dict
from nasforge.errors import NasforgeError
from nasforge.evaluator_setup import build_evaluator

BASE = {
    "search": {"name": "t", "budget": 2, "objectives": ["accuracy:max", "params:min"]},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1},
    "space": {"families": ["mlp", "cnn"], "activation": ["relu"], "norm": ["none", "batch"]},
}


def config(section: str = "space", **changes: object):
    raw = {k: dict(v) for k, v in BASE.items()}
    raw[section].update(changes)
    return from_dict(raw)


@pytest.mark.parametrize("cfg, message", [
    (config(activation=["relu", "gelux"]), r"Unknown activation 'gelux'.*'gelu'"),
    (config(norm=["batchnorm"]), r"Unknown norm 'batchnorm'.*'batch'"),
    (config(norm=["instance"]), r"mlp family applies norm 'instance'.*Remove 'instance'"),
    (config("search", objectives=["acuracy:max"]), r"'acuracy:max'.*Did you mean 'accuracy'"),
    (from_dict({**BASE, "training": {"epochs": 1, "measure_latency": False},
                "search": {**BASE["search"], "objectives": ["latency_ms:min"]}}),
     r"'latency_ms:min' names a metric that is not measured"),
])
def test_refused_with_the_fix(cfg, message):
    with pytest.raises(NasforgeError, match=message):
        build_evaluator(cfg)


def test_accuracy_on_a_regression_task_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    path = tmp_path / "r.npz"
    np.savez(path, x=x, y=x.sum(axis=1) + 0.5)
    cfg = from_dict({**BASE, "data": {"dataset": f"npz:{path}"},
                     "space": {"families": ["mlp"]}})
    with pytest.raises(NasforgeError, match=r"not measured for a regression task.*loss"):
        build_evaluator(cfg)
    ok = from_dict({**BASE, "data": {"dataset": f"npz:{path}"}, "space": {"families": ["mlp"]},
                    "search": {**BASE["search"], "objectives": ["loss:min", "params:min"]}})
    build_evaluator(ok)


def test_instance_norm_is_fine_where_it_applies():
    build_evaluator(config(families=["cnn"], norm=["instance", "batch"]))
