"""Benchmark: training steps in channels_last (NHWC) against contiguous (NCHW) memory format.

    python bench/channels_last.py [--repeats 5] [--steps 2] [--threads 1]

For each family (`mbconv` and `cnn` on 1x28x28, `resnet` on 3x32x32; three seeded samples of
each family's default space, ReLU and batch norm) one training step is forward, backward and
AdamW on a batch of 128; and one supernet (Once-for-All) sandwich step over the `mbconv`
space with kernels 3/5/7. Every variant is timed in both layouts, interleaved (the order
rotates each repeat) after a warm-up; medians of per-step seconds and the ratio contiguous /
channels_last (above 1: channels_last is faster). `train_candidate` and `train_supernet` use
channels_last for every model with a 2-D convolution ("auto"). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SandwichSchedule, sandwich_step

BATCH = 128
INPUTS = {"mbconv": (1, 28, 28), "cnn": (1, 28, 28), "resnet": (3, 32, 32)}
NHWC = torch.channels_last


def batch(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(BATCH, *shape, generator=generator),
            torch.randint(10, (BATCH,), generator=generator))


def standalone(family: str, index: int, nhwc: bool) -> tuple[Callable[[], None], float]:
    spec = DataSpec(INPUTS[family], 10, name=family)
    space = assemble_space([family], {"activation": ["relu"], "norm": ["batch"]}, {})
    arch = space.sample_distinct(3, np.random.default_rng(0))[index]
    plan = plan_for(arch, spec)
    model = build_from_plan(plan).train()
    x, y = batch(spec.input_shape)
    if nhwc:
        model.to(memory_format=NHWC)  # type: ignore[call-overload]  # stubs omit memory_format
        x = x.contiguous(memory_format=NHWC)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step, float(plan.macs)


def supernet(nhwc: bool) -> Callable[[], None]:
    spec = DataSpec(INPUTS["mbconv"], 10, name="mbconv")
    space = assemble_space(["mbconv"], {"activation": ["relu", "hardswish"], "norm": ["batch"]},
                           {"mbconv": {"kernel": [3, 5, 7]}})
    net = Supernet(space, spec, seed=0).train()
    archs = SandwichSchedule(space, 2, seed=0).step()
    x, y = batch(spec.input_shape)
    if nhwc:
        net.to(memory_format=NHWC)  # type: ignore[call-overload]  # stubs omit memory_format
        x = x.contiguous(memory_format=NHWC)
    params = list(net.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, foreach=True)

    def step() -> None:
        sandwich_step(net, archs, x, y, "classification", params)
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    variants: dict[str, Callable[[], None]] = {}
    macs: dict[str, float] = {}
    for family in INPUTS:
        for index in range(3):
            for nhwc in (False, True):
                name = f"{family}{index}_{'nhwc' if nhwc else 'nchw'}"
                variants[name], macs[f"{family}{index}"] = standalone(family, index, nhwc)
    for nhwc in (False, True):
        variants[f"supernet_{'nhwc' if nhwc else 'nchw'}"] = supernet(nhwc)
    for fn in variants.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(args.repeats):
        shift = repeat * 3 % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            for _ in range(args.steps):
                variants[name]()
            times[name].append((time.perf_counter() - start) / args.steps)
    medians = {name: statistics.median(t) for name, t in times.items()}
    models = sorted({name.rsplit("_", 1)[0] for name in names})
    print(json.dumps({
        "median_step_seconds": {k: round(v, 4) for k, v in medians.items()},
        "nchw_over_nhwc": {m: round(medians[f"{m}_nchw"] / medians[f"{m}_nhwc"], 2)
                           for m in models},
        "macs_per_image": macs, "batch": BATCH, "threads": torch.get_num_threads(),
        "repeats": args.repeats, "steps": args.steps, "load_start": load_start,
        "load_end": os.getloadavg(), "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
