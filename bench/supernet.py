"""Supernet cost: training it plus 1,000 inherited-weight subnet evaluations vs 20 standalone
trainings, and the rank correlation on 20 subnets, in one run on the same machine. Prints JSON.

    python bench/supernet.py [--config examples/supernet.toml] [--subnets 1000] [--standalone 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from nasforge.config import load
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator.tensors import to_device
from nasforge.search import load_checked
from nasforge.strategies.supernet import SupernetOptions
from nasforge.supernet.evaluator import SupernetEvaluator
from nasforge.supernet.model import Supernet
from nasforge.supernet.train import SupernetTraining, train_supernet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/supernet.toml")
    parser.add_argument("--subnets", type=int, default=1000)
    parser.add_argument("--standalone", type=int, default=20)
    args = parser.parse_args()
    config = load(args.config)
    data = to_device(load_checked(config), torch.device("cpu"))
    options = SupernetOptions(**{k: v for k, v in config.strategy_options.items()
                                 if k != "inner_options"})
    rng = np.random.default_rng(config.seed)
    archs = list({a.arch_id: a for a in (config.space.sample(rng)
                                         for _ in range(3 * args.subnets))}.values())
    archs = archs[:args.subnets]

    start = time.perf_counter()
    net = Supernet(config.space, data.spec, seed=config.seed)
    train_supernet(net, data, SupernetTraining(options.supernet_epochs,
                                               options.supernet_batch_size, options.supernet_lr,
                                               options.supernet_weight_decay,
                                               options.random_subnets), seed=config.seed)
    trained = time.perf_counter() - start
    inherited = SupernetEvaluator(net, data, seed=config.seed).evaluate(archs)
    supernet_total = time.perf_counter() - start

    sample = archs[:args.standalone]
    start = time.perf_counter()
    standalone = LocalEvaluator(data, seed=config.seed, measure_latency=False,
                                fused=False).evaluate(sample)
    standalone_total = time.perf_counter() - start

    from scipy.stats import kendalltau, spearmanr

    x = [r.metrics["inherited_accuracy"] for r in inherited[:args.standalone]]
    y = [r.metrics["accuracy"] for r in standalone]
    print(json.dumps({
        "config": args.config, "subnets": len(archs), "standalone": len(sample),
        "supernet_train_s": round(trained, 2),
        "inherited_eval_ms_per_subnet": round((supernet_total - trained) / len(archs) * 1e3, 2),
        "supernet_plus_evals_s": round(supernet_total, 2),
        "standalone_s": round(standalone_total, 2),
        "ratio_standalone_over_supernet": round(standalone_total / supernet_total, 2),
        "kendall_tau": round(float(kendalltau(x, y).statistic), 3),
        "spearman_rho": round(float(spearmanr(x, y).statistic), 3),
        "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
