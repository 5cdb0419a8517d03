"""`nasforge show` without --all reads the objectives' values, the best trials and worker
counts instead of every trial: its report is the one built from every trial."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nasforge.objectives import parse_objectives
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.ui.report import search_report, trial_payload
from nasforge.ui.show_command import TOP, front_report


def test_front_report_is_the_report_of_every_trial(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    objectives = parse_objectives(["accuracy:max", "params:min"])
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.create_search("s", objectives, 500, {})
        archs = [Architecture({"x": i}) for i in range(120)]
        for i, arch in enumerate(archs):
            (trial,) = store.add_trials("s", [arch], TrialState.RUNNING, worker=f"w{i % 3}")
            if i % 17 == 5:
                continue  # still RUNNING
            accuracy = math.nan if i % 23 == 0 else float(rng.integers(0, 40)) / 40
            metrics = {"accuracy": accuracy, "params": float(rng.integers(1, 30))}
            if i % 29 == 0:
                del metrics["params"]
            state = TrialState.FAILED if i % 13 == 0 else TrialState.COMPLETE
            store.finish("s", trial.number, EvalResult(state, metrics, error=(
                "boom" if state is TrialState.FAILED else None)), worker=f"w{i % 3}")
        search = store.get_search("s")
        trials = store.trials("s")
        report, hidden = front_report(store, search)
    want = search_report(search, trials, payloads=False)
    pareto = set(want["pareto"])  # type: ignore[arg-type]
    scored = sorted((-t.metrics["accuracy"], t.number) for t in trials
                    if t.state is TrialState.COMPLETE and t.number not in pareto
                    and math.isfinite(t.metrics.get("accuracy", math.nan)))
    shown = pareto | {n for _, n in scored[:TOP]}
    want["trials"] = [trial_payload(t) for t in trials if t.number in shown]
    assert report == want
    assert hidden == len(trials) - len(shown) > 0
    assert len(want["workers"]) == 3  # type: ignore[arg-type]
