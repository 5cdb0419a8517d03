"""latency_ms under load: the median of 30 forwards (nasforge before issue 17) against
`measure.time_forwards` (the fastest of interleaved repeats spanning >= 50 ms), on a quiet
machine and with busy-loop processes sharing the cores. Prints JSON.

    python bench/latency_load.py [--hogs 6] [--rounds 12] [--threads 2] [--batch 1]
                                 [--min-seconds 0.02]

Two torch threads (a lone search's default on 2 cores) are what load hurts most: a forward
waits for its slowest thread, and a descheduled thread stalls it for a whole time slice.

Each round measures the model both ways, alternating which goes first; the busy loops are
killed when the script ends, however it ends.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from machine import torch_machine
from torch import nn

from nasforge.evaluator import measure


def median_of_30(model: nn.Module, x: torch.Tensor) -> float:
    """The latency nasforge stored before: the median of 30 timed forwards after warm-up."""
    with torch.inference_mode():
        for _ in range(10):
            model(x)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure_rounds(model: nn.Module, rounds: int, batch: int,
                   min_seconds: float) -> dict[str, list[float]]:
    x = torch.randn(batch, 64, generator=torch.Generator().manual_seed(0))
    found: dict[str, list[float]] = {"median_of_30": [], "latency_ms": [], "latency_ms_p90": []}
    for i in range(rounds):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                found["median_of_30"].append(median_of_30(model, x))
            else:
                timing = measure.time_forwards(model, (64,), "cpu", [batch],
                                               min_seconds=min_seconds)[0]
                found["latency_ms"].append(timing.best_ms)
                found["latency_ms_p90"].append(timing.p90_ms)
    return found


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hogs", type=int, default=6, help="busy-loop processes under load")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch", type=int, default=1, help="1: [training] latency_batch's "
                        "default; 256: a batch that torch spreads over its threads")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="time_forwards' min_seconds (default: its own default)")
    args = parser.parse_args()
    if args.min_seconds is None:
        args.min_seconds = inspect.signature(measure.time_forwards).parameters[
            "min_seconds"].default
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 10)).eval()
    load_start = os.getloadavg()
    quiet = measure_rounds(model, args.rounds, args.batch, args.min_seconds)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.hogs)]
    try:
        time.sleep(1.0)
        loaded = measure_rounds(model, args.rounds, args.batch, args.min_seconds)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    report = {
        "model": f"MLP 64-64-64-10, batch {args.batch}",
        "rounds": args.rounds, "hogs": args.hogs, "min_seconds": args.min_seconds,
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
        "quiet_ms": {k: summary(v) for k, v in quiet.items()},
        "loaded_ms": {k: summary(v) for k, v in loaded.items()},
        "worst_loaded_over_quiet": {
            k: max(loaded[k]) / statistics.median(quiet[k]) for k in quiet},
        **torch_machine(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
