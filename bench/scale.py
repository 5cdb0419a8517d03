"""Per-trial platform cost against the size of a search's history, and the commands at scale
(a benchmark script, not a test).

    PYTHONPATH=. python bench/scale.py [--trials 100000] [--windows 10000]
        [--postgres URL | --skip-postgres] [--strategies random,evolution]
        [--skip-quickstart] [--no-checkpoints] [--folder DIR]

Runs `--trials` trials of a trivial evaluator (made-up metrics at once, like
bench/overhead.py: what remains is the platform's own cost) through `nasforge.search.Search`
on a SQLite file store and, with `--postgres URL`, on PostgreSQL, for each strategy. The
evaluator writes a tiny checkpoint file per trial so that checkpoint pruning (the default
``checkpoints = "pareto"``) runs after every round as it does in a real search.

Prints one JSON object:

- ``ms_per_trial_windows``: per store and strategy, milliseconds per trial in each window of
  `--windows` trials (wall time between the trial closing the previous window and the one
  closing this one), the first 1,000 trials, and where the time went per window (store
  methods, strategy ask/tell, checkpoint pruning; the rest is the loop itself).
- ``per_trial_ratio_100k_vs_1k``: the worst over store x strategy of (cost in the last
  window / cost in the first 1,000 trials); target <= 1.3.
- ``list_seconds_100k``, ``show_seconds_100k``, ``show_json_seconds_100k``: the real
  commands (``python -m nasforge list|show|show --json``) on the SQLite store of the first
  strategy, median wall time of a subprocess *including interpreter start-up and imports*
  (target < 1 s); ``commands_cpu_seconds`` their CPU (and ``import``'s: ``import
  nasforge.ui.cli``, whose wall is ``import_seconds``); ``commands_in_process_seconds`` the
  commands in this process; ``--compiled``: the children cache bytecode as installs do.
- ``dashboard_seconds_100k`` from ``bench/dashboard.py: data_load_seconds(url, name)``,
  ``batch32_speedup`` from ``bench/batch_speedup.py`` and ``outside_training_fraction`` from
  ``bench/outside_training.py``: null with a note when that function is missing
  (`--skip-quickstart` skips the last two).
- ``load_average``: ``os.getloadavg()`` at start and end (the machine may be shared).

The ``*_100k`` keys hold the values at `--trials` trials (``trials`` says how many).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasforge import checkpoint_policy, trial_loop  # noqa: E402
from nasforge.checkpoint_policy import Checkpoints  # noqa: E402
from nasforge.config import from_dict  # noqa: E402
from nasforge.records import EvalResult, SearchRecord, TrialRecord, TrialState  # noqa: E402
from nasforge.search import Search  # noqa: E402
from nasforge.searchspace.architecture import Architecture  # noqa: E402
from nasforge.store import open_store  # noqa: E402
from nasforge.strategies import make_strategy  # noqa: E402

SPACE = {"families": ["mlp"], "activation": ["relu", "gelu", "silu", "tanh"],
         "norm": ["none", "batch", "layer"], "dropout": [0.0, 0.1, 0.2],
         "lr": {"low": 1e-4, "high": 1e-1, "log": True},
         "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
         "batch_size": [32, 64, 128], "epochs": [5, 10, 20],
         "optimizer": ["adam", "adamw", "sgd"],
         "mlp": {"depth": {"low": 1, "high": 4}, "width": [16, 32, 64, 128, 256]}}
FIRST = 1000


class TrivialEvaluator:
    """Made-up metrics at once; with a folder, a 1-byte checkpoint file per trial."""

    def __init__(self, seed: int, folder: Path | None) -> None:
        self.rng = np.random.default_rng(seed)
        self.folder = folder

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        out = []
        for arch in archs:
            path = None
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / f"{arch.arch_id}.pt"
                path.write_bytes(b"x")
            out.append(EvalResult(TrialState.COMPLETE, {
                "accuracy": float(self.rng.random()),
                "params": float(self.rng.integers(1, 10**6))},
                checkpoint=None if path is None else str(path)))
        return out


class Timed:
    """Forwards every method of `inner`, adding its wall time to `totals[prefix + name]`."""

    def __init__(self, inner: Any, prefix: str, totals: dict[str, float],
                 lock: threading.Lock) -> None:
        self._inner, self._prefix, self._totals, self._lock = inner, prefix, totals, lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                with self._lock:
                    self._totals[self._prefix + name] += time.perf_counter() - began
        return timed


class Clock:
    """Observer: the time each trial finished, and the time split at each window's end."""

    def __init__(self, window: int, totals: dict[str, float]) -> None:
        self.window, self.totals = window, totals
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.splits: list[dict[str, float]] = []

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None:
        self.splits.append(dict(self.totals))

    def on_trial(self, record: TrialRecord) -> None:
        self.times.append(time.perf_counter())
        self.cpu.append(time.process_time())
        done = len(self.times)
        if done == FIRST or done % self.window == 0:
            self.splits.append(dict(self.totals))


def time_pruning(totals: dict[str, float], lock: threading.Lock) -> Callable[[], None]:
    """Time checkpoint pruning under "prune" (whichever form this nasforge has: a module
    function the trial loop calls, or a pruner object's methods); returns the undo."""
    targets: list[tuple[Any, str]] = [(trial_loop, "prune")] if hasattr(trial_loop, "prune") \
        else [(checkpoint_policy.FrontPruner, m) for m in ("prune", "unkept", "discard")]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in targets]
    for owner, attr, real in saved:
        def timed(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return _real(*args, **kwargs)
            finally:
                with lock:
                    totals["prune"] += time.perf_counter() - began
        setattr(owner, attr, timed)

    def restore() -> None:
        for owner, attr, real in saved:
            setattr(owner, attr, real)
    return restore


def run_search(url: str, strategy: str, trials: int, window: int,
               checkpoint_root: Path | None) -> dict[str, Any]:
    name = f"scale-{strategy}"
    config = from_dict({"search": {"name": name, "objectives": ["accuracy:max", "params:min"],
                                   "seed": 0, "strategy": strategy, "budget": trials},
                        "data": {"dataset": "digits"}, "space": SPACE})
    totals: dict[str, float] = defaultdict(float)
    lock = threading.Lock()
    store = open_store(url)
    checkpoints = None if checkpoint_root is None else Checkpoints(checkpoint_root, name)
    inner = make_strategy(strategy, config.space, config.objectives, config.seed)
    clock = Clock(window, totals)
    restore = time_pruning(totals, lock)
    began = time.perf_counter()
    try:
        Search(config, Timed(store, "store.", totals, lock),
               TrivialEvaluator(0, None if checkpoints is None else checkpoints.folder),
               strategy=Timed(inner, "strategy.", totals, lock), observer=clock,
               checkpoints=checkpoints).run()
    finally:
        restore()
        store.close()
    total = time.perf_counter() - began
    times = clock.times
    windows = per_window(times, window, "mean")
    cpu_windows = per_window(clock.cpu, window, "mean")
    median_windows = per_window(times, window, "median")
    first = {key: per_window(series[:FIRST + 1], FIRST, how)[0] if len(series) > FIRST
             else None for key, series, how in (("mean", times, "mean"),
                                                ("cpu", clock.cpu, "mean"),
                                                ("median", times, "median"))}
    # splits: at start, at FIRST, then at each window end (FIRST may coincide with one)
    ends = sorted({FIRST} | set(range(window, len(times) + 1, window)))
    ends = [e for e in ends if e <= len(times)]
    marks = dict(zip(ends, clock.splits[1:], strict=False))
    breakdown = []
    previous, prev_end = clock.splits[0], 0
    for end in range(window, len(times) + 1, window):
        now = marks.get(end, previous)
        breakdown.append({k: round((now.get(k, 0.0) - previous.get(k, 0.0))
                                   / (end - prev_end) * 1e3, 4)
                          for k in sorted(now) if now.get(k, 0.0) - previous.get(k, 0.0) > 0})
        previous, prev_end = now, end
    return {"trials": len(times), "seconds": round(total, 1),
            "first_1k_ms": first["mean"], "windows_ms": windows,
            "first_1k_cpu_ms": first["cpu"], "windows_cpu_ms": cpu_windows,
            "first_1k_median_ms": first["median"], "windows_median_ms": median_windows,
            "breakdown_ms_per_trial": breakdown,
            "ratio_last_vs_first_1k": ratio(windows, first["mean"]),
            "ratio_cpu_last_vs_first_1k": ratio(cpu_windows, first["cpu"]),
            "ratio_median_last_vs_first_1k": ratio(median_windows, first["median"])}


def per_window(series: Sequence[float], window: int, how: str) -> list[float]:
    """Milliseconds per trial in each window of `series` (a clock read as each trial
    finished): the mean (time across the window / its trials) or the median gap."""
    gaps = np.diff(np.asarray(series, dtype=np.float64)) * 1e3
    return [round(float(np.median(chunk) if how == "median" else np.mean(chunk)), 4)
            for chunk in (gaps[start:start + window] for start in range(0, len(gaps), window))
            if len(chunk)]


def ratio(windows: Sequence[float], first: float | None) -> float | None:
    return None if first is None or not windows else round(windows[-1] / first, 3)


def command_times(url: str, name: str, repeats: int, *, compiled: bool = False
                  ) -> dict[str, Any]:
    """Median seconds of list / show / show --json as subprocesses (wall; CPU of the child,
    less sensitive to other load) and in this process. `compiled`: the children cache
    bytecode (a temporary PYTHONPYCACHEPREFIX, warmed once) as an installed package has it."""
    from typer.testing import CliRunner

    from nasforge.ui.cli import app

    commands = {"list": ["list", "--storage", url], "show": ["show", name, "--storage", url],
                "show_json": ["show", name, "--json", "--storage", url]}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}  # plugins as users have
    if compiled:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="nasforge-pyc-")
    runner = CliRunner()
    sub: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    inproc: dict[str, list[float]] = defaultdict(list)
    runs = {**{k: ["-m", "nasforge", *a] for k, a in commands.items()}, "import": [
        "-c", "import nasforge.ui.cli"]}
    for argv in runs.values() if compiled else ():  # fills the bytecode cache
        subprocess.run([sys.executable, *argv], env=env, capture_output=True, cwd=ROOT)
    for _ in range(repeats):  # interleaved
        for key, argv in runs.items():
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            done = subprocess.run([sys.executable, *argv], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            sub[key].append(time.perf_counter() - began)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[key].append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
            if done.returncode != 0:
                raise RuntimeError(f"{argv}: {done.stderr.decode()[-2000:]}")
            if key not in commands:
                continue
            began = time.perf_counter()
            result = runner.invoke(app, commands[key])
            inproc[key].append(time.perf_counter() - began)
            if result.exit_code != 0:
                raise RuntimeError(f"{argv} in process: {result.output[-2000:]}")
    median = {k: round(statistics.median(v), 3) for k, v in sub.items()}
    return {"subprocess": {k: v for k, v in median.items() if k != "import"},
            "subprocess_cpu": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
            "in_process": {k: round(statistics.median(v), 3) for k, v in inproc.items()},
            "import_seconds": median["import"]}


def lazy(module: str, function: str) -> tuple[Callable[..., Any] | None, str | None]:
    """`function` of bench/`module`.py, or None and why not (another helper writes it)."""
    path = ROOT / "bench" / f"{module}.py"
    if not path.exists():
        return None, f"bench/{module}.py does not exist"
    spec = importlib.util.spec_from_file_location(f"bench_{module}", path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(loaded)
    except Exception as err:  # noqa: BLE001 - reported, not raised: another helper's file
        return None, f"importing bench/{module}.py failed: {err!r}"
    found = getattr(loaded, function, None)
    if found is None:
        return None, f"bench/{module}.py has no {function}()"
    return found, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=10_000, help="trials per window")
    parser.add_argument("--postgres", default=os.environ.get("NASFORGE_BENCH_POSTGRES_URL"))
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--strategies", default="random,evolution")
    parser.add_argument("--skip-quickstart", action="store_true")
    parser.add_argument("--skip-commands", action="store_true")
    parser.add_argument("--no-checkpoints", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="of each command")
    parser.add_argument("--quickstart-trials", type=int, default=200)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--commands-store", default=None, metavar="URL",
                        help="time the commands (and the dashboard load) on this existing "
                             "store instead of the SQLite store searched here")
    parser.add_argument("--commands-search", default=None, metavar="NAME")
    parser.add_argument("--compiled", action="store_true",
                        help="let the timed commands cache bytecode, as an installed package "
                             "does (default: as the environment says)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="nasforge-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    stores = {"sqlite": lambda s: f"sqlite:///{folder / f'scale-{s}.db'}"}
    if args.postgres and not args.skip_postgres:
        stores["postgresql"] = lambda s: _fresh_schema(args.postgres, f"scale_{s}")
    else:
        notes.append("PostgreSQL skipped (no --postgres URL, or --skip-postgres)")
    strategies = [s for s in args.strategies.split(",") if s]
    runs: dict[str, dict[str, Any]] = {}
    for store_kind, url_of in stores.items():
        for strategy in strategies:
            root = None if args.no_checkpoints else folder / f"ckpt-{store_kind}-{strategy}"
            runs[f"{store_kind}/{strategy}"] = run_search(
                url_of(strategy), strategy, args.trials, args.windows, root)
            print(f"# {store_kind}/{strategy}: {json.dumps(runs[f'{store_kind}/{strategy}'])}",
                  file=sys.stderr, flush=True)
    ratios = [r["ratio_last_vs_first_1k"] for r in runs.values()
              if r["ratio_last_vs_first_1k"] is not None]
    cpu_ratios = [r["ratio_cpu_last_vs_first_1k"] for r in runs.values()
                  if r["ratio_cpu_last_vs_first_1k"] is not None]
    out: dict[str, Any] = {
        "benchmark": "scale", "trials": args.trials, "window": args.windows,
        "checkpoints": not args.no_checkpoints,
        "per_trial_ratio_100k_vs_1k": max(ratios) if ratios else None,
        "per_trial_ratio_is": "wall time per trial, last window / first 1,000 trials",
        "per_trial_cpu_ratio_100k_vs_1k": max(cpu_ratios) if cpu_ratios else None,
        "ms_per_trial_windows": runs}
    sqlite_url = args.commands_store or stores["sqlite"](strategies[0])
    search_name = args.commands_search or f"scale-{strategies[0]}"
    if args.commands_store:
        notes.append(f"commands timed on {args.commands_store} (search {search_name})")
    if not args.skip_commands:
        times = command_times(sqlite_url, search_name, args.repeats, compiled=args.compiled)
        out |= {"list_seconds_100k": times["subprocess"]["list"],
                "show_seconds_100k": times["subprocess"]["show"],
                "show_json_seconds_100k": times["subprocess"]["show_json"],
                "commands_seconds_are": "subprocess wall time, interpreter start-up and "
                                        "imports included (median)",
                "commands_cpu_seconds": times["subprocess_cpu"],
                "commands_compiled": args.compiled,
                "commands_in_process_seconds": times["in_process"],
                "import_seconds": times["import_seconds"]}
    load_seconds, why = lazy("dashboard", "data_load_seconds")
    out["dashboard_seconds_100k"] = None if load_seconds is None else load_seconds(
        sqlite_url, search_name)
    if why:
        notes.append(why)
    for key, module, function in (("batch32_speedup", "batch_speedup", "batch32_speedup"),
                                  ("outside_training_fraction", "outside_training",
                                   "outside_training_fraction")):
        out[key] = None
        if args.skip_quickstart:
            notes.append(f"{key} skipped (--skip-quickstart)")
            continue
        found, why = lazy(module, function)
        if found is None:
            notes.append(str(why))
        else:
            out[key] = found(trials=args.quickstart_trials, repeats=3)
    out |= {"load_average": {"start": load_start, "end": os.getloadavg()},
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "machine": platform.machine(), "notes": notes}
    print(json.dumps(out, indent=2))


def _fresh_schema(url: str, schema: str) -> str:
    """`url` pointed at a new empty PostgreSQL schema named `schema` (dropped first)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    scoped = sqlalchemy.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
