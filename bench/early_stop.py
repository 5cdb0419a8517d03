"""Benchmark: learning-curve early stopping (`[training] early_stop = "curve"`) on real
training, against the same search without it.

    PYTHONPATH=. python bench/early_stop.py [--trials 40] [--seeds 0 1 2] [--epochs 12]
                                            [--dataset digits] [--strategy evolution]
                                            [--min-epochs 4] [--threshold 0.05]

Per seed, two searches of the same space, strategy and seed (one candidate per round, so
trial order is compute order), both through `nasforge.search.Search` with a fresh SQLite
store: `full` trains `--trials` candidates to the end; `curve` stops by the learning curve
and runs until it has spent the epochs `full` spent (`--trials` x epochs). Reported:

- `epochs_saved`: 1 - epochs trained / (trials x epochs) over `curve`'s first `--trials`
  trials (what stopping saves on the same number of candidates); `seconds_saved` likewise
  with the summed `train_seconds`;
- `best_full`, `best_curve_equal_compute`: the best validation accuracy of a COMPLETE trial,
  `full` over all its trials, `curve` over its trials within the same epochs;
  `never_worse` = best_curve >= best_full;
- `wrong_stops`: `curve`'s PRUNED trials retrained to the end (without stopping) whose final
  accuracy would have beaten the incumbent when they were stopped; `pruned`, `complete`;
- `decision_ms`: the median time of one stopping decision (curve fit + sampling) measured on
  the stored curves of `full`.

Prints one JSON object (per seed and the summary), `uptime` load at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = {
    "families": ["mlp"],
    "activation": ["relu", "gelu", "tanh"],
    "norm": ["none", "batch"],
    "dropout": [0.0, 0.2],
    "lr": {"low": 1e-4, "high": 1e-1, "log": True},
    "mlp": {"depth": {"low": 1, "high": 3}, "width": [16, 32, 64, 128, 256]},
}


def config_raw(name: str, trials: int, seed: int, epochs: int, dataset: str, strategy: str,
               early_stop: str, min_epochs: int = 4, threshold: float = 0.05
               ) -> dict[str, Any]:
    stopping = {"early_stop_min_epochs": min_epochs, "early_stop_threshold": threshold}
    return {
        "search": {"name": name, "budget": trials, "objectives": ["accuracy:max"],
                   "strategy": strategy, "seed": seed, "batch": 1},
        "data": {"dataset": dataset},
        "training": {"device": "cpu", "measure_latency": False, "checkpoints": "none",
                     "epochs": epochs, "batch_size": 64, "optimizer": "adamw",
                     "early_stop": early_stop, **(stopping if early_stop != "none" else {})},
        "space": SPACE,
    }


def run(raw: dict[str, Any], folder: Path) -> tuple[list[Any], float]:
    from nasforge.config import from_dict
    from nasforge.evaluator_setup import build_evaluator
    from nasforge.search import Search
    from nasforge.store import open_store

    config = from_dict(raw)
    store = open_store(f"sqlite:///{folder / (config.name + '.db')}")
    begin = time.perf_counter()
    Search(config, store, build_evaluator(config)).run()
    wall = time.perf_counter() - begin
    trials = store.trials(config.name, with_curves=True)
    store.close()
    return trials, wall


def best(trials: list[Any]) -> float:
    from nasforge.records import TrialState

    values = [t.metrics["accuracy"] for t in trials if t.state is TrialState.COMPLETE]
    return max(values) if values else float("nan")


def wrong_stops(trials: list[Any], raw: dict[str, Any]) -> list[dict[str, float]]:
    """Each PRUNED trial retrained to the end: its final accuracy and the incumbent it was
    compared with (the best COMPLETE accuracy of the trials before it)."""
    from nasforge.config import from_dict
    from nasforge.evaluator_setup import build_evaluator
    from nasforge.records import TrialState

    evaluator = build_evaluator(from_dict(raw))
    out = []
    for trial in trials:
        if trial.state is not TrialState.PRUNED:
            continue
        incumbent = best([t for t in trials if t.number < trial.number])
        (full,) = evaluator.evaluate([trial.arch])
        out.append({"number": trial.number, "stopped_at": len(trial.curve),
                    "predicted": trial.metrics.get("predicted_accuracy"),
                    "final": full.metrics.get("accuracy"), "incumbent": incumbent})
    return out


def decision_ms(trials: list[Any], epochs: int) -> float:
    from nasforge.curves.rule import StopRule
    from nasforge.objectives import parse_objectives

    rule = StopRule(parse_objectives(["accuracy:max"]), ((0.97,),))
    times = []
    for trial in trials:
        for seen in range(rule.min_epochs, epochs):
            begin = time.perf_counter()
            rule.decide(trial.curve[:seen], epochs, {}, trial.number)
            times.append((time.perf_counter() - begin) * 1e3)
    return statistics.median(times)


def one_seed(seed: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    common = (seed, args.epochs, args.dataset, args.strategy)
    full_raw = config_raw(f"full-{seed}", args.trials, *common, "none")
    full, full_wall = run(full_raw, folder)
    full_epochs = sum(len(t.curve) for t in full)
    curve_raw = config_raw(f"curve-{seed}", args.trials * args.curve_budget_factor, *common,
                           "curve", args.min_epochs, args.threshold)
    curve, curve_wall = run(curve_raw, folder)
    spent, within = 0, []
    for trial in curve:
        spent += len(trial.curve)
        if spent > full_epochs:
            break
        within.append(trial)
    first = curve[: args.trials]
    first_epochs = sum(len(t.curve) for t in first)
    seconds = sum(t.metrics.get("train_seconds", 0.0) for t in first)
    full_seconds = sum(t.metrics.get("train_seconds", 0.0) for t in full)
    retrained = wrong_stops(curve, full_raw)
    wrong = [r for r in retrained if r["final"] is not None and r["final"] > r["incumbent"]]
    states = [t.state.value for t in first]
    return {
        "seed": seed, "full_trials": len(full), "full_epochs": full_epochs,
        "curve_first_trials_epochs": first_epochs,
        "epochs_saved": 1 - first_epochs / (args.trials * args.epochs),
        "seconds_saved": 1 - seconds / full_seconds if full_seconds else None,
        "pruned_in_first": states.count("PRUNED"), "complete_in_first": states.count("COMPLETE"),
        "curve_trials_at_equal_compute": len(within),
        "best_full": best(full), "best_curve_equal_compute": best(within),
        "never_worse": best(within) >= best(full),
        "pruned": sum(t.state.value == "PRUNED" for t in curve),
        "wrong_stops": len(wrong), "wrong_stop_details": wrong,
        "retrained": len(retrained),
        "decision_ms_median": decision_ms(full, args.epochs),
        "wall_full_s": full_wall, "wall_curve_s": curve_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--min-epochs", type=int, default=4, help="early_stop_min_epochs")
    parser.add_argument("--threshold", type=float, default=0.05, help="early_stop_threshold")
    parser.add_argument("--curve-budget-factor", type=int, default=3,
                        help="curve's trial budget = trials x this (cut at equal epochs)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_seed(seed, args, Path(tmp)) for seed in args.seeds]
    print(json.dumps({
        "benchmark": "early_stop", "trials": args.trials, "epochs": args.epochs,
        "dataset": args.dataset, "strategy": args.strategy, "min_epochs": args.min_epochs,
        "threshold": args.threshold, "seeds": rows,
        "summary": {
            "epochs_saved_median": statistics.median(r["epochs_saved"] for r in rows),
            "never_worse_all_seeds": all(r["never_worse"] for r in rows),
            "wrong_stops_total": sum(r["wrong_stops"] for r in rows),
            "pruned_total": sum(r["pruned"] for r in rows),
            "decision_ms_median": statistics.median(r["decision_ms_median"] for r in rows),
        },
        "load_start": started, "load_end": os.getloadavg(), "torch_threads": 1,
    }, indent=2))


if __name__ == "__main__":
    main()
