"""Load test of a shared search: N worker processes x M tabular trials on one store.

Issue "Scale out and hold up", target: 4 workers x 1,000 tabular trials on SQLite and on
PostgreSQL with 0 lost, 0 duplicated and 0 "database is locked" failures.

Per storage URL, `--workers` processes are started with multiprocessing "spawn". Each opens
its own store (`open_store(url)`), loads the NAS-Bench-201 table (no training: a trial is a
table look-up, plus `--eval-ms` of sleep to emulate evaluation time) and runs
`nasforge.search.Search` with its default worker id (``host:pid``): worker 0 starts the
search with budget workers x trials-per-worker, the others join it (`join=True`) once the
parent has seen the search row. Every process is ready (imports done, table loaded, store
open) before worker 0 is released, so the wall time measures the search only.

Each worker reports the trials it finished (its successful `store.finish` calls), the
trials it evaluated (a dropped late result counts here, not there), its wall time, the time
its search loop spent in store calls (heartbeat thread excluded), every warning logged
(classified: "database is locked", OperationalError, StoreError, LeaseLostError = a late
result dropped, failed heartbeat) and any exception it raised.

Then the store is checked: `trials` == budget, every number 0..budget-1 present once and
finished (`lost` counts those that are not), no trial finished twice (`duplicated`: trial
numbers present twice, or more successful finishes than finished trials), none over the
budget (`over_budget`). `duplicate_archs` counts trials whose architecture (arch_id) another
trial already had: workers deduplicate against what they have read of the others, so two
of them may propose the same architecture at the same moment; that is not a lost or a
duplicated trial, it is reported as is.

Prints one JSON object per storage (one line each with --compact); the exit code is 1 if
any storage had a lost, duplicated, over-budget or unfinished trial, a "database is locked"
error, a worker that raised or died, or a run past --timeout.

    python bench/load.py                        # SQLite file in a temp dir, 4 x 1000
    python bench/load.py --storage sqlite:///PATH.db \\
        --storage postgresql+psycopg://postgres@127.0.0.1:54329/postgres
    python bench/load.py --workers 2 --trials-per-worker 20 --strategy evolution --eval-ms 5

A PostgreSQL database may hold earlier runs: every run uses a new search name
(``load-<strategy>-<random hex>``), so they never clash.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import queue
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

BENCHMARK, DATASET = "nb201", "cifar10"
#: Seconds a worker may take to import, load the table and open its store.
SETUP_TIMEOUT = 300.0
FINISHED = ("COMPLETE", "FAILED", "PRUNED")


# ----------------------------------------------------------------------------- worker side
class TimedStore:
    """Passes every call through to `store`, timing the calls of the search loop (those of
    the heartbeat thread apart) and counting the successful `finish` calls."""

    def __init__(self, store: object) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.calls: dict[str, list[float]] = {}  # method -> [calls, seconds]
        self.finished: list[int] = []

    def __getattr__(self, name: str) -> object:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                out = value(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                key = name if threading.current_thread() is threading.main_thread() else (
                    f"{name} (thread)")
                with self._lock:
                    entry = self.calls.setdefault(key, [0, 0.0])
                    entry[0] += 1
                    entry[1] += seconds
            if name == "finish":
                self.finished.append(out.number)
            return out

        return timed


class SlowTable:
    """The tabular evaluator plus `eval_ms` of sleep per architecture."""

    def __init__(self, bench: object, eval_ms: float) -> None:
        self.bench, self.eval_ms = bench, eval_ms
        self.evaluated = 0

    def evaluate(self, archs: Sequence[object]) -> list[object]:
        if self.eval_ms > 0:
            time.sleep(self.eval_ms * len(archs) / 1000)
        self.evaluated += len(archs)
        return self.bench.evaluate(archs)


class Warnings(logging.Handler):
    """Collects what nasforge logs at INFO and above (nothing is printed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def classify(texts: Sequence[str], lease_lost: int = 0) -> dict[str, int]:
    counts = Counter(lease_lost=lease_lost)
    for text in texts:
        low = text.lower()
        counts["database_locked"] += ("database is locked" in low
                                      or "database table is locked" in low)
        counts["operational_error"] += "operationalerror" in low
        counts["store_error"] += "storeerror" in low or "store error" in low
        counts["heartbeat_failed"] += low.startswith("heartbeat of")
    return dict(counts)


def worker_main(index: int, url: str, name: str, budget: int, strategy: str, seed: int,
                heartbeat_timeout: float, eval_ms: float, messages: object, go: object) -> None:
    """One worker process: set up, say "ready", wait for `go`, run the search, report."""
    handler = Warnings()
    logging.getLogger().addHandler(handler)
    logging.getLogger("nasforge").setLevel(logging.INFO)
    result: dict[str, object] = {"index": index, "pid": os.getpid()}
    store = None
    try:
        from nasforge.benchmark import TabularBenchmark, tabular_config
        from nasforge.errors import LeaseLostError
        from nasforge.leases import worker_id
        from nasforge.search import Search
        from nasforge.store import open_store

        bench = TabularBenchmark.load(BENCHMARK, DATASET)
        config = tabular_config(bench, strategy, (bench.default_objective,), budget, seed,
                                name=name)
        store = TimedStore(open_store(url))
        evaluator = SlowTable(bench, eval_ms)
        result["worker"] = worker_id()
        messages.put(("ready", index, None))
        go.wait()
        start = time.perf_counter()
        try:
            Search(config, store, evaluator, join=index > 0,
                   heartbeat_timeout=heartbeat_timeout).run()
        except BaseException as err:  # reported to the parent
            result["exception"] = "".join(traceback.format_exception(err))
        result["seconds"] = time.perf_counter() - start
        result["finished"] = len(store.finished)
        result["finished_numbers"] = store.finished
        result["evaluated"] = evaluator.evaluated
        result["store_calls"] = {k: {"calls": c, "ms": round(s * 1000, 3)}
                                 for k, (c, s) in sorted(store.calls.items())}
        result["store_seconds"] = sum(s for k, (_, s) in store.calls.items()
                                      if not k.endswith("(thread)"))
        texts, lease_lost = [], 0
        for record in handler.records:
            if record.levelno < logging.WARNING:
                continue
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += " " + "".join(traceback.format_exception(*record.exc_info))
            args = record.args if isinstance(record.args, tuple) else ()
            if any(isinstance(a, LeaseLostError) for a in args):
                lease_lost += 1
                text = "LeaseLostError: " + text
            texts.append(text)
        result["warnings"] = texts
        result["requeue_logs"] = sum("re-queued" in r.getMessage() for r in handler.records)
        errors = texts + ([result["exception"]] if "exception" in result else [])
        result["errors"] = classify(errors, lease_lost)
        messages.put(("done", index, result))
    except BaseException as err:  # setup failed: the parent reports it
        result["exception"] = "".join(traceback.format_exception(err))
        messages.put(("done", index, result))
    finally:
        if store is not None:
            store.close()


# ----------------------------------------------------------------------------- parent side
def run_load(url: str, *, workers: int = 4, trials_per_worker: int = 1000,
             strategy: str = "random", seed: int = 0, heartbeat_timeout: float = 60.0,
             eval_ms: float = 0.0, timeout: float = 1800.0) -> dict[str, object]:
    """One load run against `url`; the report described in the module docstring."""
    from nasforge.errors import SearchNotFoundError
    from nasforge.store import open_store

    budget = workers * trials_per_worker
    name = f"load-{strategy}-{uuid.uuid4().hex[:10]}"
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    go_first, go_rest = ctx.Event(), ctx.Event()
    store = open_store(url)  # creates the schema before any worker opens the store
    setup_start = time.perf_counter()
    procs = [ctx.Process(target=worker_main, name=f"load-worker-{i}",
                         args=(i, url, name, budget, strategy, seed, heartbeat_timeout,
                               eval_ms, messages, go_first if i == 0 else go_rest))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    results: dict[int, dict[str, object]] = {}
    hung = False
    try:
        ready: set[int] = set()
        deadline = time.monotonic() + SETUP_TIMEOUT
        while len(ready) + len(results) < workers:
            kind, index, payload = _next(messages, procs, deadline)
            if kind is None:
                hung = True
                break
            if kind == "ready":
                ready.add(index)
            else:
                results[index] = payload
        setup_seconds = time.perf_counter() - setup_start
        start = time.perf_counter()
        go_first.set()
        deadline = time.monotonic() + timeout
        while not hung and 0 not in results:  # the others join once the search exists
            try:
                store.get_search(name)
                break
            except SearchNotFoundError:
                if time.monotonic() > deadline:
                    hung = True
                time.sleep(0.005)
        go_rest.set()
        while not hung and len(results) < workers:
            kind, index, payload = _next(messages, procs, deadline)
            if kind is None:
                hung = True
            elif kind == "done":
                results[index] = payload
        wall = time.perf_counter() - start
        for proc in procs:
            proc.join(5 if not hung else 0.1)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        report = _check(store, name, budget, results, procs)
    finally:
        store.close()
    for i, proc in enumerate(procs):
        if i not in results:
            report["worker_exceptions"].append(
                f"worker {i} reported nothing (exit code {proc.exitcode})")
    total_finished = sum(int(r.get("finished", 0)) for r in results.values())
    store_seconds = sum(float(r.get("store_seconds", 0.0)) for r in results.values())
    report.update({
        "url": _safe_url(url), "search": name, "benchmark": f"{BENCHMARK}/{DATASET}",
        "strategy": strategy, "workers": workers, "trials_per_worker": trials_per_worker,
        "eval_ms": eval_ms, "heartbeat_timeout": heartbeat_timeout, "hung": hung,
        "setup_seconds": round(setup_seconds, 3), "wall_seconds": round(wall, 3),
        "trials_per_second": round(report["finished"] / wall, 1) if wall > 0 else None,
        "store_ms_per_trial": (round(store_seconds * 1000 / total_finished, 3)
                               if total_finished else None),
        "loop_ms_per_trial": (round((sum(float(r.get("seconds", 0.0)) for r in results.values())
                                     * 1000 / total_finished) - eval_ms, 3)
                              if total_finished else None),
        "cpus": os.cpu_count(), "python": platform.python_version(),
    })
    report["ok"] = not (report["lost"] or report["duplicated"] or report["over_budget"]
                        or report["unfinished"] or report["errors"]["database_locked"]
                        or report["worker_exceptions"] or hung)
    return report


def _next(messages: object, procs: Sequence[object], deadline: float
          ) -> tuple[str | None, int, object]:
    """The next message of a worker; (None, -1, None) past `deadline`. A worker that died
    without a message is reported by the caller (its result is missing)."""
    while time.monotonic() < deadline:
        try:
            return messages.get(timeout=0.5)
        except queue.Empty:
            if all(p.exitcode is not None for p in procs):
                try:
                    return messages.get(timeout=1)
                except queue.Empty:
                    return None, -1, None
    return None, -1, None


def _check(store: object, name: str, budget: int, results: dict[int, dict[str, object]],
           procs: Sequence[object]) -> dict[str, object]:
    from nasforge.errors import SearchNotFoundError

    try:
        trials = store.trials(name)
    except SearchNotFoundError:
        trials = []
    numbers = Counter(t.number for t in trials)
    states = Counter(t.state.name for t in trials)
    finished = [t for t in trials if t.state.name in FINISHED]
    finished_numbers = {t.number for t in finished}
    finishes = Counter(n for r in results.values() for n in r.get("finished_numbers", ()))
    finished_twice = sum(c - 1 for c in finishes.values() if c > 1)
    archs = Counter(t.arch_id for t in trials)
    errors: Counter[str] = Counter()
    worker_exceptions = []
    per_worker = {}
    for i in sorted(results):
        r = results[i]
        errors.update(r.get("errors", {}))
        if "exception" in r:
            worker_exceptions.append(f"worker {i}: {r['exception']}")
        per_worker[str(i)] = {
            "worker": r.get("worker"), "finished": r.get("finished"),
            "evaluated": r.get("evaluated"),
            "seconds": round(float(r.get("seconds", 0.0)), 3),
            "store_ms_per_trial": (round(float(r["store_seconds"]) * 1000 / r["finished"], 3)
                                   if r.get("finished") else None),
            "store_calls": r.get("store_calls"), "errors": r.get("errors"),
            "requeue_logs": r.get("requeue_logs"), "warnings": r.get("warnings", [])[:10],
            "exit_code": procs[i].exitcode}
    for key in ("database_locked", "operational_error", "store_error", "lease_lost",
                "heartbeat_failed"):
        errors.setdefault(key, 0)
    return {
        "budget": budget, "trials": len(trials), "finished": len(finished),
        "states": dict(states),
        "lost": sum(1 for n in range(budget) if n not in finished_numbers),
        "duplicated": sum(c - 1 for c in numbers.values() if c > 1) + finished_twice
        + max(0, sum(finishes.values()) - len(finished)),
        "over_budget": max(0, len(trials) - budget),
        "unfinished": len(trials) - len(finished),
        "duplicate_archs": sum(c - 1 for c in archs.values() if c > 1),
        "trials_per_worker_in_store": dict(Counter(t.worker or "?" for t in finished)),
        "errors": dict(errors), "worker_exceptions": worker_exceptions,
        "per_worker": per_worker,
    }


def _safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", action="append", default=None, metavar="URL",
                        help="store URL, repeatable (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials-per-worker", type=int, default=1000)
    parser.add_argument("--strategy", default="random", help="random (default) or evolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heartbeat-timeout", type=float, default=60.0)
    parser.add_argument("--eval-ms", type=float, default=0.0,
                        help="sleep per trial, emulating evaluation time (default 0)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds before a run is declared hung (default 1800)")
    parser.add_argument("--compact", action="store_true", help="one JSON line per storage")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.trials_per_worker < 1:
        parser.error("--workers and --trials-per-worker must be >= 1")
    ok = True
    with tempfile.TemporaryDirectory(prefix="nasforge-load-") as tmp:
        urls = args.storage or [f"sqlite:///{Path(tmp) / 'load.db'}"]
        for url in urls:
            report = run_load(url, workers=args.workers,
                              trials_per_worker=args.trials_per_worker, strategy=args.strategy,
                              seed=args.seed, heartbeat_timeout=args.heartbeat_timeout,
                              eval_ms=args.eval_ms, timeout=args.timeout)
            ok = ok and bool(report["ok"])
            print(json.dumps(report, indent=None if args.compact else 2), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
