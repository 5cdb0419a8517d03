"""Benchmark: nasforge's `train_candidate` vs a minimal hand-written PyTorch loop.

    python bench/train_loop.py [--repeats 7] [--epochs 10] [--device cpu] [--threads N]

Both train the same MLP 64-128-128-10 (ReLU, same initial weights) on scikit-learn digits
with AdamW (lr 3e-3), a per-step cosine schedule, batch 64 and the same index-slicing batches
(a seeded permutation per epoch, last partial batch kept). The optimizer is the same too:
fused AdamW kernels on CPU/CUDA in both (a third runner, the minimal loop with the default
for-loop AdamW, is reported for reference). All evaluate validation loss and accuracy after
every epoch and the test split once at the end, so the work is the same. Runs are interleaved
(the order alternates each repeat) after one untimed warm-up run of each. Prints one JSON
object: medians, the ratio nasforge / minimal (target <= 1.10), versions and machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.evaluator.data import load_dataset  # noqa: E402
from nasforge.evaluator.data.tensors import DeviceData, to_device  # noqa: E402
from nasforge.evaluator.seeding import seeded  # noqa: E402
from nasforge.evaluator.train import (  # noqa: E402
    FUSED_DEVICES,
    TrainingParams,
    train_candidate,
)
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.plan import PlanBuilder  # noqa: E402

LR, BATCH, SEED = 3e-3, 64, 0


def load_digits(device: torch.device) -> DeviceData:
    """digits through nasforge's own loader: the same split and tensors the evaluator uses."""
    return to_device(load_dataset("digits", seed=SEED), device)


def minimal_loop(model: nn.Module, d: DeviceData, epochs: int, fused: bool) -> float:
    """The plain PyTorch loop; returns the final validation accuracy."""
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0, fused=fused)
    n = len(d.x_train)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * math.ceil(n / BATCH))
    gen = torch.Generator().manual_seed(SEED)
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).to(d.x_train.device)
        train_sum = 0.0
        for start in range(0, n, BATCH):
            idx = perm[start : start + BATCH]
            loss = F.cross_entropy(model(d.x_train[idx]), d.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            train_sum += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            out = model(d.x_val)
            val_loss = F.cross_entropy(out, d.y_val).item()
            accuracy = (out.argmax(1) == d.y_val).float().mean().item()
        if not math.isfinite(train_sum) or not math.isfinite(val_loss):
            raise RuntimeError("diverged")
    with torch.no_grad():
        out = model(d.x_test)
        F.cross_entropy(out, d.y_test).item()
        (out.argmax(1) == d.y_test).float().mean().item()
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = load_digits(device)
    plan = (PlanBuilder("mlp", data.spec.input_shape).flatten().linear(128).activation("relu")
            .linear(128).activation("relu").linear(10).build())
    with seeded(SEED, device):
        initial = build_from_plan(plan).to(device)
    params = TrainingParams(lr=LR, batch_size=BATCH, epochs=args.epochs, optimizer="adamw",
                            schedule="cosine")

    def run_nasforge() -> float:
        outcome = train_candidate(copy.deepcopy(initial), data, params, seed=SEED,
                                  task="classification")
        return outcome.val_accuracy or 0.0

    fused = device.type in FUSED_DEVICES

    def run_minimal() -> float:
        return minimal_loop(copy.deepcopy(initial), data, args.epochs, fused)

    def run_minimal_unfused() -> float:
        return minimal_loop(copy.deepcopy(initial), data, args.epochs, False)

    def timed(fn: object) -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        accuracy = fn()  # type: ignore[operator]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, accuracy

    runs = {"nasforge": run_nasforge, "minimal": run_minimal,
            "minimal_unfused_optimizer": run_minimal_unfused}
    accuracy = {name: fn() for name, fn in runs.items()}  # warm-up (lazy imports, allocator)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeats):
        for name in (list(runs) if r % 2 == 0 else reversed(list(runs))):
            seconds, accuracy[name] = timed(runs[name])
            times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(json.dumps({
        "benchmark": "train_loop",
        "dataset": (f"digits via nasforge.evaluator.data ({len(data.x_train)} train / "
                    f"{len(data.x_val)} val / {len(data.x_test)} test)"),
        "model": "mlp 64-128-128-10 relu",
        "optimizer": "adamw", "schedule": "cosine per step", "lr": LR, "batch_size": BATCH,
        "epochs": args.epochs, "repeats": args.repeats,
        "evaluation": "all: val loss+accuracy every epoch, test once at the end",
        "optimizer_impl": {"nasforge": "fused" if fused else "default",
                           "minimal": "fused" if fused else "default",
                           "minimal_unfused_optimizer": "default (for-loop)"},
        "median_seconds": {k: round(v, 5) for k, v in medians.items()},
        "ratio_nasforge_over_minimal": round(medians["nasforge"] / medians["minimal"], 4),
        "ratio_nasforge_over_minimal_unfused": round(
            medians["nasforge"] / medians["minimal_unfused_optimizer"], 4),
        "target_ratio": 1.10,
        "seconds": {k: [round(s, 5) for s in v] for k, v in times.items()},
        "final_val_accuracy": accuracy,
        "device": str(device),
        **torch_machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
