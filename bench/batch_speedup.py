"""Benchmark: the quickstart search end to end at `[search] batch = 32` vs `batch = 1`.

    PYTHONPATH=. python bench/batch_speedup.py [--trials 200] [--repeats 3]
        [--workers auto|N] [--mode cli|inprocess] [--fused auto|always] [--threads N]

`--mode cli` (the default): each run is `nasforge search` in a fresh process, as a
user runs it: examples/quickstart.toml with `[search] batch` set, `--budget` the trials, a
fresh SQLite store in a temporary folder, `--workers` as given (default "auto": one process
at batch 1, one worker per core at batch 32 on a CPU). Both sides pay their own imports,
data load and (batch 32) fork server and workers. The wall time ends when the command has
finished (it then exits at once, `ui.process_exit`): the fork server's own exit, which a
user's shell does not wait for, counts in the CPU time only.
`--mode inprocess`: each run is the search as the CLI builds it, in this process (the
checked dataset, `evaluator_setup.make_executor`, the fork server launched before the data
loads and ended after each run, `nasforge.search.Search`). This process has imported torch
before the first run (the calibration trains), so batch 1 pays no imports there while
batch 32's fork server does: the cli mode is the fair comparison.
`--fused always` (inprocess only) fuses every stackable group.
Runs alternate batch 1 and batch 32 (the side that goes first alternates each repeat);
medians. The fused cost model is calibrated (or read from its cache) before the first timed
run, at the process's threads and at one thread (what "auto" gives the quickstart's
candidates): its time is `calibration_seconds`.
`--threads` (inprocess only): `torch.set_num_threads` for the whole run (default: leave
torch's setting, as the product does).

Prints one JSON object: `batch32_speedup` = median wall(batch 1) / median wall(batch 32),
the medians and every wall time, `batch32_cpu_speedup` the same of the CPU time of the
process and its worker processes (steadier than wall time when other work shares the
cores), `workers` per batch, and, when batch 32 runs inline in this process, its rounds' stacks
(`stack_sizes`: one list per round of the fused stack sizes, `fused_candidates` over
`candidates`), machine facts and `uptime` load at start and end.
`batch32_speedup(trials, repeats)` returns the same dict (for bench/scale.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

QUICKSTART = ROOT / "examples" / "quickstart.toml"


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_search(trials: int, batch: int, folder: Path, stacks: list[list[int]] | None = None,
               fused: str = "auto", workers: int | str = "auto") -> tuple[float, float, int]:
    """(Wall, CPU seconds, workers) of one quickstart search of `trials` at `batch` with its
    store in `folder` (CPU: this process's and its workers', all threads: what the search
    cost, whatever else ran); appends each round's fused stack sizes to `stacks` (inline).
    `fused` "always": the evaluator fuses every stackable group (`LocalEvaluator(fused=True)`),
    to see full coverage."""
    from nasforge.checkpoint_policy import search_checkpoints
    from nasforge.config import from_dict, load
    from nasforge.evaluator import local
    from nasforge.evaluator.data.fingerprint import data_fingerprint
    from nasforge.evaluator_setup import load_checked, make_executor
    from nasforge.frozen import thaw
    from nasforge.search import Search
    from nasforge.store import open_store
    from nasforge.ui.run_search import RunOptions

    raw = thaw(load(QUICKSTART).raw)
    raw["search"].update(budget=trials, batch=batch, name=f"quickstart-b{batch}")
    config = from_dict(raw, source="bench")
    storage = f"sqlite:///{folder / 'nasforge.db'}"
    real = local.train_fused

    def counted(plans: list, *args: Any, **kwargs: Any) -> Any:
        if stacks is not None and stacks:
            stacks[-1].append(len(plans))
        return real(plans, *args, **kwargs)

    start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    options = RunOptions(workers=workers).check()
    options.prestart(config)  # as the CLI: the fork server imports meanwhile
    dataset = load_checked(config, cache_dir=folder / "data")
    checkpoints = search_checkpoints(config, storage)
    count = options.workers_for(config)
    if count > 1 and fused == "always":
        raise SystemExit(f"--fused always reaches only an inline evaluator; batch {batch} "
                         f"runs in {count} workers here: add --workers 1")
    executor = make_executor(config, count, folder / "data", dataset=dataset,
                             checkpoint_dir=checkpoints.folder if checkpoints else None)
    evaluator = getattr(executor, "evaluator", None)
    if fused == "always" and evaluator is not None:
        evaluator.fused = True
    if stacks is not None and evaluator is not None:  # one list per evaluate call (round)
        evaluate = evaluator.evaluate

        def per_round(archs: Any) -> Any:
            stacks.append([])
            return evaluate(archs)

        evaluator.evaluate = per_round
    local.train_fused = counted
    store = open_store(storage)
    try:
        Search(config, store, executor, checkpoints=checkpoints,
               data_fingerprint=data_fingerprint(config.data, dataset)).run()
    finally:
        local.train_fused = real
        store.close()
        executor.close()  # joins the workers
        _stop_fork_server()  # the next run starts its own, as a new CLI process does
    return (time.perf_counter() - start,
            time.process_time() - cpu + _children_cpu() - children, count)


# the `nasforge` command; at its exit (its atexit handlers run last to first) the time it
# finished is written down (the wall time ends there: a user's shell does not wait for the
# fork server, which exits by itself once its parent has gone), then the fork server is
# ended and waited for, so that its CPU time and its workers' count as the process's
# children's (an orphaned server's would not)
_CLI = """
import atexit, os, time
from pathlib import Path
from batch_speedup import _stop_fork_server
atexit.register(_stop_fork_server)
atexit.register(lambda: Path(os.environ["NASFORGE_BENCH_END"]).write_text(repr(time.time())))
from nasforge.ui.cli import main
main()
"""


def run_cli(trials: int, batch: int, folder: Path, workers: int | str = "auto"
            ) -> tuple[float, float, int]:
    """(Wall, CPU seconds, workers) of `nasforge search` run as a user runs it: a fresh
    process (`nasforge`'s entry point, `_CLI`) on the quickstart config with `batch` set, the
    budget `trials` and a fresh SQLite store in `folder`. Its imports, data load, fork
    server and workers are all in the wall time and CPU time."""
    import subprocess

    from nasforge.config import from_dict, load
    from nasforge.frozen import thaw
    from nasforge.ui.run_search import RunOptions

    raw = thaw(load(QUICKSTART).raw)
    raw["search"].update(budget=trials, batch=batch, name=f"quickstart-b{batch}")
    count = RunOptions(workers=workers).check().workers_for(from_dict(raw, source="bench"))
    text = QUICKSTART.read_text()
    config = folder / "search.toml"
    edited = text.replace("[search]\n", f"[search]\nbatch = {batch}\n", 1)
    if edited == text:
        raise SystemExit(f"{QUICKSTART} has no '[search]' line to add `batch` under")
    config.write_text(edited)
    command = [sys.executable, "-c", _CLI, "search", str(config), "--budget",
               str(trials), "--storage", f"sqlite:///{folder / 'nasforge.db'}", "--workers",
               str(workers)]
    end = folder / "end.txt"
    start, children = time.time(), _children_cpu()
    subprocess.run(command, check=True, cwd=folder, stdout=subprocess.DEVNULL,
                   env={**os.environ, "NASFORGE_BENCH_END": str(end), "PYTHONPATH":
                        os.pathsep.join([str(ROOT), str(ROOT / "bench"),
                                         *filter(None, [os.environ.get("PYTHONPATH")])])})
    return float(end.read_text()) - start, _children_cpu() - children, count


def _stop_fork_server() -> None:
    """End multiprocessing's fork server (a CPU pool's workers fork from it: `executors/
    start.py`) and wait for it: its CPU time and its workers' then count as this process's
    children's. Private stdlib API (CPython 3.8+), a bench's need only."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        try:
            stop()
        except FileNotFoundError:  # at exit: multiprocessing removed the server's socket
            pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def batch32_speedup(trials: int = 200, repeats: int = 3, fused: str = "auto",
                    workers: int | str = "auto", mode: str = "cli") -> dict[str, Any]:
    """Quickstart at batch 1 vs batch 32, interleaved repeats (see the module docstring)."""
    if mode not in ("cli", "inprocess"):
        raise ValueError(f"mode {mode!r}: choose cli or inprocess")
    if fused != "auto":
        mode = "inprocess"  # only this process's evaluator can be told to fuse everything
    import torch

    from nasforge.evaluator.fused.policy import default_model
    from nasforge.evaluator.threads import torch_threads

    load_start = _load_average()
    begin = time.perf_counter()
    # the per-machine calibration, outside the timings, at the process's threads and at the
    # one thread "auto" gives small candidates (the policy decides at the threads its
    # stacks train with: a model per count)
    for threads in sorted({torch.get_num_threads(), 1}):
        with torch_threads(threads):
            default_model(torch.device("cpu"))
    calibration = time.perf_counter() - begin
    walls: dict[int, list[float]] = {1: [], 32: []}
    cpus: dict[int, list[float]] = {1: [], 32: []}
    rounds: list[list[int]] = []
    counts: dict[int, int] = {}
    for repeat in range(repeats):
        for batch in ((1, 32) if repeat % 2 == 0 else (32, 1)):
            with tempfile.TemporaryDirectory(prefix="nasforge-bench-") as folder:
                stacks = [] if batch == 32 else None
                if mode == "cli":
                    wall, cpu, counts[batch] = run_cli(trials, batch, Path(folder), workers)
                else:
                    wall, cpu, counts[batch] = run_search(trials, batch, Path(folder), stacks,
                                                          fused, workers)
                walls[batch].append(wall)
                cpus[batch].append(cpu)
                if stacks is not None and repeat == 0:
                    rounds = stacks
    one, many = statistics.median(walls[1]), statistics.median(walls[32])
    seen = mode == "inprocess" and counts.get(32) == 1  # stacks are seen inline only
    fused_count = sum(sum(r) for r in rounds) if seen else None
    from machine import torch_machine

    return {"benchmark": "batch_speedup", "mode": mode, "trials": trials, "repeats": repeats,
            "fused": fused,
            "batch32_speedup": one / many, "batch1_seconds": one, "batch32_seconds": many,
            "walls": {str(k): v for k, v in walls.items()},
            "batch32_cpu_speedup": statistics.median(cpus[1]) / statistics.median(cpus[32]),
            "cpus": {str(k): v for k, v in cpus.items()},
            "workers": {str(k): v for k, v in counts.items()},
            "calibration_seconds": calibration,
            "stack_sizes": rounds if seen else None,
            "fused_candidates": fused_count, "candidates": trials,
            "load_start": load_start, "load_end": _load_average(), **torch_machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fused", choices=("auto", "always"), default="auto",
                        help="auto: the product's policy; always: fuse every stackable group")
    parser.add_argument("--workers", default="auto",
                        help="--workers as the CLI takes it (auto: as the CLI decides)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads for the run (0: leave it; inprocess only)")
    parser.add_argument("--mode", choices=("cli", "inprocess"), default=None,
                        help="cli (default; inprocess with --fused always): each search a fresh "
                             "`nasforge search` process; inprocess: each search in this "
                             "process")
    args = parser.parse_args()
    if args.trials < 1 or args.repeats < 1:
        parser.error("--trials and --repeats must be at least 1")
    if args.mode == "cli" and args.fused != "auto":
        parser.error("--fused always reaches this process's evaluator only: --mode inprocess")
    if args.threads and args.mode != "inprocess":
        parser.error("--threads sets this process's torch threads: add --mode inprocess")
    mode = args.mode or ("inprocess" if args.fused != "auto" else "cli")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(json.dumps(batch32_speedup(args.trials, args.repeats, args.fused, args.workers,
                                     mode), indent=1))


if __name__ == "__main__":
    main()
