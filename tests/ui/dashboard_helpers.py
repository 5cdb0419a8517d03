"""Stores for the dashboard tests: a real tabular NB201 search (random and evolution on one
space, so History has a reference line) and digits-MLP trials with curves (for the layer
stack and model.py export), written through the Store API, without torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasforge.benchmark import tabular_config
from nasforge.config import load
from nasforge.objectives import parse_objectives
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.search import Search
from nasforge.store import open_store

ROOT = Path(__file__).parents[2]
OBJECTIVES = parse_objectives(["accuracy:max", "params:min"])


def tabular_store(folder: Path, budget: int = 40) -> str:
    from nasforge.evaluator.tabular import TabularBenchmark

    url = f"sqlite:///{folder / 'tabular.db'}"
    bench = TabularBenchmark.load("nb201", "cifar10")
    store = open_store(url)
    try:
        for strategy in ("evolution", "random"):
            config = tabular_config(bench, strategy, OBJECTIVES, budget, 0, name=strategy)
            Search(config, store, bench).run()
    finally:
        store.close()
    return url


def digits_store(folder: Path, n: int = 12) -> str:
    """`n` trials of the quickstart space (metrics made up, one FAILED) in search "digits"."""
    url = f"sqlite:///{folder / 'digits.db'}"
    config = load(ROOT / "examples" / "quickstart.toml")
    rng = np.random.default_rng(0)
    archs = config.space.sample_distinct(n, rng)
    store = open_store(url)
    try:
        store.create_search("digits", OBJECTIVES, n, config.raw)
        for trial in store.add_trials("digits", archs, TrialState.RUNNING):
            if trial.number == n - 1:
                store.finish("digits", trial.number, EvalResult.failed("diverged (NaN loss)"))
                continue
            accuracy = float(rng.uniform(0.7, 0.98))
            curve = tuple(CurvePoint(e, {"train_loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1),
                                         "val_accuracy": accuracy * (e + 1) / 3})
                          for e in range(3))
            store.finish("digits", trial.number, EvalResult(
                TrialState.COMPLETE, {"accuracy": accuracy, "params": float(rng.integers(
                    1000, 50000)), "latency_ms": float(rng.uniform(0.1, 2))}, curve))
    finally:
        store.close()
    return url
