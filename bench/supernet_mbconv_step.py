"""Benchmark: one supernet (Once-for-All) training step over `mbconv` versus standalone steps.

    PYTHONPATH=. python bench/supernet_mbconv_step.py [--repeats 7] [--steps 5] [--threads 1]

28x28 grayscale batches of 64, the `mbconv` family's default space with kernels 3/5/7 (up to
4 stages of inverted-residual blocks, expansion 1/3/4/6, widths 16-48, SE on/off). A supernet
step is the sandwich rule (`train.sandwich_step`: the largest, the smallest and two random
subnets, in-place distillation) plus the AdamW update of the shared weights; a standalone step
trains one plain model (`build_from_plan`) of the same subnets: forward, backward, AdamW.
Each repeat times `--steps` steps of every variant in rotating order (interleaved) after a
warm-up; medians of per-step seconds. `ratio_to_four_standalone`: a sandwich step over the
time of the four standalone steps of its subnets. Prints one JSON object with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from nasforge.searchspace.assemble import assemble_space
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SandwichSchedule, sandwich_step

SPEC = DataSpec((1, 28, 28), 10, name="28px")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    space = assemble_space(["mbconv"], {"activation": ["relu", "hardswish"], "norm": ["batch"]},
                           {"mbconv": {"kernel": [3, 5, 7]}})
    net = Supernet(space, SPEC, seed=0).train()
    params = list(net.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, foreach=True)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, *SPEC.input_shape, generator=generator)
    y = torch.randint(10, (64,), generator=generator)
    archs = SandwichSchedule(space, 2, seed=0).step()
    models = [build_from_plan(plan_for(a, SPEC)).train() for a in archs]
    optims = [torch.optim.AdamW(m.parameters(), lr=1e-3, foreach=True) for m in models]

    def supernet_step() -> None:
        sandwich_step(net, archs, x, y, "classification", params)
        optimizer.step()

    def standalone(i: int):
        def step() -> None:
            optims[i].zero_grad(set_to_none=True)
            F.cross_entropy(models[i](x), y).backward()
            optims[i].step()
        return step

    variants = {"supernet": supernet_step, **{f"standalone_{name}": standalone(i) for i, name
                                              in enumerate(("largest", "smallest", "random0",
                                                            "random1"))}}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up (compiles the subnets' plans)
        fn()
    names = list(variants)
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            start = time.perf_counter()
            for _ in range(args.steps):
                variants[name]()
            times[name].append((time.perf_counter() - start) / args.steps)
    medians = {name: statistics.median(t) for name, t in times.items()}
    four = sum(v for k, v in medians.items() if k.startswith("standalone"))
    print(json.dumps({
        "median_step_seconds": medians,
        "ratio_to_largest_standalone": medians["supernet"] / medians["standalone_largest"],
        "ratio_to_four_standalone": medians["supernet"] / four,
        "subnet_macs": [plan_for(a, SPEC).macs for a in archs],
        "shared_parameters": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(), "repeats": args.repeats, "steps": args.steps,
        "load_start": load_start, "load_end": os.getloadavg(), "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
