"""Supernet cost: training it plus 1,000 inherited-weight subnet evaluations vs 20 standalone
trainings (the example's own [training] epochs / batch size: the archs carry them), and the
rank correlation on those 20 subnets, in one run on the same machine. The two sides run
interleaved (`--repeats`, alternating which goes first) and the medians are reported, so
load from other processes hits both alike. Prints JSON.

    python bench/supernet.py [--config examples/supernet.toml] [--subnets 1000]
                             [--standalone 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from nasforge.config import SearchConfig, load
from nasforge.evaluator.data.tensors import to_device
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.train import TrainData
from nasforge.evaluator_setup import load_checked
from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture
from nasforge.strategies.supernet import SupernetOptions
from nasforge.supernet.evaluator import SupernetEvaluator
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SupernetTraining, train_supernet


def supernet_side(config: SearchConfig, data: TrainData, archs: list[Architecture]
                  ) -> tuple[float, float, list[EvalResult]]:
    """(training seconds, evaluation seconds, inherited results)."""
    options = SupernetOptions(**{k: v for k, v in config.strategy_options.items()
                                 if k != "inner_options"})
    start = time.perf_counter()
    net = Supernet(config.space, data.spec, seed=config.seed)
    train_supernet(net, data, SupernetTraining(options.supernet_epochs,
                                               options.supernet_batch_size, options.supernet_lr,
                                               options.supernet_weight_decay,
                                               options.random_subnets), seed=config.seed)
    trained = time.perf_counter()
    results = SupernetEvaluator(net, data, seed=config.seed,
                                recalibration_batches=options.recalibration_batches
                                ).evaluate(archs)
    return trained - start, time.perf_counter() - trained, results


def standalone_side(config: SearchConfig, data: TrainData, archs: list[Architecture]
                    ) -> tuple[float, list[EvalResult]]:
    start = time.perf_counter()
    results = LocalEvaluator(data, seed=config.seed, measure_latency=False,
                             fused=False).evaluate(archs)
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/supernet.toml")
    parser.add_argument("--subnets", type=int, default=1000)
    parser.add_argument("--standalone", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load(args.config)
    data = to_device(load_checked(config), torch.device("cpu"))
    rng = np.random.default_rng(config.seed)
    archs = list({a.arch_id: a for a in (config.space.sample(rng)
                                         for _ in range(3 * args.subnets))}.values())
    archs = archs[:args.subnets]
    sample = archs[:args.standalone]
    # warm-up: the first optimizer built in a process imports torch._dynamo (~2 s), which
    # would land on whichever side runs first
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])

    train_s, eval_s, standalone_s = [], [], []
    inherited: list[EvalResult] = []
    standalone: list[EvalResult] = []
    for repeat in range(args.repeats):
        for side in (("supernet", "standalone") if repeat % 2 == 0 else
                     ("standalone", "supernet")):
            if side == "supernet":
                t, e, inherited = supernet_side(config, data, archs)
                train_s.append(t)
                eval_s.append(e)
            else:
                s, standalone = standalone_side(config, data, sample)
                standalone_s.append(s)
    totals = [t + e for t, e in zip(train_s, eval_s, strict=True)]

    from scipy.stats import kendalltau, spearmanr

    x = [r.metrics["inherited_accuracy"] for r in inherited[:args.standalone]]
    y = [r.metrics["accuracy"] for r in standalone]
    median = statistics.median
    print(json.dumps({
        "config": args.config, "subnets": len(archs), "standalone": len(sample),
        "standalone_epochs": sorted({int(a["epochs"]) for a in sample}),
        "repeats": args.repeats,
        "supernet_train_s": [round(v, 2) for v in train_s],
        "inherited_eval_s": [round(v, 2) for v in eval_s],
        "supernet_plus_evals_s": [round(v, 2) for v in totals],
        "standalone_s": [round(v, 2) for v in standalone_s],
        "median_supernet_train_s": round(median(train_s), 2),
        "median_inherited_eval_ms_per_subnet": round(median(eval_s) / len(archs) * 1e3, 2),
        "median_supernet_plus_evals_s": round(median(totals), 2),
        "median_standalone_s": round(median(standalone_s), 2),
        "ratio_standalone_over_supernet": round(median(standalone_s) / median(totals), 2),
        "kendall_tau": round(float(kendalltau(x, y).statistic), 3),
        "spearman_rho": round(float(spearmanr(x, y).statistic), 3),
        "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
