"""Benchmark: keeping one proxy pre-filter pool as a search's history grows.

    PYTHONPATH=. python bench/prefilter_pools.py [--history 0 100 300] [--pool 16]
                                                 [--adds 20]

Two ways of keeping a pool of `--pool` candidates (arch, scores and zc_seconds of each, as
`Pool.to_json` writes them) in a SQLite file store already holding `h` pools, for each `h`
of `--history`: ``diagnostics``, the previous code (read the search's diagnostics, append,
`Store.set_diagnostics` the whole list) and ``table``, `Store.add_pool` (one INSERT, table
``prefilter_pools``). Each side fills its own store to `h` pools untimed, then `--adds` adds
are timed one by one, the sides alternating add by add; medians.

Prints one JSON object: per history size, the median seconds per add and the bytes each add
writes for both sides (``ratio``: diagnostics / table), and `uptime` load at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from nasforge.frozen import thaw
from nasforge.objectives import parse_objectives
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore, open_store
from nasforge.strategies.prefilter import Pool


def make_pool(i: int, size: int) -> Pool:
    archs = [Architecture({"family": "mlp", "depth": 2, "width": 16 * (m + 1), "act": "relu",
                           "norm": "batch", "dropout": 0.1, "pool": i})
             for m in range(size)]
    scores = {a.arch_id: {"synflow": 1e3 * (m + 1), "naswot": 512.0 + m, "zc_seconds": 0.004}
              for m, a in enumerate(archs)}
    return Pool(archs[0].arch_id, tuple(archs[1:]), scores)


def keep_in_diagnostics(store: SQLStore, name: str, pool: Pool) -> int:
    """The previous PoolArchive.keep; returns the bytes of the diagnostics it wrote."""
    diagnostics = thaw(store.get_search(name).diagnostics)
    diagnostics.setdefault("prefilter", {}).setdefault("pools", []).append(pool.to_json())
    store.set_diagnostics(name, diagnostics)
    return len(json.dumps(diagnostics))


def keep_in_table(store: SQLStore, name: str, pool: Pool) -> int:
    value = pool.to_json()
    store.add_pool(name, value)
    return len(json.dumps(value))


SIDES = {"diagnostics": keep_in_diagnostics, "table": keep_in_table}


def measure(folder: Path, history: int, size: int, adds: int) -> dict[str, object]:
    stores = {}
    for side, keep in SIDES.items():
        store = open_store(f"sqlite:///{folder / f'{side}-{history}.db'}")
        store.create_search("s", parse_objectives(["accuracy:max"]), 10**6, {})
        for i in range(history):
            keep(store, "s", make_pool(i, size))
        stores[side] = store
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    written: dict[str, list[int]] = {side: [] for side in SIDES}
    for j in range(adds):
        order = list(SIDES) if j % 2 == 0 else list(reversed(SIDES))
        for side in order:
            pool = make_pool(history + j, size)
            start = time.perf_counter()
            written[side].append(SIDES[side](stores[side], "s", pool))
            seconds[side].append(time.perf_counter() - start)
    for store in stores.values():
        store.close()
    out: dict[str, object] = {side: {"median_s": statistics.median(seconds[side]),
                                     "bytes_per_add": int(statistics.median(written[side]))}
                              for side in SIDES}
    out["ratio"] = (statistics.median(seconds["diagnostics"])
                    / statistics.median(seconds["table"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[0, 100, 300])
    parser.add_argument("--pool", type=int, default=16)
    parser.add_argument("--adds", type=int, default=20)
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = {str(h): measure(Path(tmp), h, args.pool, args.adds) for h in args.history}
    print(json.dumps({"pool": args.pool, "adds": args.adds, "by_history": results,
                      "load_start": load_start, "load_end": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
