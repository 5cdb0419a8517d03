"""Cost of `pareto_front` (the Pareto front of a search's trials, computed by the trial loop,
the checkpoint policy, the report and the export) against the number of trials, for one and
two objectives (a benchmark script, not a test). Prints JSON: for each size and objective
count, the best seconds of `repeats` calls, the peak traced memory (tracemalloc, MB) of one
call and the front's size. Run it against another checkout with PYTHONPATH to compare:

    python bench/fronts.py [--sizes 1000,10000,30000] [--repeats 3]
    PYTHONPATH=/path/to/other/checkout python bench/fronts.py
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Mapping

import numpy as np

import nasforge
from nasforge.objectives import parse_objectives
from nasforge.strategies.pareto import pareto_front

OBJECTIVES = {1: ["accuracy:max"], 2: ["accuracy:max", "params:min"]}


def trial_metrics(n: int, seed: int = 0) -> list[Mapping[str, float]]:
    """Metrics of n trials: rounded values (ties, duplicates) and 2% failed (no metrics)."""
    rng = np.random.default_rng(seed)
    accuracy = np.round(rng.uniform(0.5, 0.95, n), 3)
    params = np.round(rng.lognormal(13, 1, n), -3)
    failed = rng.random(n) < 0.02
    return [{} if failed[i] else {"accuracy": float(accuracy[i]), "params": float(params[i])}
            for i in range(n)]


def measure(n: int, m: int, repeats: int) -> dict[str, float | int]:
    metrics = trial_metrics(n)
    objectives = parse_objectives(OBJECTIVES[m])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        front = pareto_front(metrics, objectives)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    pareto_front(metrics, objectives)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"trials": n, "objectives": m, "seconds": round(min(seconds), 5),
            "peak_mb": round(peak / 2**20, 2), "front": len(front)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,30000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n, m, args.repeats) for m in (1, 2) for n in sizes]
    print(json.dumps({"nasforge": str(nasforge.__file__), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
