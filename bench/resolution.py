"""Benchmark: what a resolution costs and saves (CPU, one thread by default).

    python bench/resolution.py [--repeats 7] [--steps 30] [--threads 1]

A cnn of 3 stages (16/32/64 channels, 3x3, batch norm, ReLU, max pool, global average
readout) on (1, 28, 28) inputs, Fashion-MNIST-sized, batch 64, AdamW: the median time of
`--steps` training steps (forward, backward, update) at resolutions 28 (no Resize op: the
plan without the key), 24, 20 and 14, interleaved (the order rotates each repeat) after a
warm-up; the plan's MACs at each; and the Resize op alone (forward and backward of the
(64, 1, 28, 28) batch to r x r) against one step. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.searchspace.architecture import Architecture  # noqa: E402
from nasforge.searchspace.build import build_from_plan  # noqa: E402
from nasforge.searchspace.families import plan_for  # noqa: E402
from nasforge.searchspace.layers.portable.resize import Resize  # noqa: E402
from nasforge.searchspace.plan import DataSpec  # noqa: E402

SPEC = DataSpec((1, 28, 28), 10, name="fashion-sized")
RESOLUTIONS = (28, 24, 20, 14)
BATCH = 64


def arch(resolution: int) -> Architecture:
    return Architecture({
        "family": "cnn", "cnn.stages": 3, "cnn.convs_per_stage": 1, "cnn.channels.0": 16,
        "cnn.channels.1": 32, "cnn.channels.2": 64, "cnn.kernel": 3, "cnn.pool": "max",
        "cnn.readout": "global_avg", "cnn.head_width": 0, "activation": "relu",
        "norm": "batch", "dropout": 0.0, "resolution": resolution})


def step_timer(resolution: int, steps: int) -> Callable[[], float]:
    torch.manual_seed(0)
    model = build_from_plan(plan_for(arch(resolution), SPEC)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(BATCH, *SPEC.input_shape, generator=g), torch.randint(0, 10, (BATCH,))

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / steps
    run()  # warm-up
    return run


def resize_timer(resolution: int, steps: int) -> Callable[[], float]:
    module = Resize((28, 28), (resolution, resolution))
    x = torch.randn(BATCH, *SPEC.input_shape, requires_grad=True)

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            module(x).sum().backward()
        return (time.perf_counter() - start) / steps
    run()
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    steps = {r: step_timer(r, args.steps) for r in RESOLUTIONS}
    resizes = {r: resize_timer(r, args.steps) for r in RESOLUTIONS if r != 28}
    times: dict[str, list[float]] = {f"step_{r}": [] for r in RESOLUTIONS}
    times.update({f"resize_{r}": [] for r in resizes})
    names = list(times)
    for repeat in range(args.repeats):
        order = names[repeat % len(names):] + names[:repeat % len(names)]
        for name in order:
            kind, r = name.split("_")
            run = steps[int(r)] if kind == "step" else resizes[int(r)]
            times[name].append(run())
    load.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    median = {name: statistics.median(values) for name, values in times.items()}
    full = median["step_28"]
    report = {
        "benchmark": "resolution", "batch": BATCH, "steps": args.steps,
        "repeats": args.repeats, **torch_machine(), "uptime": load,
        "resolutions": {str(r): {
            "macs": plan_for(arch(r), SPEC).macs,
            "macs_ratio": plan_for(arch(r), SPEC).macs / plan_for(arch(28), SPEC).macs,
            "step_ms": 1e3 * median[f"step_{r}"],
            "step_ratio": median[f"step_{r}"] / full,
            **({"resize_ms": 1e3 * median[f"resize_{r}"],
                "resize_share_of_step": median[f"resize_{r}"] / median[f"step_{r}"]}
               if r != 28 else {}),
        } for r in RESOLUTIONS},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
