"""Benchmark: 32 tiny MLP candidates trained fused (one stacked model) vs one by one.

    python bench/fused.py [--candidates 32] [--repeats 5] [--epochs 5] [--width 32]
                          [--device cpu] [--threads N]

Candidates: MLP 64-W-10 (ReLU) on scikit-learn digits (nasforge's loader), AdamW with a
per-step cosine schedule, batch 64, each with its own seed (initial weights and batch order)
and its own lr / weight decay. "sequential" builds each model under its seed and runs
`train_candidate` on it; "fused" runs `train_fused` on all of them (it builds the same models
itself). Both evaluate validation every epoch and test at the end. Runs are interleaved (the
order alternates each repeat) after one untimed warm-up of each. Prints one JSON object with
the medians and `speedup` = sequential / fused (CPU target >= 8).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nasforge.evaluator.data import load_dataset  # noqa: E402
from nasforge.evaluator.fused import train_fused  # noqa: E402
from nasforge.evaluator.seeding import seeded  # noqa: E402
from nasforge.evaluator.tensors import to_device  # noqa: E402
from nasforge.evaluator.train import TrainingParams, train_candidate  # noqa: E402
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.plan import PlanBuilder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = to_device(load_dataset("digits", seed=0), device)
    plan = (PlanBuilder("mlp", data.spec.input_shape).flatten().linear(args.width)
            .activation("relu").linear(data.spec.num_outputs).build())
    m = args.candidates
    seeds = list(range(100, 100 + m))
    params = [TrainingParams(lr=1e-3 * (1 + 9 * i / max(m - 1, 1)), weight_decay=0.01 * (i % 4),
                             batch_size=64, epochs=args.epochs) for i in range(m)]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def sequential() -> list[float]:
        accuracies = []
        for p, seed in zip(params, seeds, strict=True):
            with seeded(seed, device):
                model = build_from_plan(plan).to(device)
            outcome = train_candidate(model, data, p, seed=seed, task="classification")
            accuracies.append(outcome.val_accuracy or 0.0)
        return accuracies

    def fused() -> list[float]:
        results = train_fused([plan] * m, data, params, seeds=seeds, task="classification")
        return [r.outcome.val_accuracy or 0.0 if r.outcome else float("nan") for r in results]

    runs = {"sequential": sequential, "fused": fused}
    accuracy = {name: fn() for name, fn in runs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeats):
        for name in (list(runs) if r % 2 == 0 else reversed(list(runs))):
            sync()
            start = time.perf_counter()
            accuracy[name] = runs[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    gap = max(abs(a - b) for a, b in zip(accuracy["sequential"], accuracy["fused"], strict=True))
    print(json.dumps({
        "benchmark": "fused",
        "bucket": "tiny_mlp",
        "dataset": f"digits via nasforge.evaluator.data ({len(data.x_train)} train)",
        "model": f"mlp 64-{args.width}-10 relu",
        "candidates": m, "epochs": args.epochs, "batch_size": 64, "repeats": args.repeats,
        "optimizer": "adamw (per-candidate lr and weight decay)", "schedule": "cosine per step",
        "sequential": "build under seeded(seed) + train_candidate, one candidate at a time",
        "median_seconds": {k: round(v, 5) for k, v in medians.items()},
        "speedup": round(medians["sequential"] / medians["fused"], 3),
        "target_speedup_cpu": 8.0,
        "max_val_accuracy_gap": gap,
        "seconds": {k: [round(s, 5) for s in v] for k, v in times.items()},
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
    }, indent=2))


if __name__ == "__main__":
    main()
