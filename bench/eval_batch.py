"""Benchmark: inference chunk size for images on a CPU (evaluation passes, BN recalibration).

    python bench/eval_batch.py [--repeats 3] [--threads 1] [--subnets 4]

Two workloads at chunks of 4096 samples (every pass before issue 16's change; one pass for
the 1,024 recalibration samples) against `evaluator.layout.eval_batch`'s 256 for images on a
CPU, interleaved, medians:

- `inherited`: `SupernetEvaluator.evaluate` over `--subnets` seeded subnets of
  `examples/fashion_ofa.toml`'s space (untrained supernet; 3,000 validation and 1,024
  recalibration samples of 1x28x28 noise): seconds per subnet;
- `standalone`: `train._sums` (the validation pass after each epoch) of three `mbconv`
  models of the same space over 6,000 samples: seconds per pass.

Prints one JSON object with the load at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nasforge import config as config_module
from nasforge.evaluator import train as train_module
from nasforge.evaluator.data.tensors import DeviceData
from nasforge.searchspace.build import build_from_plan
from nasforge.searchspace.families import plan_for
from nasforge.searchspace.plan import DataSpec
from nasforge.supernet import evaluator as evaluator_module
from nasforge.supernet import train as supernet_train
from nasforge.supernet.model import Supernet

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fashion_ofa.toml"
SPEC = DataSpec((1, 28, 28), 10, "classification", "images")
OLD = 4096


def use_chunks(rule: Callable[[torch.Tensor], int]) -> None:
    """Every pass of `_sums`, the inherited evaluation and the recalibration uses `rule`."""
    for module in (train_module, evaluator_module, supernet_train):
        module.eval_batch = rule


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--subnets", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    shipped = train_module.eval_batch
    space = config_module.load(EXAMPLE).space
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6000, *SPEC.input_shape, generator=generator)
    y = torch.randint(10, (6000,), generator=generator)
    data = DeviceData(x[:2000], y[:2000], x[:3000], y[:3000], x[:10], y[:10], SPEC)
    net = Supernet(space, SPEC, seed=0).eval()
    archs = space.sample_distinct(args.subnets, np.random.default_rng(1))
    models = [build_from_plan(plan_for(a, SPEC)).eval() for a in archs[:3]]

    def inherited() -> float:
        evaluator = evaluator_module.SupernetEvaluator(net, data, seed=0)
        start = time.perf_counter()
        evaluator.evaluate(archs)
        return (time.perf_counter() - start) / len(archs)

    def standalone() -> float:
        start = time.perf_counter()
        for model in models:
            train_module._sums(model, x, y, F.cross_entropy, True)
        return (time.perf_counter() - start) / len(models)

    workloads: dict[str, Callable[[], float]] = {"inherited": inherited,
                                                 "standalone": standalone}
    times: dict[str, list[float]] = {f"{w}_{c}": [] for w in workloads for c in ("old", "new")}
    train_module._sums(models[0], x[:512], y[:512], F.cross_entropy, True)  # warm-up
    rules = {"old": lambda _x: OLD, "new": shipped}
    for repeat in range(args.repeats):
        labels = ["old", "new"] if repeat % 2 == 0 else ["new", "old"]
        for name, work in workloads.items():
            for label in labels:
                use_chunks(rules[label])
                times[f"{name}_{label}"].append(work())
    use_chunks(shipped)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "old_over_new": {w: round(medians[f"{w}_old"] / medians[f"{w}_new"], 2)
                         for w in workloads},
        "new_chunk": shipped(x), "old_chunk": OLD, "threads": torch.get_num_threads(),
        "repeats": args.repeats, "load_start": load_start, "load_end": os.getloadavg(),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
