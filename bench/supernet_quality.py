"""Supernet quality: the supernet search's retrained best subnet vs the best candidate of a
standalone evolution search given the same wall time, in one run on the same machine.

The supernet search (`Search` with strategy "supernet": supernet training, inherited
evaluations, standalone retraining of the top-k and the ranking sample) runs first and its
wall time T is measured; then the same config with strategy "evolution" (the supernet's
inner options) trains candidates standalone until T has passed (`Search` has no time
budget: an observer stops it after the first trial that finishes past T). Both use the
CLI's evaluator (`build_evaluator`) and in-memory stores. Accuracies are on the validation
split (what both searches rank by). Prints JSON.

    python bench/supernet_quality.py [--config examples/supernet.toml]
"""

from __future__ import annotations

import argparse
import json
import time

from nasforge.config import SearchConfig, from_dict, load
from nasforge.evaluator_setup import build_evaluator
from nasforge.frozen import thaw
from nasforge.records import SearchRecord, TrialRecord, TrialState
from nasforge.search import Search
from nasforge.store import open_store
from nasforge.strategies.supernet import is_inherited

#: Trials the evolution search may run at most (the deadline stops it long before).
MAX_TRIALS = 100_000


class _Deadline(Exception):
    pass


class _StopAt:
    """Observer: raises `_Deadline` once a trial finishes after `deadline` (perf_counter)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_start(self, search: SearchRecord, history: list[TrialRecord]) -> None:
        return None

    def on_trial(self, record: TrialRecord) -> None:
        if time.perf_counter() >= self.deadline:
            raise _Deadline


def evolution_config(config: SearchConfig) -> SearchConfig:
    raw = thaw(config.raw)
    search = raw["search"]
    options = search.get("strategy_options", {})
    search.update(name=f"{search['name']}-evolution", strategy=options.get("inner", "evolution"),
                  budget=MAX_TRIALS, strategy_options=dict(options.get("inner_options", {})))
    if search["strategy"] != "evolution":
        search.update(strategy="evolution", strategy_options={})
    return from_dict(raw, source="bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/supernet.toml")
    args = parser.parse_args()
    config = load(args.config)

    store = open_store("sqlite://")
    start = time.perf_counter()
    Search(config, store, build_evaluator(config)).run()
    supernet_s = time.perf_counter() - start
    diagnostics = store.get_search(config.name).diagnostics or {}
    standalone = sorted((t for t in store.trials(config.name, [TrialState.COMPLETE])
                         if not is_inherited(t)), key=lambda t: t.number)
    retrained = standalone[:int(diagnostics.get("retrained", len(standalone)))]  # first: top-k
    best_retrained = max(t.metrics["accuracy"] for t in retrained)
    best_any = max(t.metrics["accuracy"] for t in standalone)

    evolution = evolution_config(config)
    start = time.perf_counter()
    try:
        Search(evolution, store, build_evaluator(evolution),
               observer=_StopAt(start + supernet_s)).run()
    except _Deadline:
        pass
    evolution_s = time.perf_counter() - start
    found = store.trials(evolution.name, [TrialState.COMPLETE])
    best_evolution = max(t.metrics["accuracy"] for t in found)
    print(json.dumps({
        "config": args.config, "supernet_search_s": round(supernet_s, 2),
        "supernet_retrained": len(retrained), "supernet_standalone_trained": len(standalone),
        "kendall_tau": diagnostics.get("kendall_tau"),
        "supernet_best_retrained_accuracy": round(best_retrained, 4),
        "supernet_best_standalone_accuracy": round(best_any, 4),
        "evolution_s": round(evolution_s, 2), "evolution_trials": len(found),
        "evolution_best_accuracy": round(best_evolution, 4),
        "gap_points": round(100 * (best_evolution - best_retrained), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
