"""TabularBenchmark: an evaluator that looks architectures up in a published table.

No training: `evaluate` maps each architecture to its table entry and returns the table's
metrics (the mean over the table's seeds, or with ``noisy=True`` one seed drawn per query from
the benchmark's own generator). Thousands of queries per second, so strategy tests and
`nasforge benchmark` run hundreds of trials in milliseconds.

Lifecycle: build it with `TabularBenchmark.load(benchmark, dataset)` (the table is read once
per process); `space` is an ordinary `SearchSpace`; `evaluate` is the `Evaluator` protocol
(`nasforge.evaluator.protocol`). The exact statistics (`optimum`, `random_expectation`,
...) use the mean values of the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from nasforge.benchmark.arrays import table_from_arrays
from nasforge.benchmark.stats import expected_best
from nasforge.benchmark.tables import Table, load_table
from nasforge.errors import ConfigError, NasforgeError, did_you_mean
from nasforge.objectives import Objective
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.searchspace.params import Scalar, option_key
from nasforge.searchspace.space import SearchSpace


class TabularBenchmark:
    """Look-up evaluator over one `Table`.

    `noisy`: each query returns one seed's values (all metrics of that seed) instead of the
    mean, drawn with a `numpy.random.Generator` made from `seed`.
    """

    def __init__(self, table: Table, *, noisy: bool = False, seed: int = 0) -> None:
        self.table = table
        self.noisy = noisy
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # value -> option index, per parameter (numbers matched by value, as in Choice)
        self._lookup = tuple({option_key(o): i for i, o in enumerate(opts)}
                             for opts in table.options)
        radices = np.array(table.radices, dtype=np.int64)
        self._weights = tuple(int(w) for w in
                              np.concatenate([np.cumprod(radices[::-1])[::-1][1:], [1]]))
        self._metrics = tuple(table.means)
        # parameters of the space that the table does not index (nb201: family = "cell")
        self._fixed = {name: next(iter(param.values())) for name, param in
                       table.space.params.items() if name not in table.params}

    @classmethod
    def load(cls, benchmark: str, dataset: str, *, noisy: bool = False,
             seed: int = 0) -> TabularBenchmark:
        """The evaluator of `benchmark` ("nb201", "fcnet") on `dataset` (aliases accepted)."""
        return cls(load_table(benchmark, dataset), noisy=noisy, seed=seed)

    @classmethod
    def from_arrays(cls, space: SearchSpace, metrics: Mapping[str, object], *, name: str,
                    directions: Mapping[str, str] | None = None,
                    main_metric: str | None = None) -> TabularBenchmark:
        """A table of your own measurements: `metrics[m]` has one value per architecture of
        `space.enumerate()` (see `arrays.table_from_arrays`); optimum, random expectation and
        Pareto front are then exact, as for the published tables."""
        return cls(table_from_arrays(space, metrics, name=name, directions=directions,
                                     main_metric=main_metric))

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        table = self.table
        return table.benchmark if table.benchmark == table.dataset else (
            f"{table.benchmark}/{table.dataset}")

    @property
    def space(self) -> SearchSpace:
        return self.table.space

    @property
    def size(self) -> int:
        return self.table.size

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self._metrics

    @property
    def default_objective(self) -> Objective:
        main = self.table.main_metric
        return Objective(main, self.table.directions[main])

    def objective(self, objective: Objective | str) -> Objective:
        """`objective` checked against the table's metrics; a bare name (no ``:max`` /
        ``:min``) takes the metric's natural direction."""
        if isinstance(objective, str):
            metric = objective.partition(":")[0].strip()
            direction = self.table.directions.get(metric, "max")
            objective = (Objective.parse(objective) if ":" in objective
                         else Objective(metric, direction))
        if objective.metric not in self.table.means:
            raise ConfigError(
                f"Objective {str(objective)!r} is not a metric of the {self.name} table."
                f"{did_you_mean(objective.metric, self._metrics)} Metrics: "
                f"{', '.join(self._metrics)}.")
        return objective

    # ------------------------------------------------------------------ lookups
    def index(self, arch: Architecture) -> int | None:
        """The table index of `arch`, None when it is not an entry of the table."""
        values = arch.mapping
        if len(values) != len(self._lookup) + len(self._fixed):
            return None
        index = 0
        try:
            for name, lookup, weight in zip(self.table.params, self._lookup, self._weights,
                                            strict=True):
                index += lookup[option_key(values[name])] * weight
            if any(option_key(values[name]) != option_key(value)
                   for name, value in self._fixed.items()):
                return None
        except KeyError:
            return None
        return index

    def arch(self, index: int) -> Architecture:
        """The architecture of table entry `index` (inverse of `index`)."""
        if not 0 <= index < self.size:
            raise IndexError(f"table index {index} is outside 0..{self.size - 1}")
        values: dict[str, Scalar] = dict(self._fixed)
        for name, options, weight in zip(self.table.params, self.table.options, self._weights,
                                         strict=True):
            values[name] = options[(index // weight) % len(options)]
        return Architecture(values)

    def values(self, metric: str) -> np.ndarray:
        """The mean value of `metric` for every table entry, shape (size,), read-only."""
        return self.table.means[self.objective(metric).metric]

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        """One COMPLETE result per architecture in the table, FAILED (with the reason) for
        one that is not."""
        indices = [self.index(a) for a in archs]
        found = np.array([i for i in indices if i is not None], dtype=np.int64)
        if self.noisy and len(found):
            # an index without a table entry has no seeds: it reads NaN and fails below
            draws = self.rng.integers(0, np.maximum(self.table.seed_counts[found], 1))
            columns = {m: self.table.seeds[m][found, draws] for m in self._metrics}
        else:
            columns = {m: self.table.means[m][found] for m in self._metrics}
        results, j = [], 0
        for arch, index in zip(archs, indices, strict=True):
            if index is None:
                results.append(EvalResult.failed(self._why_missing(arch)))
                continue
            metrics = {m: float(columns[m][j]) for m in self._metrics}
            j += 1
            if any(v != v for v in metrics.values()):  # NaN: no entry for this config
                results.append(EvalResult.failed(f"the {self.name} table has no entry for "
                                                 f"this architecture ({arch.json})"))
            else:
                results.append(EvalResult(TrialState.COMPLETE, metrics))
        return results

    def _why_missing(self, arch: Architecture) -> str:
        try:
            self.space.validate(arch)
        except NasforgeError as err:
            return f"not an architecture of the {self.name} table: {err}"
        return f"not an architecture of the {self.name} table ({arch.json})"

    # ------------------------------------------------------------------ exact statistics
    def optimum(self, objective: Objective | str | None = None) -> float:
        """The best mean value of the table for `objective` (default: the main metric)."""
        objective = self.objective(objective or self.default_objective)
        values = self.table.means[objective.metric]
        return float(np.nanmax(values) if objective.direction == "max" else np.nanmin(values))

    def best_index(self, objective: Objective | str | None = None) -> int:
        objective = self.objective(objective or self.default_objective)
        values = self.table.means[objective.metric] * objective.sign()
        return int(np.nanargmax(values))

    def random_expectation(self, objective: Objective | str | None = None,
                           budget: int = 1) -> float:
        """Exact expected best value of random search without replacement after `budget`
        trials (order statistics of the table's mean values, see `stats`)."""
        return float(self.random_expectation_curve(objective, [budget])[0])

    def random_expectation_curve(self, objective: Objective | str | None = None,
                                 budgets: Iterable[int] | None = None) -> np.ndarray:
        """`random_expectation` for every budget in `budgets` (default 1..100); shape
        (len(budgets),)."""
        objective = self.objective(objective or self.default_objective)
        budgets = list(range(1, 101) if budgets is None else budgets)
        return expected_best(self.table.means[objective.metric], objective.direction, budgets)

    def normalized(self, objectives: Sequence[Objective | str]) -> np.ndarray:
        """The table's mean values as rows of objectives, each mapped to [0, 1] by the table's
        min / max and oriented so that 1 is best (all maximised; 0 is the worst corner, the
        hypervolume reference). Shape (size, len(objectives))."""
        return self.normalize(np.column_stack([self.table.means[self.objective(o).metric]
                                               for o in objectives]), objectives)

    def normalize(self, values: np.ndarray, objectives: Sequence[Objective | str]) -> np.ndarray:
        """Rows of raw metric values (one column per objective) mapped like `normalized`."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(objectives))
        out = np.empty_like(values)
        for j, objective in enumerate(objectives):
            objective = self.objective(objective)
            column = self.table.means[objective.metric]
            low, high = float(np.nanmin(column)), float(np.nanmax(column))
            span = high - low if high > low else 1.0
            scaled = (values[:, j] - low) / span
            out[:, j] = scaled if objective.direction == "max" else 1.0 - scaled
        return out
