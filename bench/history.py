"""Cost of one `add_trials(..., unique=True)` (the duplicate-architecture check every
strategy round pays) against the size of the search's history (a benchmark script, not a
test). Prints JSON: the median milliseconds per call after `sizes` trials, their ratio to the
smallest size, and SQLite's query plan for the check.

    python bench/history.py [--sizes 1000,20000] [--calls 60] [--folder /tmp/nasforge-history]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from nasforge.objectives import parse_objectives
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store


def per_call_ms(size: int, path: Path, calls: int) -> float:
    store = open_store(f"sqlite:///{path}")
    store.create_search("s", parse_objectives(["accuracy:max"]), 10**9, {})
    history = [Architecture({"x": i}) for i in range(size)]
    for start in range(0, size, 1000):
        store.add_trials("s", history[start:start + 1000])
    times = []
    for k in range(calls):
        began = time.perf_counter()
        store.add_trials("s", [Architecture({"x": size + k})], unique=True)
        times.append(time.perf_counter() - began)
    store.close()
    return statistics.median(times) * 1e3


def plan(path: Path) -> str:
    with sqlite3.connect(path) as con:
        rows = con.execute("EXPLAIN QUERY PLAN SELECT arch_id FROM trials WHERE search_id = 1 "
                           "AND arch_id IN ('a', 'b') AND created_at != '2026'").fetchall()
    return "; ".join(str(row[-1]) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    folder = args.folder or Path(tempfile.mkdtemp(prefix="nasforge-history-"))
    folder.mkdir(parents=True, exist_ok=True)
    ms = {size: per_call_ms(size, folder / f"h{size}.db", args.calls) for size in sizes}
    print(json.dumps({"ms_per_call": {str(k): round(v, 3) for k, v in ms.items()},
                      "ratio_to_smallest": {str(k): round(v / ms[sizes[0]], 2)
                                            for k, v in ms.items()},
                      "plan": plan(folder / f"h{sizes[-1]}.db")}, indent=2))


if __name__ == "__main__":
    main()
