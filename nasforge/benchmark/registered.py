"""Tables by name: the published ones ("nb201", "fcnet" + a dataset) and the tables users
register (`register_table`), so `nasforge benchmark NAME` and `run_benchmark(NAME, ...)`
accept either.

A registered entry is a `TabularBenchmark` or a zero-argument factory returning one (called
on each lookup, so a plugin can defer reading its arrays until the table is used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from nasforge.benchmark.lookup import TabularBenchmark
from nasforge.benchmark.tables import BENCHMARK_SPECS
from nasforge.errors import ConfigError, UnknownNameError, did_you_mean
from nasforge.registry import Registry, failure_notes

TableEntry = TabularBenchmark | Callable[[], TabularBenchmark]

TABLES: Registry[TableEntry] = Registry("benchmark table")


def register_table(name: str, table: object) -> None:
    """Make `table` (a TabularBenchmark, or a factory returning one) known as `name`.

    Raises ConfigError when `name` is empty or already taken (by a published table or an
    earlier registration)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ConfigError(f"Table name {name!r}: give a non-empty name without surrounding "
                          "spaces.")
    if name in BENCHMARK_SPECS or name in TABLES:
        what = "a published table" if name in BENCHMARK_SPECS else "registered already"
        raise ConfigError(f"Table name {name!r} is taken ({what}); register yours under "
                          "another name.")
    if not (isinstance(table, TabularBenchmark) or callable(table)):
        raise ConfigError(f"register_table({name!r}, ...): give a TabularBenchmark or a "
                          f"function returning one, not {type(table).__name__}.")
    # cast: what a factory returns is checked when the table is used (resolve_table)
    TABLES.register(name, cast(TableEntry, table))


def table_names() -> tuple[str, ...]:
    """Every name `resolve_table` accepts: the published benchmarks, then registered ones."""
    return (*BENCHMARK_SPECS, *TABLES.names())


def resolve_table(name: str, dataset: str | None = None) -> TabularBenchmark:
    """The table called `name`: a published benchmark on `dataset`, or a registered table
    (then `dataset` must be None). UnknownNameError lists every known name."""
    if name in BENCHMARK_SPECS:
        return TabularBenchmark.load(name, dataset or "")
    if name not in TABLES:
        names = table_names()
        raise UnknownNameError(f"Unknown benchmark table {name!r}.{did_you_mean(name, names)} "
                               f"Known tables: {', '.join(names)}.{failure_notes()}")
    if dataset:
        raise ConfigError(f"--dataset {dataset!r}: the registered table {name!r} has no "
                          "datasets; leave --dataset out.")
    entry = TABLES.get(name)
    table = entry if isinstance(entry, TabularBenchmark) else entry()
    if not isinstance(table, TabularBenchmark):
        raise ConfigError(f"The factory registered as table {name!r} returned "
                          f"{type(table).__name__}, not a TabularBenchmark.")
    return table
