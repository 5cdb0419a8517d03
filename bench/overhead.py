"""Per-trial overhead of the platform (strategy + store + loop) with a trivial evaluator,
side by side with Optuna's ask/tell on its in-memory and SQLite storages, in one run.

    python bench/overhead.py [--trials 300] [--repeats 5]

Prints one JSON object: median milliseconds per trial of each contender over interleaved
repeats (each repeat uses a fresh database), and the ratios against nasforge + SQLite.
Both sides search the same 12-parameter space with two objectives and random sampling.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna

from nasforge.config import from_dict
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.params import Choice, FloatRange, IntRange
from nasforge.store import open_store

RAW = {
    "search": {"name": "overhead", "objectives": ["accuracy:max", "params:min"], "seed": 0},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu", "silu", "tanh"],
              "norm": ["none", "batch", "layer"], "dropout": [0.0, 0.1, 0.2],
              "lr": {"low": 1e-4, "high": 1e-1, "log": True},
              "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
              "batch_size": [32, 64, 128], "epochs": [5, 10, 20],
              "optimizer": ["adam", "adamw", "sgd"],
              "mlp": {"depth": {"low": 1, "high": 4}, "width": [16, 32, 64, 128, 256]}},
}


class TrivialEvaluator:
    """Returns made-up metrics at once: what remains is the platform's own cost."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return [EvalResult(TrialState.COMPLETE, {"accuracy": float(self.rng.random()),
                                                 "params": float(self.rng.integers(1, 10**6))})
                for _ in archs]


def run_nasforge(url: str, trials: int) -> float:
    config = from_dict(RAW).with_overrides(budget=trials)
    store = open_store(url)
    start = time.perf_counter()
    Search(config, store, TrivialEvaluator(0)).run()
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed / trials


def run_optuna(storage: str | None, trials: int) -> float:
    space = from_dict(RAW).space
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials):
        trial = study.ask()
        for name, param in space.params.items():
            if isinstance(param, Choice):
                trial.suggest_categorical(name, list(param.options))
            elif isinstance(param, IntRange):
                trial.suggest_int(name, param.low, param.high, log=param.log)
            elif isinstance(param, FloatRange):
                trial.suggest_float(name, param.low, param.high, log=param.log)
        study.tell(trial, [float(rng.random()), float(rng.integers(1, 10**6))])
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samples: dict[str, list[float]] = {k: [] for k in (
        "nasforge_sqlite_file", "nasforge_sqlite_memory", "optuna_inmemory", "optuna_sqlite_file")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved: every contender once per repeat
            samples["nasforge_sqlite_file"].append(
                run_nasforge(f"sqlite:///{Path(tmp) / f'n{r}.db'}", args.trials))
            samples["nasforge_sqlite_memory"].append(run_nasforge("sqlite://", args.trials))
            samples["optuna_inmemory"].append(run_optuna(None, args.trials))
            samples["optuna_sqlite_file"].append(
                run_optuna(f"sqlite:///{Path(tmp) / f'o{r}.db'}", args.trials))
    ms = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    base = ms["nasforge_sqlite_file"]
    print(json.dumps({
        "benchmark": "overhead",
        "trials_per_repeat": args.trials, "repeats": args.repeats,
        "ms_per_trial_median": {k: round(v, 3) for k, v in ms.items()},
        "ratio_vs_nasforge_sqlite": {k: round(v / base, 2) for k, v in ms.items()},
        "speedup_vs_optuna_sqlite": round(ms["optuna_sqlite_file"] / base, 2),
        "goal": "speedup_vs_optuna_sqlite >= 5",
        "versions": {"optuna": optuna.__version__, "python": platform.python_version()},
        "machine": {"processor": platform.machine(), "system": platform.system()},
    }, indent=2))


if __name__ == "__main__":
    main()
