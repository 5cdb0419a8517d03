"""Strategy overhead per trial: ask + tell of nasforge's strategies vs Optuna's in-memory
random sampler, on the NAS-Bench-201 space (6 categorical parameters), one objective.

    python bench/strategies.py [--trials 300] [--repeats 7] [--strategies random,evolution]

No evaluator and no store: only the strategy's own cost (nasforge through `make_strategy`,
i.e. with the deduplication wrapper; Optuna through `study.ask` / `study.tell` with the
in-memory storage, which is Optuna's cheapest path). Interleaved repeats; medians; JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import optuna

from nasforge.objectives import parse_objectives
from nasforge.records import TrialRecord, TrialState
from nasforge.searchspace.cells import NB201_OPS, nb201_space
from nasforge.strategies import make_strategy

OBJECTIVES = parse_objectives(["accuracy:max"])


def run_nasforge(name: str, trials: int, seed: int) -> float:
    strategy = make_strategy(name, nb201_space(), OBJECTIVES, seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for number in range(trials):
        (arch,) = strategy.ask(1)
        strategy.tell([TrialRecord("bench", number, arch, TrialState.COMPLETE,
                                   {"accuracy": float(rng.random())})])
    return (time.perf_counter() - start) / trials


def run_optuna_random(trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(trials):
        trial = study.ask()
        for edge in range(6):
            trial.suggest_categorical(f"edge{edge}", list(NB201_OPS))
        study.tell(trial, float(rng.random()))
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--strategies", default="random,evolution")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = args.strategies.split(",")
    samples: dict[str, list[float]] = {**{n: [] for n in names}, "optuna_random_inmemory": []}
    for r in range(args.repeats):
        for name in names:
            samples[name].append(run_nasforge(name, args.trials, r))
        samples["optuna_random_inmemory"].append(run_optuna_random(args.trials, r))
    us = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    base = us["optuna_random_inmemory"]
    print(json.dumps({
        "benchmark": "strategy_overhead",
        "space": "NAS-Bench-201 (6 categorical parameters)",
        "trials_per_repeat": args.trials, "repeats": args.repeats,
        "us_per_trial_median": {k: round(v, 1) for k, v in us.items()},
        "ratio_vs_optuna_random_inmemory": {k: round(v / base, 3) for k, v in us.items()},
        "goal": "random and evolution no higher than Optuna's in-memory random sampler",
        "versions": {"optuna": optuna.__version__, "python": platform.python_version()},
    }, indent=2))


if __name__ == "__main__":
    main()
