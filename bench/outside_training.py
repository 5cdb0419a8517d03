"""Where a quickstart search's wall time goes: training vs everything else (issue 19).

    PYTHONPATH=. python bench/outside_training.py [--trials 200] [--repeats 3]

Runs examples/quickstart.toml end to end as `nasforge search` runs it (`ui.run_search`: the
checked dataset, `evaluator_setup.make_executor`, the SQLite file store, checkpoints pruned to
the Pareto front, the progress bar) `repeats` times on fresh stores, timing each part
exclusively (a part called inside another counts only for itself) in the main thread:
training (`train_candidate` / `train_fused`), latency/throughput measurement
(`measure.time_forwards`), checkpoint save and prune, store calls, strategy ask/tell, the rest
of the evaluator (model build) and the loop (wall minus all of those and the setup: loading
and checking the data, importing torch, up to the first evaluation). Start-up: seconds to
`import nasforge.ui.cli`, for `nasforge --help` and from process start to the first
candidate's training (`nasforge search`, in a fresh process). `--threads` (default 1, as a
2-core machine shared with other work needs: bench/threads.py) sets this process's torch
threads; nasforge's `[training] threads` choice applies within that. Prints one JSON object; key
`outside_training_fraction` (median over repeats of 1 - training / wall). `cpu_ms_per_trial`:
the main thread's CPU time per part (`time.thread_time`; with one torch thread, about what
the part costs on an idle machine when other work shares the cores).

`outside_training_fraction(trials, repeats)` returns the same dict (for bench/scale.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.toml"
PARTS = ("training", "measurement", "checkpoint_save", "checkpoint_prune", "store", "strategy",
         "evaluator_other")


class ExclusiveTimers:
    """Seconds per part, each part's own time only (nested parts subtract), main thread."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.cpu = dict.fromkeys(PARTS, 0.0)  # the main thread's CPU seconds
        self.first_call: dict[str, float] = {}  # part -> perf_counter of its first call
        self._stack: list[list[float]] = []  # [start, nested seconds, cpu start, nested cpu]

    def wrap(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not threading.main_thread():
                return fn(*args, **kwargs)  # the heartbeat thread's store calls overlap
            self.first_call.setdefault(part, time.perf_counter())
            self._stack.append([time.perf_counter(), 0.0, time.thread_time(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, nested, cpu_start, cpu_nested = self._stack.pop()
                elapsed = time.perf_counter() - start
                cpu = time.thread_time() - cpu_start
                self.seconds[part] += elapsed - nested
                self.cpu[part] += cpu - cpu_nested
                if self._stack:
                    self._stack[-1][1] += elapsed
                    self._stack[-1][3] += cpu

        return timed


class TimedStore:
    """Every call of the wrapped store timed as part "store"."""

    def __init__(self, store: Any, timers: ExclusiveTimers) -> None:
        self._store, self._timers = store, timers

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        return self._timers.wrap("store", value) if callable(value) else value


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def _instrumented(timers: ExclusiveTimers) -> contextlib.ExitStack:
    import nasforge.evaluator.local as local
    import nasforge.evaluator.measure as measure
    import nasforge.evaluator_setup as setup
    import nasforge.search as search
    import nasforge.store as store
    import nasforge.trial_loop as trial_loop

    def make_executor(*args: Any, **kwargs: Any) -> Any:
        executor = setup_make_executor(*args, **kwargs)
        executor.evaluate = timers.wrap("evaluator_other", executor.evaluate)
        return executor

    def make_strategy(*args: Any, **kwargs: Any) -> Any:
        strategy = search_make_strategy(*args, **kwargs)
        strategy.ask = timers.wrap("strategy", strategy.ask)
        strategy.tell = timers.wrap("strategy", strategy.tell)
        return strategy

    setup_make_executor, search_make_strategy = setup.make_executor, search.make_strategy
    store_open = store.open_store
    stack = contextlib.ExitStack()
    for target, name, value in [
        (local, "train_candidate", timers.wrap("training", local.train_candidate)),
        (local, "train_fused", timers.wrap("training", local.train_fused)),
        (measure, "time_forwards", timers.wrap("measurement", measure.time_forwards)),
        (local, "save_checkpoint", timers.wrap("checkpoint_save", local.save_checkpoint)),
        (trial_loop, "prune", timers.wrap("checkpoint_prune", trial_loop.prune)),
        (store, "open_store", lambda *a, **k: TimedStore(store_open(*a, **k), timers)),
        (setup, "make_executor", make_executor),
        (search, "make_strategy", make_strategy),
    ]:
        stack.enter_context(patched(target, name, value))
    return stack


def run_quickstart(trials: int, folder: Path) -> dict[str, Any]:
    """One quickstart search of `trials` trials in `folder`: seconds per part and wall."""
    from nasforge.config import load
    from nasforge.ui.run_search import RunOptions, run_search

    config = load(QUICKSTART).with_overrides(budget=trials)
    timers = ExclusiveTimers()
    url = f"sqlite:///{folder / 'nasforge.db'}"
    with _instrumented(timers), contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        run_search(config, url, folder / "cache", RunOptions())
        wall = time.perf_counter() - start
    setup = timers.first_call["evaluator_other"] - start
    return {"wall": wall, "setup": setup, **timers.seconds,
            **{f"cpu_{part}": seconds for part, seconds in timers.cpu.items()}}


def _seconds(command: list[str], repeats: int) -> float:
    """Median seconds of `command`, run outside the checkout (PYTHONPATH picks nasforge)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _first_trial_seconds(repeats: int) -> float:
    """From spawning `nasforge search` (1 trial) to its first candidate's training."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.time()
            out = subprocess.run([sys.executable, __file__, "--first-trial-child", tmp],
                                 check=True, capture_output=True, text=True, cwd=ROOT)
            times.append(float(out.stdout.strip().splitlines()[-1]) - start)
    return statistics.median(times)


def _first_trial_child(folder: str) -> None:
    import nasforge.evaluator.local as local

    train = local.train_candidate

    def first(*args: Any, **kwargs: Any) -> Any:
        print(f"{time.time():.6f}", file=sys.__stdout__, flush=True)
        os._exit(0)
        return train(*args, **kwargs)

    local.train_candidate = first
    from nasforge.ui.cli import app

    os.environ["NASFORGE_CACHE_DIR"] = str(Path(folder) / "cache")
    app(["search", str(QUICKSTART), "--budget", "1", "--name", "first",
         "--storage", f"sqlite:///{folder}/n.db"], standalone_mode=False)


def startup(repeats: int = 3) -> dict[str, float]:
    python = [sys.executable, "-c"]
    return {
        "python_seconds": _seconds([*python, "pass"], repeats),
        "import_cli_seconds": _seconds([*python, "import nasforge.ui.cli"], repeats),
        "help_seconds": _seconds([sys.executable, "-m", "nasforge", "--help"], repeats),
        "first_trial_seconds": _first_trial_seconds(repeats),
    }


def outside_training_fraction(trials: int = 200, repeats: int = 3) -> dict[str, Any]:
    """The quickstart (`trials` trials) `repeats` times: medians of wall, ms per trial of
    each part, the fraction of wall outside training, and start-up seconds."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_quickstart(trials, Path(tmp)))
    for run in runs:  # setup: from the command's start in-process to the first evaluate
        run["loop"] = run["wall"] - run["setup"] - sum(run[p] for p in PARTS)
        run["outside"] = run["wall"] - run["training"]
        run["outside_after_setup"] = run["outside"] - run["setup"]
    per_trial = {part: round(1e3 * statistics.median(r[part] for r in runs) / trials, 3)
                 for part in (*PARTS, "loop", "outside", "outside_after_setup")}
    fractions = [r["outside"] / r["wall"] for r in runs]
    after_setup = [r["outside_after_setup"] / (r["wall"] - r["setup"]) for r in runs]
    return {
        "outside_training_fraction": round(statistics.median(fractions), 4),
        "fractions": [round(f, 4) for f in fractions],
        "outside_training_fraction_after_setup": round(statistics.median(after_setup), 4),
        "setup_seconds": round(statistics.median(r["setup"] for r in runs), 3),
        "trials": trials,
        "repeats": repeats,
        "wall_seconds": round(statistics.median(r["wall"] for r in runs), 3),
        "ms_per_trial": per_trial,
        "cpu_ms_per_trial": {part: round(1e3 * statistics.median(r[f"cpu_{part}"] for r in runs)
                                         / trials, 3) for part in PARTS},
        "measurement_plus_checkpoint_save_ms": round(
            per_trial["measurement"] + per_trial["checkpoint_save"], 3),
        "measurement_store_checkpoint_ms": round(
            per_trial["measurement"] + per_trial["checkpoint_save"]
            + per_trial["checkpoint_prune"] + per_trial["store"], 3),
        "startup": {k: round(v, 3) for k, v in startup(repeats).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads of this process (0: torch's default)")
    parser.add_argument("--first-trial-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.first_trial_child:
        _first_trial_child(args.first_trial_child)
        return 0
    load = os.getloadavg()
    result = outside_training_fraction(args.trials, args.repeats)
    import torch

    result.update(torch=torch.__version__, threads=torch.get_num_threads(),
                  cpu_count=os.cpu_count(), load_start=load, load_end=os.getloadavg())
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
