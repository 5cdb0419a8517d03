"""How well do zero-cost proxies rank architectures trained for real? Spearman rho of every
registered proxy with trained validation accuracy, in two spaces, and what a proxy costs
against one training of the same candidate.

    nice -n 5 python bench/proxy_correlation.py [--candidates 200] [--epochs 2]
                                                [--cost-candidates 6] [--quick]

Spaces (from the examples, the data nasforge bundles): ``cells`` (examples/cells.toml: NAS-
Bench-201-style cells with 7 ops on MNIST-1D) and ``mlp+cnn`` (examples/mnist1d.toml: MLPs and
CNNs on MNIST-1D). In each, `--candidates` distinct architectures are drawn (seed 0), trained
`--epochs` epochs each by the local evaluator (sequentially, one thread) with every proxy as a
``zc_`` metric, and each proxy's Spearman rho with validation accuracy is reported (FAILED
candidates are left out; a -inf score ranks last). Cost: for `--cost-candidates` candidates
of each space, each proxy alone (median of 3 interleaved repeats, model build included) over
one full training at the example's own epochs (30 for mlp+cnn, 5 for cells): `cost_ratio`.
Prints one JSON object, with the published NAS-Bench-201 figure beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import torch_machine  # noqa: E402

from nasforge.config import load  # noqa: E402
from nasforge.evaluator.local import LocalEvaluator  # noqa: E402
from nasforge.evaluator.seeding import candidate_seed  # noqa: E402
from nasforge.evaluator_setup import build_evaluator  # noqa: E402
from nasforge.proxies import PROXIES  # noqa: E402
from nasforge.proxies.candidate import candidate_proxies  # noqa: E402
from nasforge.searchspace.families import plan_for  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPACES = {"cells": "cells.toml", "mlp+cnn": "mnist1d.toml"}
#: The published figure this benchmark stands beside: Abdelfattah et al. 2021 (abstract):
#: "Spearman's rank correlation coefficient between final validation accuracy and our best
#: zero-cost proxy [synflow] on NAS-Bench-201 is 0.82, compared to 0.61 for EcoNAS".
PUBLISHED_NB201 = {"synflow": 0.82, "econas_reduced_training": 0.61}


def _config(space: str, epochs: int | None):
    config = load(EXAMPLES / SPACES[space])
    raw = json.loads(json.dumps(dict(config.raw), default=dict))
    training = raw.setdefault("training", {})
    training.update({"device": "cpu", "measure_latency": False, "proxies": [],
                     "threads": 1})
    if epochs is not None:
        training["epochs"] = epochs
    from nasforge.config import from_dict

    return from_dict(raw, source=f"examples/{SPACES[space]}")


def correlation(space: str, candidates: int, epochs: int) -> dict[str, object]:
    config = _config(space, epochs)
    evaluator = build_evaluator(config)
    assert isinstance(evaluator, LocalEvaluator)
    evaluator.fused = False  # each candidate alone: train_seconds is its own
    evaluator.proxies = tuple(PROXIES.names())
    archs = config.space.sample_distinct(candidates, np.random.default_rng(0))
    start = time.perf_counter()
    results = evaluator.evaluate(archs)
    done = [r for r in results if r.state.value == "COMPLETE"]
    accuracy = np.array([r.metrics["accuracy"] for r in done])
    rho = {}
    for name in PROXIES.names():
        scores = np.array([r.metrics[f"zc_{name}"] for r in done])
        scores[~np.isfinite(scores)] = -np.finfo(float).max  # -inf: ranks last
        rho[name] = round(float(spearmanr(scores, accuracy).statistic), 3)
    return {"space": space, "config": f"examples/{SPACES[space]}", "epochs": epochs,
            "candidates": len(archs), "complete": len(done),
            "accuracy": {"min": float(accuracy.min()), "median": float(np.median(accuracy)),
                         "max": float(accuracy.max())},
            "spearman_rho": rho, "seconds": round(time.perf_counter() - start, 1),
            "median_zc_seconds_all_proxies": statistics.median(
                r.metrics["zc_seconds"] for r in done),
            "median_train_seconds": statistics.median(r.metrics["train_seconds"]
                                                      for r in done)}


def cost(space: str, candidates: int) -> dict[str, object]:
    """Each proxy alone over one full training at the example's epochs, same candidates."""
    config = _config(space, None)
    evaluator = build_evaluator(config)
    assert isinstance(evaluator, LocalEvaluator)
    evaluator.fused = False
    data = evaluator.data
    archs = config.space.sample_distinct(candidates, np.random.default_rng(1))
    ratios: dict[str, list[float]] = {name: [] for name in PROXIES.names()}
    trains = []
    for arch in archs:
        plan = plan_for(arch, data.spec)
        seed = candidate_seed(config.seed, arch.arch_id)
        times: dict[str, list[float]] = {name: [] for name in PROXIES.names()}
        for _ in range(3):  # interleaved repeats
            for name in PROXIES.names():
                times[name].append(candidate_proxies(plan, seed, data.x_train, data.y_train,
                                                     data.spec.task, [name])["zc_seconds"])
        (result,) = evaluator.evaluate([arch])
        train = result.metrics["train_seconds"]
        trains.append(train)
        for name in PROXIES.names():
            ratios[name].append(statistics.median(times[name]) / train)
    return {"space": space, "epochs": int(config.raw["training"]["epochs"]),
            "candidates": candidates, "median_train_seconds": statistics.median(trains),
            "cost_ratio": {k: round(statistics.median(v), 5) for k, v in ratios.items()},
            "cost_ratio_max": {k: round(max(v), 5) for k, v in ratios.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cost-candidates", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="20 candidates, 2 for the cost")
    args = parser.parse_args(argv)
    if args.quick:
        args.candidates, args.cost_candidates = 20, 2
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    report = {
        "benchmark": "proxy_correlation",
        **torch_machine(),
        "load_average_start": load_start,
        "spaces": [correlation(space, args.candidates, args.epochs) for space in SPACES],
        "cost": [cost(space, args.cost_candidates) for space in SPACES],
        "published_nas_bench_201": PUBLISHED_NB201,
        "load_average_end": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
