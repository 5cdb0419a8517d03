"""`nasforge benchmark`: strategies against published tables, compared with exact baselines.

For each strategy and repeat r (seed r) the real search loop (`nasforge.search.Search`) runs
against an in-memory store (``sqlite://``) with the tabular evaluator, and the objective values
of its trials are read back from the store in trial order. Per strategy the report gives the
best value found (mean, std over repeats), the regret to the table's optimum, the anytime curve
(mean best-so-far after 1..budget trials) and the wall time per repeat; with several objectives
also the hypervolume of the trials found and its ratio to the hypervolume of the table's exact
Pareto front. The baselines are exact (no sampling): the optimum and the expected best of
random search without replacement (`TabularBenchmark.random_expectation`).

Single-objective statistics (optimum, best, regret, anytime) are on the first objective.
Hypervolumes are taken after mapping every objective to [0, 1] by the table's min / max,
1 = best, reference point = the worst corner (0, ..., 0).

A trial on a table costs about 1 ms in the search loop (store included; the lookup itself
about 10-20 us), so 30 repeats of 150 trials take about 5 s per strategy plus the
strategy's own cost.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, overload

import numpy as np

from nasforge.benchmark.lookup import TabularBenchmark
from nasforge.benchmark.registered import resolve_table
from nasforge.benchmark.tables import BENCHMARK_SPECS, DATASETS
from nasforge.config import DataConfig, SearchConfig, TrainingConfig
from nasforge.errors import ConfigError
from nasforge.frozen import freeze
from nasforge.objectives import Objective
from nasforge.search import Search
from nasforge.store import open_store
from nasforge.strategies import STRATEGIES, make_strategy
from nasforge.strategies.pareto import hypervolume, non_dominated_mask

#: Rows per block when the table's Pareto front is found for 3 objectives (bounds memory).
FRONT_BLOCK = 128
MAX_REPEATS = 10_000

#: progress(strategy, repeats done, repeats) after every repeat.
Progress = Callable[[str, int, int], None]

K = TypeVar("K")


def parse_strategy_options(items: Sequence[str], strategies: Sequence[str]
                           ) -> dict[str, dict[str, object]]:
    """``key=value`` (for every strategy) or ``strategy.key=value`` (for one) -> options per
    strategy. Values are read as JSON (numbers, true/false, lists), else kept as strings."""
    options: dict[str, dict[str, object]] = {name: {} for name in strategies}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--strategy-option {item!r} must look like key=value or "
                              "strategy.key=value (e.g. population=50).")
        prefix, dot, rest = key.partition(".")
        targets = [prefix] if dot and prefix in options else list(options)
        if dot and prefix in options:
            key = rest
        try:
            value: object = json.loads(text)
        except json.JSONDecodeError:
            value = text
        for name in targets:
            options[name][key] = value
    return options


def tabular_config(bench: TabularBenchmark, strategy: str, objectives: Sequence[Objective],
                   budget: int, seed: int, options: Mapping[str, object] | None = None,
                   name: str | None = None) -> SearchConfig:
    """A `SearchConfig` over the space of a tabular benchmark (built in code, no TOML)."""
    name = name or f"{strategy}-{seed}"
    options = dict(options or {})
    dataset = f"tabular:{bench.name}"
    raw = {"search": {"name": name, "budget": budget, "objectives": [str(o) for o in objectives],
                      "strategy": strategy, "strategy_options": options, "seed": seed,
                      "batch": 1},
           "data": {"dataset": dataset}}
    return SearchConfig(name, budget, tuple(objectives), strategy, freeze(options), seed, 1,
                        DataConfig(dataset), TrainingConfig(measure_latency=False), bench.space,
                        freeze(raw))


def table_front(bench: TabularBenchmark, objectives: Sequence[Objective]) -> np.ndarray:
    """Indices of the table's exact Pareto front under `objectives` (mean values).

    One objective: O(n); two: one O(n log n) sort. Three: the entries are cut into blocks of
    FRONT_BLOCK and only each block's front is kept (a point of the whole front is on its
    block's front), repeated while that shrinks the candidates, then the front of the rest.
    """
    points = bench.normalized(objectives)
    indices = np.flatnonzero(np.isfinite(points).all(axis=1))
    while len(objectives) > 2 and len(indices) > FRONT_BLOCK:
        blocks = np.array_split(indices, len(indices) // FRONT_BLOCK)
        kept = np.concatenate([b[non_dominated_mask(points[b])] for b in blocks])
        shrunk = len(kept) < 0.8 * len(indices)
        indices = kept
        if not shrunk:
            break
    return indices[non_dominated_mask(points[indices])]


def front_hypervolume(bench: TabularBenchmark, objectives: Sequence[Objective]) -> float:
    """Hypervolume of the table's exact front, normalised as in the module docstring."""
    points = bench.normalized(objectives)[table_front(bench, objectives)]
    return hypervolume(points, np.zeros(len(objectives)))


def run_benchmark(benchmark: str | TabularBenchmark, dataset: str | None,
                  strategies: Sequence[str], *, budget: int,
                  repeats: int, seeds: Sequence[int] | None = None,
                  objectives: Sequence[str] | None = None,
                  strategy_options: Mapping[str, Mapping[str, object]] | None = None,
                  progress: Progress | None = None) -> dict[str, object]:
    """Run every strategy `repeats` times for `budget` trials.

    `benchmark`: a published table's name ("nb201", "fcnet", with `dataset`), the name of a
    table given to `register_table`, or a `TabularBenchmark` (e.g.
    `TabularBenchmark.from_arrays(...)`); `dataset` None for the last two.
    `seeds`: the repeats' seeds, one per repeat (default 0..repeats-1, so earlier figures
    stay reproducible).

    Everything is checked before anything runs (NasforgeError: unknown benchmark, dataset,
    strategy, objective or option; a budget larger than the table). Returns the JSON-able
    report described in the module docstring, with keys benchmark, dataset, budget, repeats,
    objectives, optimum, random_expectation (null with several objectives, then also
    front_hypervolume) and results (strategy -> statistics).
    """
    bench = (benchmark if isinstance(benchmark, TabularBenchmark)
             else resolve_table(benchmark, dataset))
    parsed = _objectives(bench, objectives)
    strategies = _strategies(strategies)
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= bench.size:
        raise ConfigError(f"--budget {budget!r}: use a whole number from 1 to {bench.size} (the "
                          f"size of the {bench.name} table).")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"--repeats {repeats!r}: use a whole number from 1 to {MAX_REPEATS}.")
    seeds = _seeds(seeds, repeats)
    options = {name: dict((strategy_options or {}).get(name, {})) for name in strategies}
    for name in strategies:  # unknown names and bad options fail here, before any run
        make_strategy(name, bench.space, parsed, 0, options[name])

    primary = parsed[0]
    optimum = bench.optimum(primary)
    multi = len(parsed) > 1
    # with several objectives best, regret and this baseline refer to the first objective
    expectation = bench.random_expectation(primary, budget)
    front_hv = front_hypervolume(bench, parsed) if multi else None
    results = {}
    for name in strategies:
        runs, seconds = _run_strategy(bench, name, parsed, budget, seeds, options[name],
                                      progress)
        results[name] = summarize(bench, runs, parsed, optimum, expectation, front_hv, seconds)
    report: dict[str, object] = {
        "benchmark": bench.table.benchmark, "dataset": _short_name(bench),
        "budget": budget, "repeats": repeats, "objectives": [str(o) for o in parsed],
        "optimum": optimum, "random_expectation": expectation, "results": results}
    if multi:
        report["front_hypervolume"] = front_hv
    return _json_safe(report)


def _run_strategy(bench: TabularBenchmark, name: str, objectives: tuple[Objective, ...],
                  budget: int, seeds: Sequence[int], options: Mapping[str, object],
                  progress: Progress | None) -> tuple[list[np.ndarray], list[float]]:
    """Objective values of every trial of every repeat (shape (trials, m) each, NaN where a
    trial failed) and the wall time of each repeat."""
    runs, seconds = [], []
    store = open_store("sqlite://")
    try:
        for repeat, seed in enumerate(seeds):
            config = tabular_config(bench, name, objectives, budget, seed, options)
            start = time.perf_counter()
            Search(config, store, bench).run()
            seconds.append(time.perf_counter() - start)
            trials = store.trials(config.name)
            runs.append(np.array([[t.metrics.get(o.metric, math.nan) for o in objectives]
                                  for t in trials], dtype=np.float64).reshape(-1, len(objectives)))
            if progress:
                progress(name, repeat + 1, len(seeds))
    finally:
        store.close()
    return runs, seconds


def summarize(bench: TabularBenchmark, runs: Sequence[np.ndarray],
              objectives: Sequence[Objective], optimum: float, expectation: float | None,
              front_hv: float | None, seconds: Sequence[float]) -> dict[str, object]:
    """Statistics of one strategy over its repeats (`runs[r]`: values per trial, shape
    (trials, m), NaN for a failed trial; a run shorter than the others, e.g. an exhausted
    space, keeps its last best). Standard deviations are over repeats (ddof=1)."""
    primary = objectives[0]
    budget = max(len(run) for run in runs)
    signed = np.full((len(runs), budget), np.nan)
    for r, run in enumerate(runs):
        signed[r, :len(run)] = primary.sign() * run[:, 0]
    best_so_far = np.fmax.accumulate(signed, axis=1) * primary.sign()  # NaN until a success
    best = best_so_far[:, -1]
    regret = np.abs(optimum - best)
    ddof = 1 if len(runs) > 1 else 0
    result: dict[str, object] = {
        "mean_best": float(np.mean(best)), "std_best": float(np.std(best, ddof=ddof)),
        "mean_regret": float(np.mean(regret)), "median_regret": float(np.median(regret)),
        "gain_vs_random": (None if expectation is None
                           else primary.sign() * (float(np.mean(best)) - expectation)),
        "anytime": [float(v) for v in np.mean(best_so_far, axis=0)],
        "seconds": float(np.mean(seconds)),
        "failed": float(np.mean([np.isnan(run).any(axis=1).sum() for run in runs])),
        "bests": [float(v) for v in best],
    }
    if front_hv is not None:
        volumes = np.array([hypervolume(bench.normalize(run, objectives),
                                        np.zeros(len(objectives))) for run in runs])
        result["hypervolume"] = float(np.mean(volumes))
        result["std_hypervolume"] = float(np.std(volumes, ddof=ddof))
        result["hypervolume_ratio"] = float(np.mean(volumes)) / front_hv if front_hv else None
        # the ratio is close to 1 for any decent search: the gap to the exact front is the
        # readable difference (0 = the whole front found)
        result["hypervolume_gap"] = (front_hv - float(np.mean(volumes))) if front_hv else None
    return result


def summary_table(report: Mapping[str, object]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Column headers and one row of display strings per strategy (the CLI's table): "vs
    random" for one objective, "HV ratio" for several."""
    multi = report["random_expectation"] is None
    headers = ("strategy", "best (mean ± std)", "regret (mean / median)",
               "HV ratio" if multi else "vs random (exact expectation)", "s / repeat")
    rows: list[tuple[str, ...]] = []
    results = report["results"]
    assert isinstance(results, Mapping), "report: what run_benchmark returns"
    for name, stats in results.items():
        if multi:
            ratio = stats.get("hypervolume_ratio")
            versus = "n/a" if ratio is None else f"{ratio:.4f}"
        else:
            gain = stats.get("gain_vs_random")
            versus = "n/a" if gain is None else (
                f"{gain:+.4g} ({_g(report['random_expectation'])})")
        rows.append((name, f"{_g(stats['mean_best'])} ± {_g(stats['std_best'])}",
                     f"{_g(stats['mean_regret'])} / {_g(stats['median_regret'])}", versus,
                     f"{stats['seconds']:.3f}"))
    return headers, rows


def _g(value: object) -> str:
    return "n/a" if value is None else f"{value:.5g}"


def _objectives(bench: TabularBenchmark, texts: Sequence[str] | None) -> tuple[Objective, ...]:
    if not texts:
        return (bench.default_objective,)
    objectives = tuple(bench.objective(t) for t in texts)
    metrics = [o.metric for o in objectives]
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"--objectives {metrics} name a metric twice; list each metric once.")
    if len(objectives) > 3:
        raise ConfigError(f"--objectives: {len(objectives)} objectives given; the exact "
                          "hypervolume is defined for at most 3, give 1 to 3.")
    return objectives


def _strategies(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in names if n.strip())
    if not names:
        raise ConfigError(f"--strategy: name at least one strategy ({', '.join(STRATEGIES)}).")
    if len(set(names)) != len(names):
        raise ConfigError(f"--strategy {','.join(names)} names a strategy twice.")
    for name in names:
        STRATEGIES.get(name)  # UnknownNameError listing the registered strategies
    return names


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``"10,11,12"`` -> (10, 11, 12); None or blank -> None (the default seeds)."""
    if text is None or not text.strip():
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give whole numbers separated by commas, one per "
                          "repeat (e.g. --seeds 10,11,12).") from None


def _seeds(seeds: Sequence[int] | None, repeats: int) -> tuple[int, ...]:
    if seeds is None:
        return tuple(range(repeats))
    chosen = tuple(seeds)
    if len(chosen) != repeats or any(isinstance(s, bool) or not isinstance(s, int) or s < 0
                                     for s in chosen):
        raise ConfigError(f"--seeds {list(chosen)}: give {repeats} whole numbers >= 0, one "
                          "per repeat.")
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"--seeds {list(chosen)} names a seed twice; repeats need "
                          "different seeds.")
    return chosen


def _short_name(bench: TabularBenchmark) -> str:
    if bench.table.benchmark not in BENCHMARK_SPECS:
        return bench.table.dataset
    spec = BENCHMARK_SPECS[bench.table.benchmark]
    return next(n for n in DATASETS[bench.table.benchmark]
                if spec.datasets[n] == bench.table.dataset)


@overload
def _json_safe(value: Mapping[K, object]) -> dict[K, object]: ...
@overload
def _json_safe(value: object) -> object: ...


def _json_safe(value: object) -> object:
    """NaN / inf (e.g. every trial failed) become null, so the report is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
