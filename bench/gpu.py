"""Benchmark: the single-candidate fast path and fused training on one device.

    python bench/gpu.py [--device cuda] [--repeats 5] [--epochs 5] [--quick] [--search]

(a) `train_candidate` plain (fp32, eager, contiguous) vs fast (precision "auto" = bf16 on
    CUDA, CUDA graphs, channels_last "auto") for a small MLP (64-256-256-10) and a small CNN
    (two 3x3 conv stages of 16 / 32 channels with batch norm) on scikit-learn digits.
(b) `train_fused` vs one `train_candidate` after another for 32 tiny MLPs (64-32-10) and 8 / 32
    small CNNs; plans that do not fuse (`FusionError`) are reported as "not fusable".
(c) with --search and /usr/share/datasets/fashion-mnist/: 64 sampled CNN candidates through
    `LocalEvaluator` (precision auto): wall seconds, training samples/s and platform overhead
    = 1 - sum(train_seconds) / wall.
Runs are interleaved (the order alternates each repeat) after one untimed warm-up of each; the
JSON has medians and `speedup_*` = plain / fast (sequential / fused). On CPU the fast path is
the plain loop (graphs and bf16 are CUDA features), so its speedup there is ~1. --quick (a CPU
smoke run, under a minute): 1 epoch, 1 repeat, 4 fused candidates, no cnn x 32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.evaluator.data import load_dataset  # noqa: E402
from nasforge.evaluator.data.tensors import to_device  # noqa: E402
from nasforge.evaluator.fused import (
    FusionError,  # noqa: E402
    train_fused,  # noqa: E402
)
from nasforge.evaluator.seeding import seeded  # noqa: E402
from nasforge.evaluator.train import TrainingParams, train_candidate  # noqa: E402
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.plan import NetworkPlan, PlanBuilder  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="CPU smoke run (< 1 minute)")
    parser.add_argument("--search", action="store_true", help="add the Fashion-MNIST search")
    args = parser.parse_args()
    device = torch.device(args.device)
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    data = to_device(load_dataset("digits", seed=0), device)
    shape, classes = data.spec.input_shape, data.spec.num_outputs
    mlp = (PlanBuilder("mlp", shape).flatten().linear(256).activation("relu").linear(256)
           .activation("relu").linear(classes).build())
    cnn = small_cnn(shape, classes)
    tiny = PlanBuilder("mlp", shape).flatten().linear(32).activation("relu").linear(classes).build()
    params = TrainingParams(lr=1e-3, batch_size=64, epochs=epochs)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def single(plan: NetworkPlan, fast: bool) -> Callable[[], float]:
        def run() -> float:
            with seeded(0, device):
                model = build_from_plan(plan).to(device)
            options = {"precision": "auto", "graphs": "auto"} if fast else {
                "precision": "fp32", "graphs": False, "channels_last": False}
            out = train_candidate(model, data, params, seed=0, task="classification", **options)
            return out.val_accuracy or 0.0
        return run

    report: dict[str, object] = {
        "benchmark": "gpu", "device": str(device), "quick": args.quick, "epochs": epochs,
        "repeats": repeats, "batch_size": 64,
        "dataset": f"digits via nasforge.evaluator.data ({len(data.x_train)} train)",
    }
    report["single"] = {name: compare({"plain": single(plan, False), "fast": single(plan, True)},
                                      repeats, sync, "plain", "fast")
                        for name, plan in (("mlp_64-256-256-10", mlp), ("cnn_16-32", cnn))}
    fused_runs = {}
    buckets = (("tiny_mlp", tiny, 32), ("cnn", cnn, 8), ("cnn", cnn, 32))
    for name, plan, m in buckets[:2] if args.quick else buckets:
        m = 4 if args.quick else m
        fused_runs[f"{name}_x{m}"] = fused_bucket(plan, m, data, params, repeats, sync)
    report["fused"] = fused_runs
    if args.search:
        report["search"] = search(device, epochs) if FASHION.exists() else "no Fashion-MNIST"
    report.update(torch_machine())
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    print(json.dumps(report, indent=2))


def small_cnn(shape: tuple[int, ...], classes: int) -> NetworkPlan:
    return (PlanBuilder("cnn", shape).conv(16, 3).norm("batch").activation("relu")
            .conv(32, 3).norm("batch").activation("relu").pool("avg", 2).flatten()
            .linear(classes).build())


def compare(runs: dict[str, Callable[[], object]], repeats: int, sync: Callable[[], None],
            base: str, fast: str) -> dict[str, object]:
    """Interleaved repeats after one warm-up each; medians and base / fast."""
    result = {name: fn() for name, fn in runs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            sync()
            start = time.perf_counter()
            result[name] = runs[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"median_seconds": {k: round(v, 5) for k, v in medians.items()},
            f"speedup_{fast}": round(medians[base] / medians[fast], 3),
            "seconds": {k: [round(s, 5) for s in v] for k, v in times.items()},
            "val_accuracy": {k: v for k, v in result.items() if isinstance(v, float)}}


def fused_bucket(plan: NetworkPlan, m: int, data: object, params: TrainingParams, repeats: int,
                 sync: Callable[[], None]) -> dict[str, object] | str:
    device = data.x_train.device  # type: ignore[attr-defined]
    seeds = list(range(100, 100 + m))
    every = [TrainingParams(lr=params.lr * (1 + i % 4), batch_size=params.batch_size,
                            epochs=params.epochs) for i in range(m)]

    def sequential() -> float:
        total = 0.0
        for p, seed in zip(every, seeds, strict=True):
            with seeded(seed, device):
                model = build_from_plan(plan).to(device)
            total += train_candidate(model, data, p, seed=seed,  # type: ignore[arg-type]
                                     task="classification").val_accuracy or 0.0
        return total / m

    def fused() -> float:
        results = train_fused([plan] * m, data, every, seeds=seeds,  # type: ignore[arg-type]
                              task="classification")
        return sum((r.outcome.val_accuracy or 0.0) if r.outcome else 0.0 for r in results) / m

    try:
        fused()  # fails fast on plans that do not stack
    except FusionError as err:
        return f"not fusable: {err}"
    return {"candidates": m, **compare({"sequential": sequential, "fused": fused}, repeats, sync,
                                       "sequential", "fused")}


def search(device: torch.device, epochs: int) -> dict[str, object]:
    """64 CNN candidates sampled from a small space, evaluated by LocalEvaluator."""
    from nasforge.config import from_dict
    from nasforge.evaluator.local import LocalEvaluator

    config = from_dict({
        "search": {"name": "bench-gpu", "budget": 64, "seed": 0},
        "data": {"dataset": "fashion-mnist"},
        "training": {"epochs": epochs, "batch_size": 256},
        "space": {"families": ["cnn"], "activation": ["relu", "gelu"],
                  "norm": ["batch", "none"], "lr": {"low": 1e-3, "high": 1e-2, "log": True}},
    })
    data = to_device(load_dataset("fashion-mnist", seed=0), device)
    rng = np.random.default_rng(0)
    archs = [config.space.sample(rng) for _ in range(64)]
    evaluator = LocalEvaluator(data, seed=0, measure_latency=False,
                               precision=config.training.precision)
    start = time.perf_counter()
    results = evaluator.evaluate(archs)
    wall = time.perf_counter() - start
    done = [r for r in results if r.metrics]
    train_seconds = sum(r.metrics["train_seconds"] for r in done)
    samples = len(data.x_train) * epochs * len(done)
    return {"candidates": 64, "completed": len(done), "epochs": epochs, "wall_seconds": round(
        wall, 3), "train_samples_per_second": round(samples / wall, 1),
        "platform_overhead": round(1 - train_seconds / wall, 4),
        "best_accuracy": max((r.metrics.get("accuracy", 0.0) for r in done), default=None)}


if __name__ == "__main__":
    main()
