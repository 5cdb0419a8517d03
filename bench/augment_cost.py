"""Benchmark: what on-device augmentation adds to a training step (target: <= 10%).

    python bench/augment_cost.py [--repeats 9] [--steps 30] [--device cpu] [--threads 1]

One training step = gather a batch of 128 from preloaded 28x28 grayscale images, forward and
backward through a small CNN (conv 16 -> BN -> ReLU -> max-pool -> conv 32 -> BN -> ReLU ->
max-pool -> linear 10), fused AdamW update: nasforge's `train_step`, the step `train_candidate`
runs. The variants feed the same step through `augment.AugmentedInput` with no augmentation,
each augmentation alone, and all three ("crop", "flip", "cutout"). Each repeat times `--steps`
steps of every variant, the variants' order rotating between repeats (interleaved), after one
untimed warm-up round; the medians of the per-step times give `overhead` = variant / plain - 1.
The augmentation alone (the augmenter on a batch, no model) is timed the same way. Prints one
JSON object with the load average at start and end, torch threads and versions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import torch_machine  # noqa: E402  (bench/machine.py)

from nasforge.evaluator.augment import AugmentedInput, Augmenter  # noqa: E402
from nasforge.evaluator.fused.graphed import train_step  # noqa: E402
from nasforge.evaluator.seeding import seeded  # noqa: E402

BATCH, SIDE, POOL, SEED = 128, 28, 4096, 0
VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (), "crop": ("crop",), "flip": ("flip",), "cutout": ("cutout",),
    "all": ("crop", "flip", "cutout"),
}


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def stepper(names: tuple[str, ...], x: torch.Tensor, y: torch.Tensor
            ) -> Callable[[torch.Tensor], torch.Tensor]:
    """One training step of a fresh model (same initial weights for every variant), with the
    batch augmented by `names` (nothing: the plain step through the same wrapper)."""
    with seeded(SEED):
        model = small_cnn().to(x.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3,
                                  fused=x.device.type in ("cpu", "cuda"))
    net = AugmentedInput(model, Augmenter(names, SEED)) if names else model
    model.train()
    return lambda idx: train_step(net, optimizer, F.cross_entropy, x, y, idx,
                                  contextlib.nullcontext)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(run: Callable[[torch.Tensor], object], batches: list[torch.Tensor],
               device: torch.device) -> float:
    """Seconds per step over `batches`."""
    _sync(device)
    begin = time.perf_counter()
    for idx in batches:
        run(idx)
    _sync(device)
    return (time.perf_counter() - begin) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_start = os.getloadavg()
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(POOL, 1, SIDE, SIDE, generator=g).to(device)
    y = torch.randint(0, 10, (POOL,), generator=g).to(device)
    batches = [torch.randperm(POOL, generator=g)[:BATCH].to(device) for _ in range(args.steps)]
    steps = {name: stepper(names, x, y) for name, names in VARIANTS.items()}
    augmenters = {name: Augmenter(names, SEED) for name, names in VARIANTS.items() if names}
    timings: dict[str, list[float]] = {name: [] for name in steps}
    alone: dict[str, list[float]] = {name: [] for name in augmenters}
    for repeat in range(args.repeats + 1):  # round 0 warms up, untimed
        names = list(steps)
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = time_steps(steps[name], batches, device)
            if repeat:
                timings[name].append(seconds)
            if name in augmenters:
                only = augmenters[name]
                seconds = time_steps(lambda idx, a=only: a(x[idx]), batches, device)
                if repeat:
                    alone[name].append(seconds)
    plain = statistics.median(timings["plain"])
    result = {
        "benchmark": "augment_cost",
        "batch": [BATCH, 1, SIDE, SIDE],
        "device": str(device),
        "repeats": args.repeats, "steps_per_repeat": args.steps,
        "step_ms_median": {k: round(statistics.median(v) * 1e3, 4) for k, v in timings.items()},
        "overhead": {k: round(statistics.median(v) / plain - 1, 4)
                     for k, v in timings.items() if k != "plain"},
        "augment_alone_ms_median": {k: round(statistics.median(v) * 1e3, 4)
                                    for k, v in alone.items()},
        "augment_alone_share_of_plain_step": {k: round(statistics.median(v) / plain, 4)
                                              for k, v in alone.items()},
        "target_overhead": 0.10,
        "load_start": load_start, "load_end": os.getloadavg(),
        **torch_machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
