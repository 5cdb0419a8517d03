"""Benchmark: does fusing pay, by width? Quickstart-space candidates of one width, M at a
time, evaluated fused against one by one, beside the fused cost model's prediction.

    PYTHONPATH=. python bench/fused_widths.py [--widths 16,32,64,128,256] [--sizes 4,8,16]
                                              [--repeats 1] [--same-structure]

For each width and size M: M distinct candidates of that width drawn from
examples/quickstart.toml's space (depths, norms, activations, dropout and lr mixed, 20
epochs on digits; `--same-structure`: depth and norm equal too, as the first candidate's,
so that only activations, dropout rates, lr and seeds differ), evaluated by one
`LocalEvaluator` (as a search's) with `fused = True` (every stackable group stacked) and
with `fused = False` (one by one), at one torch thread (what "auto" gives these
candidates), interleaved, medians over `--repeats`. `measured` =
fused / one-by-one wall time; `predicted` = the per-machine cost model's fused step over
its members' alone steps (`fused/calibration.py`, calibrated on first use). Below 1 fusing
pays. Prints one JSON object, with `uptime` load at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16,32,64,128,256")
    parser.add_argument("--sizes", default="4,8,16")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--same-structure", action="store_true")
    args = parser.parse_args()
    import numpy as np
    import torch
    from machine import torch_machine

    from nasforge.config import load
    from nasforge.evaluator.fused.align import align
    from nasforge.evaluator.fused.policy import default_model
    from nasforge.evaluator.threads import torch_threads
    from nasforge.evaluator_setup import build_evaluator, load_checked
    from nasforge.searchspace.families import plan_for

    start = _load()
    config = load(ROOT / "examples" / "quickstart.toml")
    folder = Path(tempfile.mkdtemp(prefix="nasforge-bench-"))
    dataset = load_checked(config, cache_dir=folder)
    evaluator = build_evaluator(config, folder, dataset=dataset)
    evaluator.measure_latency = False
    pool = config.space.sample_distinct(3000, np.random.default_rng(0))
    rows = []
    with torch_threads(1):
        model = default_model(torch.device("cpu"))
        evaluator.evaluate(pool[:1])  # warm-up: first-use imports
        for width in (int(w) for w in args.widths.split(",")):
            for size in (int(m) for m in args.sizes.split(",")):
                archs = [a for a in pool if a["mlp.width"] == width]
                if args.same_structure:
                    archs = [a for a in archs if (a["mlp.depth"], a["norm"]) == (
                        archs[0]["mlp.depth"], archs[0]["norm"])]
                archs = archs[:size]
                pool = [a for a in pool if a not in archs]
                times: dict[bool, list[float]] = {True: [], False: []}
                for repeat in range(args.repeats):
                    for fused in ((True, False) if repeat % 2 == 0 else (False, True)):
                        evaluator.fused = fused
                        begin = time.perf_counter()
                        evaluator.evaluate(archs)
                        times[fused].append(time.perf_counter() - begin)
                plans = [plan_for(a, dataset.spec) for a in archs]
                batch = int(archs[0]["batch_size"])
                predicted = (model.fused_step(align(plans), batch)
                             / sum(model.alone_step(p, batch) for p in plans))
                fused_s, alone_s = statistics.median(times[True]), statistics.median(times[False])
                rows.append({"width": width, "models": len(archs), "depth": archs[0]["mlp.depth"],
                             "norm": archs[0]["norm"], "fused_seconds": fused_s,
                             "alone_seconds": alone_s, "measured": fused_s / alone_s,
                             "predicted": predicted})
    print(json.dumps({"benchmark": "fused_widths", "repeats": args.repeats,
                      "same_structure": args.same_structure, "rows": rows,
                      "load_start": start, "load_end": _load(), **torch_machine()}, indent=1))


if __name__ == "__main__":
    main()
