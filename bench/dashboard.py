"""Benchmark: the dashboard's Pareto page on a store of 10,000 trials.

    python bench/dashboard.py [--trials 10000] [--repeats 5]

Fills a temporary SQLite store with synthetic trials of the quickstart space (accuracy,
params, latency_ms; no curves) through the Store API in this process, then times, as the
Pareto page does on a cold cache: open the store and list the searches, read the trials into
a DataFrame (`queries.load_trials`), the Pareto front (`queries.front_mask`), the Plotly
figure (`charts.pareto_figure`, WebGL above 2,000 points) and its JSON (what Streamlit sends
to the browser). Prints one JSON object with the median of each step and the total
(target: about 2 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nasforge.config import load
from nasforge.objectives import parse_objectives
from nasforge.records import EvalResult, TrialState
from nasforge.store import open_store
from nasforge.ui import charts, queries

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = parse_objectives(["accuracy:max", "params:min"])


def fill(url: str, n: int, seed: int = 0) -> float:
    config = load(ROOT / "examples" / "quickstart.toml")
    rng = np.random.default_rng(seed)
    archs = config.space.sample_distinct(n, rng)
    start = time.perf_counter()
    store = open_store(url)
    try:
        store.create_search("big", OBJECTIVES, n, config.raw)
        for trial in store.add_trials("big", archs, TrialState.RUNNING):
            params = float(rng.integers(1_000, 200_000))
            accuracy = float(np.clip(0.6 + 0.08 * np.log10(params) + rng.normal(0, 0.03), 0, 1))
            store.finish("big", trial.number, EvalResult(TrialState.COMPLETE, {
                "accuracy": accuracy, "params": params,
                "latency_ms": float(rng.uniform(0.05, 3.0))}))
    finally:
        store.close()
    return time.perf_counter() - start


def time_page(url: str) -> dict[str, float]:
    times: dict[str, float] = {}
    start = time.perf_counter()
    store = open_store(url, create=False)
    search = store.list_searches()[0]
    times["open_and_list"] = time.perf_counter() - start
    step = time.perf_counter()
    frame = queries.load_trials(store, search.name)
    times["load_trials"] = time.perf_counter() - step
    step = time.perf_counter()
    front = queries.front_mask(frame, OBJECTIVES)
    times["front"] = time.perf_counter() - step
    step = time.perf_counter()
    x, y = OBJECTIVES[1], OBJECTIVES[0]
    fig = charts.pareto_figure(frame, x, y, color="latency_ms", metrics=["accuracy", "params"])
    times["figure"] = time.perf_counter() - step
    step = time.perf_counter()
    payload = fig.to_json()
    times["figure_json"] = time.perf_counter() - step
    times["total"] = time.perf_counter() - start
    times["front_size"] = int(front.sum())
    times["json_mb"] = len(payload) / 1e6
    store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        fill_seconds = fill(url, args.trials)
        runs = [time_page(url) for _ in range(args.repeats)]
    import pandas
    import plotly

    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({
        "benchmark": "dashboard_pareto_page", "trials": args.trials, "repeats": args.repeats,
        "fill_seconds": round(fill_seconds, 2),
        "median_seconds": {k: round(v, 4) for k, v in medians.items()
                           if k not in ("front_size", "json_mb")},
        "front_size": int(medians["front_size"]), "figure_json_mb": round(medians["json_mb"], 2),
        "target_seconds": 2.0,
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "pandas": pandas.__version__, "plotly": plotly.__version__},
    }, indent=2))


if __name__ == "__main__":
    main()
