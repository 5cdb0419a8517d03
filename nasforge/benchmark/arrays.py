"""A `Table` from a user's own measurements: one numpy array per metric over a finite space.

`metrics[m][i]` is the value of the i-th architecture of `space.enumerate()`. The table is
indexed like the published ones (mixed-radix config index over the space's `Choice`
parameters), so the exact optimum, random expectation and Pareto front are computed by the
same code as for NAS-Bench-201 and FCNet.

Canonicalised spaces: random search samples *encodings* uniformly, so a network with many
encodings (a cell whose dead edges can hold any op) is more likely than one with a single
encoding, and the uniform "expected best over distinct networks" is not what random search
achieves. A table is therefore one entry per encoding: spaces with a canonicaliser (or
conditions, which also make sampling non-uniform) are refused; build the raw space and give
every encoding the value of its network. The exact baseline is then over encodings, which is
what random search on that raw space draws (a uniform subset of distinct encodings).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from nasforge.benchmark.tables import Table
from nasforge.errors import ConfigError
from nasforge.searchspace.params import Choice, option_key
from nasforge.searchspace.space import SearchSpace


def table_from_arrays(space: SearchSpace, metrics: Mapping[str, object], *, name: str,
                      directions: Mapping[str, str] | None = None,
                      main_metric: str | None = None) -> Table:
    """The `Table` of `space` (only `Choice` parameters, no canonicaliser) with `metrics`
    (metric -> array of shape (len(list(space.enumerate())),), aligned with that order).

    `directions`: metric -> "max" | "min" (default "max"); `main_metric`: the default
    objective (default: the first metric). Raises ConfigError for a misaligned length, a
    NaN / inf value, an unknown metric in `directions` / `main_metric`, or a space that is
    not a plain product of choices.
    """
    if not metrics:
        raise ConfigError(f"Table {name!r}: give at least one metric array.")
    bad = [n for n, p in space.params.items() if not isinstance(p, Choice)]
    if bad:
        raise ConfigError(f"Table {name!r}: parameters {', '.join(bad)} are not Choice "
                          "parameters; a table needs a finite product of choices.")
    if space.canonicalize is not None or space.conditions:
        raise ConfigError(f"Table {name!r}: the space has a canonicaliser or conditions; a table "
                          "needs one entry per encoding, sampled uniformly: build the space "
                          "without them and give every encoding its network's value.")
    directions = dict(directions or {})
    for metric in [*directions, *([main_metric] if main_metric else [])]:
        if metric not in metrics:
            raise ConfigError(f"Table {name!r}: {metric!r} is not one of its metrics "
                              f"({', '.join(metrics)}).")
    for metric, direction in directions.items():
        if direction not in ("max", "min"):
            raise ConfigError(f"Table {name!r}: direction {direction!r} of {metric!r}; use "
                              "'max' or 'min'.")
    params = tuple(space.params)
    options = tuple(tuple(space.params[p].values()) for p in params)
    radices = [len(o) for o in options]
    weights = [int(np.prod(radices[i + 1:])) for i in range(len(radices))]
    lookup = [{option_key(o): i for i, o in enumerate(opts)} for opts in options]
    order = np.array([sum(lookup[j][option_key(arch.mapping[p])] * weights[j]
                          for j, p in enumerate(params)) for arch in space.enumerate()],
                     dtype=np.int64)
    n = int(np.prod(radices))
    means, seeds = {}, {}
    for metric, raw in metrics.items():
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != (len(order),):
            raise ConfigError(f"Table {name!r}: metric {metric!r} has shape {values.shape}; "
                              f"the space has {len(order)} architectures, give shape "
                              f"({len(order)},) in the order of space.enumerate().")
        if not np.isfinite(values).all():
            where = np.flatnonzero(~np.isfinite(values))[:5].tolist()
            raise ConfigError(f"Table {name!r}: metric {metric!r} has NaN / inf values at "
                              f"positions {where}; give a finite value for every architecture.")
        full = np.full(n, np.nan)
        full[order] = values
        full.setflags(write=False)
        means[metric] = full
        column = full[:, None].copy()
        column.setflags(write=False)
        seeds[metric] = column
    counts = np.zeros(n, dtype=np.int64)
    counts[order] = 1
    counts.setflags(write=False)
    return Table(name, name, space, params, options, MappingProxyType(means),
                 MappingProxyType(seeds), counts,
                 MappingProxyType({m: directions.get(m, "max") for m in metrics}),
                 main_metric or next(iter(metrics)))
