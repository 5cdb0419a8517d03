"""Benchmark: 32 tiny MLP candidates trained fused (one stacked model) vs one by one.

    python bench/fused.py [--candidates 32] [--repeats 7] [--epochs 5] [--width 32]
                          [--device cpu] [--threads N]

Candidates: MLP 64-W-10 (ReLU) on scikit-learn digits (nasforge's loader), AdamW with a
per-step cosine schedule, batch 64, each with its own seed (initial weights and batch order)
and its own lr / weight decay. "sequential" builds each model under its seed and runs
`train_candidate` on it; "fused" runs `train_fused` on all of them (it builds the same models
itself). Both evaluate validation every epoch and test at the end. Runs are interleaved (the
order alternates each repeat) after one untimed warm-up of each. Prints one JSON object with
the medians and `speedup` = sequential / fused (CPU target >= 8).

`policy` (skip with --no-policy; --buckets a,b for some): per bucket, `LocalEvaluator` three
ways, latency measurement off, interleaved repeats, medians: fused=False (sequential, the
plain loop), fused=True (every stack fused: `fused_speedup`) and one `FusedPolicy` for the
bucket, as a search's evaluator holds it (fused="auto"; its probe runs once, in a warm-up call
reported as `first_call_with_probe_over_sequential`: `speedup`). Buckets: tiny_mlp (the
headline), mixed_mlp (32 MLPs of 2 hidden layers with widths 16-128 and three activations: one
padded stack), wide_mlp (8 x 64-512-512-10), large_mlp (4 x 64-1024-1024-1024-10 at batch
256: compute-bound, the policy must keep it sequential), small_cnn (8 two-stage CNNs: grouped
convolutions) and quantized_mlp (16 w4a4 MLPs). Target: policy / sequential >= 0.95 in every
bucket.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.evaluator.data import load_dataset  # noqa: E402
from nasforge.evaluator.data.tensors import to_device  # noqa: E402
from nasforge.evaluator.fused import (
    FusedPolicy,  # noqa: E402
    train_fused,  # noqa: E402
)
from nasforge.evaluator.local import LocalEvaluator  # noqa: E402
from nasforge.evaluator.seeding import seeded  # noqa: E402
from nasforge.evaluator.train import TrainingParams, train_candidate  # noqa: E402
from nasforge.searchspace.architecture import Architecture  # noqa: E402
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.plan import PlanBuilder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--policy-repeats", type=int, default=9)
    parser.add_argument("--no-policy", action="store_true", help="skip the policy buckets")
    parser.add_argument("--buckets", default="", help="comma-separated bucket names (all)")
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
    names = args.buckets.split(",") if args.buckets else list(BUCKETS)
    unknown = sorted(set(names) - set(BUCKETS))
    if unknown:
        parser.error(f"unknown bucket(s) {unknown}; choose from {sorted(BUCKETS)}")
    policy = {} if args.no_policy else {
        name: policy_bucket(data, name, args.candidates if name == "tiny_mlp" else BUCKETS[name][0],
                            args.epochs, args.width, args.policy_repeats, sync)
        for name in names}
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
        "policy": policy,
        "policy_min_speedup": min((b["speedup"] for b in policy.values()), default=None),
        "target_policy_min_speedup": 0.95,
        "device": str(device),
        **torch_machine(),
    }, indent=2))


def bucket_archs(name: str, m: int, epochs: int, width: int) -> list[Architecture]:
    """The candidates of one benchmark bucket (lr and weight decay differ per candidate)."""
    def train(i: int, batch: int = 64) -> dict[str, object]:
        return {"lr": 1e-3 * (1 + 9 * i / max(m - 1, 1)), "weight_decay": 0.01 * (i % 4),
                "epochs": epochs, "batch_size": batch, "optimizer": "adamw",
                "schedule": "cosine", "dropout": 0.0}

    def mlp(i: int, widths: list[int], activation: str = "relu", norm: str = "none",
            batch: int = 64, **extra: object) -> Architecture:
        return Architecture({  # type: ignore[arg-type]
            "family": "mlp", "mlp.depth": len(widths), "activation": activation, "norm": norm,
            **{f"mlp.width.{k}": w for k, w in enumerate(widths)}, **train(i, batch), **extra})

    def cnn(i: int, channels: list[int]) -> Architecture:
        return Architecture({  # type: ignore[arg-type]
            "family": "cnn", "cnn.stages": len(channels), "cnn.convs_per_stage": 1,
            "cnn.kernel": 3, "cnn.pool": "max", "cnn.readout": "flatten", "cnn.head_width": 0,
            **{f"cnn.channels.{k}": c for k, c in enumerate(channels)}, "activation": "relu",
            "norm": "batch", **train(i)})

    widths, kinds = (16, 32, 64, 128), ("relu", "gelu", "tanh")
    make = {
        "tiny_mlp": lambda i: mlp(i, [width]),
        "mixed_mlp": lambda i: mlp(i, [widths[i % 4], widths[(i // 4) % 4]], kinds[i % 3],
                                   "batch"),
        "wide_mlp": lambda i: mlp(i, [512, 512]),
        "large_mlp": lambda i: mlp(i, [1024] * 3, batch=256),
        "small_cnn": lambda i: cnn(i, [8, 16]),
        "quantized_mlp": lambda i: mlp(i, [64, 64], norm="batch", weight_bits=4, act_bits=4,
                                       quant_step="fixed", keep_ends_8bit=True),
    }[name]
    return [make(i) for i in range(m)]


BUCKETS = {  # name: (candidates, what they are)
    "tiny_mlp": (32, "mlp 64-W-10 relu"),
    "mixed_mlp": (32, "mlp 64-{16..128}-{16..128}-10, relu/gelu/tanh, batch norm (padded)"),
    "wide_mlp": (8, "mlp 64-512-512-10 relu"),
    "large_mlp": (4, "mlp 64-1024-1024-1024-10 relu, batch 256 (compute-bound)"),
    "small_cnn": (8, "cnn 1x8x8 conv3x3(8)-bn-relu-maxpool-conv3x3(16)-bn-relu-maxpool-10"),
    "quantized_mlp": (16, "mlp 64-64-64-10 batch norm, w4a4 hidden, 8-bit ends, fixed steps"),
}


def policy_bucket(data: object, name: str, m: int, epochs: int, width: int, repeats: int,
                  sync: object) -> dict[str, object]:
    """LocalEvaluator sequential (fused=False) vs always fused (fused=True) vs the auto
    policy, latency measurement off, interleaved repeats."""
    archs = bucket_archs(name, m, epochs, width)
    # one policy for the whole bucket, as one evaluator holds it for a whole search: its
    # probe runs in the warm-up call below and is timed on its own
    policy = FusedPolicy()

    def run(fused: object) -> Callable[[], None]:
        def go() -> None:
            results = LocalEvaluator(data, seed=0, fused=fused,  # type: ignore[arg-type]
                                     measure_latency=False).evaluate(archs)
            failed = [r.error for r in results if r.error]
            if failed:
                raise RuntimeError(f"bucket {name}: {failed[0]}")
        return go

    runs = {"sequential": run(False), "fused": run(True), "policy": run(policy)}
    runs["sequential"]()  # warm-up
    runs["fused"]()  # warm-up
    start = time.perf_counter()
    runs["policy"]()  # warm-up, with the probe
    first_call = time.perf_counter() - start
    times: dict[str, list[float]] = {key: [] for key in runs}
    for r in range(repeats):
        for key in (list(runs) if r % 2 == 0 else reversed(list(runs))):
            sync()  # type: ignore[operator]
            start = time.perf_counter()
            runs[key]()
            sync()  # type: ignore[operator]
            times[key].append(time.perf_counter() - start)
    medians = {key: statistics.median(t) for key, t in times.items()}
    timing = next(iter(policy.timings.values()), None)
    return {
        "model": BUCKETS[name][1].replace("W", str(width)), "candidates": m, "epochs": epochs,
        "stacks": len(policy.decisions) or None,
        "fused_chosen": f"{sum(policy.decisions.values())}/{len(policy.decisions)} stacks",
        "probe_per_step_seconds": None if timing is None else {
            "fused": timing.fused, "sequential": timing.sequential},
        "median_seconds": {k: round(v, 5) for k, v in medians.items()},
        "fused_speedup": round(medians["sequential"] / medians["fused"], 3),
        "speedup": round(medians["sequential"] / medians["policy"], 3),
        "first_call_with_probe_over_sequential": round(first_call / medians["sequential"], 3),
        "seconds": {k: [round(s, 5) for s in v] for k, v in times.items()},
    }


if __name__ == "__main__":
    main()
