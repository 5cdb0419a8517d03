"""Benchmark: the dashboard's data load (the Pareto page) at 10k, 50k and 100k trials.

    python bench/dashboard.py [--trials 10000 50000 100000] [--repeats 3]
                              [--baseline /path/to/older/checkout] [--cache-dir DIR]

Builds SQLite stores of synthetic trials of the quickstart space once (accuracy, params,
latency_ms; 2% FAILED, the last 20 still RUNNING; cached in --cache-dir, default
/tmp/nasforge-bench-dashboard), then times, in a fresh process per repeat (a cold load, as a
new dashboard server makes it), what the Pareto page does before it draws: read the search's
trials into a DataFrame and pick the chart's points (the whole front and a fixed sample of
the rest beyond `sampling.CHART_POINTS`). It also times the figure and its JSON (what
Streamlit sends to the browser), and a refresh after 50 trials were added and 20 finished
(the incremental read). With --baseline, the same probe runs against that checkout's
nasforge (the page as it was: every trial read and drawn), interleaved with this one.
Prints one JSON object of medians and ratios (target: data load < 2 s at 100k trials).

`data_load_seconds(url, name)` is the figure other benchmarks import (bench/ on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEARCH = "big"
CHUNK = 1_000
RUNNING_AT_END = 20
FAIL_EVERY = 50


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages (the machine is shared: say how busy it was)."""
    return [round(x, 2) for x in os.getloadavg()]


def build_store(path: Path, n: int, seed: int = 0) -> str:
    """A SQLite store at `path` with one search ("big") of `n` trials (built once: an
    existing file is reused); returns its URL."""
    from nasforge.config import load
    from nasforge.objectives import parse_objectives
    from nasforge.records import EvalResult, TrialState
    from nasforge.store import open_store

    if path.exists():
        return f"sqlite:///{path}"
    config = load(ROOT / "examples" / "quickstart.toml")
    rng = np.random.default_rng(seed)
    part = path.with_suffix(".part")
    part.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{part}")
    try:
        store.create_search(SEARCH, parse_objectives(["accuracy:max", "params:min"]), n,
                            config.raw)
        for start in range(0, n, CHUNK):
            archs = config.space.sample_distinct(min(CHUNK, n - start), rng)
            for trial in store.add_trials(SEARCH, archs, TrialState.RUNNING):
                if trial.number >= n - RUNNING_AT_END:
                    continue
                if trial.number % FAIL_EVERY == FAIL_EVERY - 1:
                    store.finish(SEARCH, trial.number, EvalResult(
                        TrialState.FAILED, error="diverged (NaN loss)"))
                    continue
                params = float(rng.integers(1_000, 200_000))
                accuracy = float(np.clip(0.6 + 0.08 * np.log10(params)
                                         + rng.normal(0, 0.03), 0, 1))
                store.finish(SEARCH, trial.number, EvalResult(TrialState.COMPLETE, {
                    "accuracy": accuracy, "params": params,
                    "latency_ms": float(rng.uniform(0.05, 3.0))}))
    finally:
        store.close()
    os.replace(part, path)
    return f"sqlite:///{path}"


def _probe(url: str, name: str, figure: bool, refresh: bool) -> dict[str, float]:
    """One cold load in this process, as the dashboard of the nasforge imported here does
    it (this checkout: incremental cache and sampled chart; an older one: a whole read and
    every point drawn)."""
    from nasforge.objectives import parse_objectives
    from nasforge.store import open_store
    from nasforge.ui import charts, queries

    try:
        from nasforge.ui.dashboard import sampling
        from nasforge.ui.dashboard.trial_cache import TrialCache
    except ImportError:  # a checkout from before the incremental load
        sampling = None  # type: ignore[assignment]
    accuracy, params = parse_objectives(["accuracy:max", "params:min"])
    out: dict[str, float] = {"store_read": 0.0}
    store = open_store(url, create=False, readonly=True)
    search = store.get_search(name)

    def timed(read: Callable[..., object]) -> Callable[..., object]:  # the store's share
        def timed_read(*args: object, **kwargs: object) -> object:
            begin = time.perf_counter()
            try:
                return read(*args, **kwargs)
            finally:
                out["store_read"] += time.perf_counter() - begin
        return timed_read

    store.trials = timed(store.trials)  # type: ignore[method-assign]
    if hasattr(store, "trial_table"):  # the columnar read (this checkout)
        store.trial_table = timed(store.trial_table)  # type: ignore[method-assign]
    start = time.perf_counter()
    if sampling is not None:
        cache = TrialCache(store, name)
        frame = cache.frame(search)
        out["read_and_frame"] = time.perf_counter() - start
        drawn = sampling.pareto_sample(frame, (params, accuracy))
        shown, total = drawn.frame, drawn.total
    else:
        frame = queries.load_trials(store, name)
        out["read_and_frame"] = time.perf_counter() - start
        shown, total = frame, len(frame)
        queries.front_mask(frame, (params, accuracy))
    out["data_load"] = time.perf_counter() - start
    out["frame_and_points"] = out["data_load"] - out["store_read"]  # this side's share
    out["points_drawn"], out["points_total"] = len(shown), total
    if figure:
        step = time.perf_counter()
        extra = {"total": total} if sampling is not None else {}
        fig = charts.pareto_figure(shown, params, accuracy, color="latency_ms",
                                   metrics=["accuracy", "params"], **extra)
        out["figure_json_mb"] = len(fig.to_json()) / 1e6
        out["figure_and_json"] = time.perf_counter() - step
    store.close()
    if refresh and sampling is not None:
        out["refresh_after_changes"] = _refresh_seconds(url, name)
    return out


def _refresh_seconds(url: str, name: str) -> float:
    """On a copy of the store: a loaded cache, then 50 trials added and the RUNNING ones
    finished by another writer; seconds of the cache's next refresh (the incremental read)."""
    from nasforge.config import load
    from nasforge.records import EvalResult, TrialState
    from nasforge.store import open_store
    from nasforge.ui.dashboard.trial_cache import TrialCache

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.db"
        shutil.copy(url.removeprefix("sqlite:///"), copy)
        reader = open_store(f"sqlite:///{copy}", create=False, readonly=True)
        cache = TrialCache(reader, name)
        cache.frame(reader.get_search(name))
        writer = open_store(f"sqlite:///{copy}", create=False)
        running = [t.number for t in writer.trials(name, [TrialState.RUNNING])]
        config = load(ROOT / "examples" / "quickstart.toml")
        writer.add_trials(name, config.space.sample_distinct(50, np.random.default_rng(1)),
                          TrialState.RUNNING)
        for number in running:
            writer.finish(name, number, EvalResult(TrialState.COMPLETE, {
                "accuracy": 0.9, "params": 5e4, "latency_ms": 1.0}))
        writer.close()
        start = time.perf_counter()
        frame = cache.frame(reader.get_search(name))
        seconds = time.perf_counter() - start
        reader.close()
        if frame["state"].iloc[:-50].eq("RUNNING").any() or len(frame) != len(set(
                frame["number"])):
            raise RuntimeError("the refreshed frame missed a change: the benchmark is wrong")
        return seconds


def _run_probe(url: str, name: str, checkout: Path, figure: bool, refresh: bool
               ) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(Path(__file__).resolve()), "--probe", url, name]
    command += ["--figure"] * figure + ["--refresh"] * refresh
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"probe failed on {checkout}:\n{done.stderr}")
    return json.loads(done.stdout)


def _this_checkout() -> Path:
    import nasforge

    return Path(nasforge.__file__).resolve().parents[1]


def data_load_seconds(url: str, name: str, repeats: int = 3) -> float:
    """Median seconds of the dashboard's first (cold) data load of search `name` at `url`:
    read every trial into the trials frame and pick the Pareto chart's points, each repeat
    in a fresh process."""
    runs = [_run_probe(url, name, _this_checkout(), False, False)["data_load"]
            for _ in range(repeats)]
    return statistics.median(runs)


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an older nasforge checkout to compare with (e.g. the main one)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "nasforge-bench-dashboard")
    parser.add_argument("--probe", nargs=2, metavar=("URL", "SEARCH"), help=argparse.SUPPRESS)
    parser.add_argument("--figure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--refresh", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(_probe(*args.probe, figure=args.figure, refresh=args.refresh)))
        return
    load_start = _load()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    here = _this_checkout()
    sizes = {}
    for n in args.trials:
        url = build_store(args.cache_dir / f"trials-{n}.db", n)
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleaved
            ours.append(_run_probe(url, SEARCH, here, True, not theirs and not ours))
            if args.baseline:
                theirs.append(_run_probe(url, SEARCH, args.baseline, True, False))
        refresh = ours[0].pop("refresh_after_changes")
        this = _medians(ours)
        entry: dict[str, object] = {"this": this, "refresh_seconds": round(refresh, 4)}
        if theirs:
            baseline = _medians(theirs)
            entry["baseline"] = baseline
            entry["data_load_speedup"] = round(baseline["data_load"] / this["data_load"], 2)
        sizes[str(n)] = entry
    import pandas
    import plotly

    print(json.dumps({
        "benchmark": "dashboard_data_load", "repeats": args.repeats, "sizes": sizes,
        "target_seconds_100k": 2.0, "baseline": str(args.baseline) if args.baseline else None,
        "load_average": {"start": load_start, "end": _load()},
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "pandas": pandas.__version__,
                    "plotly": plotly.__version__},
    }, indent=2))


if __name__ == "__main__":
    main()
