"""Training-step time at 1 and 2 torch threads, idle and with busy loops on the other cores,
for models from a tiny MLP (the quickstart's) to compute-bound ones. Prints JSON.

    PYTHONPATH=. python bench/threads.py [--seconds 0.4] [--rounds 3] [--hogs 1]

A step is forward + cross-entropy + backward + AdamW on a batch of synthetic inputs (64 by
default, the quickstart's batch_size). Per model: MACs per step (per-sample MACs x batch, as
`nasforge.evaluator.threads` sizes a candidate), the median milliseconds per step of each
(threads, load) over `rounds` interleaved rounds, and the ratios 2 threads / 1 thread idle
and loaded. "loaded": `--hogs` busy-loop processes (default 1: the other core of a 2-core
machine busy, as a second worker or another program makes it). The busy loops are killed
when the script ends, however it ends. The thread threshold of `[training] threads = "auto"`
(`threads.AUTO_MIN_MACS_PER_STEP`) is chosen from these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from machine import torch_machine
from torch import nn


def mlp(width: int, depth: int = 2, inputs: int = 64) -> tuple[nn.Module, tuple[int, ...], int]:
    layers: list[nn.Module] = []
    macs, fan_in = 0, inputs
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        macs += fan_in * width
        fan_in = width
    layers.append(nn.Linear(fan_in, 10))
    return nn.Sequential(*layers), (inputs,), macs + fan_in * 10


def cnn(channels: int, size: int = 28) -> tuple[nn.Module, tuple[int, ...], int]:
    """Two 3x3 convolutions (padding 1) and a 2x2 pooling each, then a linear classifier."""
    model = nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(channels * (size // 4) ** 2, 10))
    macs = (channels * 9 * size * size + channels * channels * 9 * (size // 2) ** 2
            + channels * (size // 4) ** 2 * 10)
    return model, (1, size, size), macs


MODELS: dict[str, Callable[[], tuple[nn.Module, tuple[int, ...], int]]] = {
    "mlp 64-32-32-10 (quickstart, small)": lambda: mlp(32),
    "mlp 64-128-128-10 (quickstart, mid)": lambda: mlp(128),
    "mlp 64-256x3-10 (quickstart, largest)": lambda: mlp(256, depth=3),
    "mlp 784-512-512-10": lambda: mlp(512, inputs=784),
    "mlp 784-1024x3-10": lambda: mlp(1024, depth=3, inputs=784),
    "cnn 8ch 28x28 (fashion-mnist)": lambda: cnn(8),
    "cnn 32ch 28x28 (fashion-mnist)": lambda: cnn(32),
}


def step_ms(build: Callable[[], tuple[nn.Module, tuple[int, ...], int]], threads: int,
            batch: int, seconds: float) -> float:
    """Median milliseconds of a training step, over `seconds` of steps (after 3 warm-up)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, shape, _ = build()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch, *shape), generator=generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    loss_fn = nn.CrossEntropyLoss()
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < 3 + 5 or time.perf_counter() - began < seconds:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times[3:])


def measure(batch: int, seconds: float, rounds: int) -> dict[str, dict[int, list[float]]]:
    found: dict[str, dict[int, list[float]]] = {name: {1: [], 2: []} for name in MODELS}
    for i in range(rounds):
        for name, build in MODELS.items():
            for threads in ((1, 2) if i % 2 == 0 else (2, 1)):
                found[name][threads].append(step_ms(build, threads, batch, seconds))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.4, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hogs", type=int, default=1, help="busy loops when loaded")
    args = parser.parse_args()
    load_start = os.getloadavg()
    idle = measure(args.batch, args.seconds, args.rounds)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.hogs)]
    try:
        time.sleep(0.5)
        loaded = measure(args.batch, args.seconds, args.rounds)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    models = {}
    for name, build in MODELS.items():
        macs = build()[2]
        med = {f"{load}_{t}t_ms": round(statistics.median(found[name][t]), 4)
               for load, found in (("idle", idle), ("loaded", loaded)) for t in (1, 2)}
        models[name] = {
            "macs_per_sample": macs, "macs_per_step": macs * args.batch, **med,
            "idle_2t_over_1t": round(med["idle_2t_ms"] / med["idle_1t_ms"], 3),
            "loaded_2t_over_1t": round(med["loaded_2t_ms"] / med["loaded_1t_ms"], 3),
        }
    print(json.dumps({"batch": args.batch, "rounds": args.rounds, "hogs": args.hogs,
                      "seconds_per_measurement": args.seconds, "models": models,
                      "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                      **torch_machine()}, indent=2))


if __name__ == "__main__":
    main()
