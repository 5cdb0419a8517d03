"""Timing of the SQL store's hot path (a benchmark script, not a test; pytest skips it).

One trial = ``add_trials([arch], RUNNING)`` + ``finish(...)`` with 8 metrics and a 10-point
curve (3 metrics a point), on a SQLite file. Prints JSON: median, p10, p90 in milliseconds.

Side by side (unless --no-optuna), interleaved trial by trial in the same loop, Optuna's
RDBStorage on its own SQLite file in the same folder writing the comparable trial: `ask`
with the same four parameters, 10 `report` calls (one value per epoch: less than our three;
Optuna reports only for one objective, so its study has one), the other 7 metrics as user
attributes and `tell` with the accuracy.
`optuna_over_nasforge` = Optuna's median / ours (issue 9 target: >= 20).

    python bench/store.py [--trials 500] [--url sqlite:///PATH] [--no-optuna]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy

from nasforge.objectives import Objective
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture
from nasforge.store import SQLStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--no-optuna", action="store_true", help="skip the Optuna comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = SQLStore(url)
        store.create_search("bench", [Objective("accuracy"), Objective("params", "min")],
                            args.trials, {"seed": 0})
        metrics = {f"m{i}": 0.1 * i for i in range(6)} | {"accuracy": 0.9, "params": 1e5}
        curve = tuple(CurvePoint(e, {"train_loss": 1.0 / (e + 1), "val_loss": 1.1 / (e + 1),
                                     "val_accuracy": 0.09 * e}) for e in range(10))
        result = EvalResult(TrialState.COMPLETE, metrics, curve)
        optuna_trial = None if args.no_optuna else optuna_writer(Path(tmp) / "optuna.db",
                                                                 metrics, curve)
        times, optuna_times = [], []
        for i in range(args.trials):
            arch = Architecture({"width": 16 + i, "depth": i % 7, "act": "relu", "lr": 1e-3})
            t0 = time.perf_counter()
            (trial,) = store.add_trials("bench", [arch], TrialState.RUNNING, worker="w0")
            store.finish("bench", trial.number, result)
            times.append((time.perf_counter() - t0) * 1e3)
            if optuna_trial is not None:
                t0 = time.perf_counter()
                optuna_trial()
                optuna_times.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        everything = store.trials("bench", with_curves=True)
        read_ms = (time.perf_counter() - t0) * 1e3
        store.close()
    q = statistics.quantiles(times, n=10)
    print(json.dumps({
        "what": "add_trials(RUNNING) + finish(8 metrics, 10x3 curve) per trial",
        "backend": sqlalchemy.make_url(url).drivername, "trials": args.trials,
        "median_ms": round(statistics.median(times), 3), "p10_ms": round(q[0], 3),
        "p90_ms": round(q[-1], 3),
        "read_all_with_curves_ms": round(read_ms, 1), "read_trials": len(everything),
        **({} if not optuna_times else {
            "optuna_median_ms": round(statistics.median(optuna_times), 3),
            "optuna_over_nasforge": round(statistics.median(optuna_times)
                                          / statistics.median(times), 1),
            "optuna": __import__("optuna").__version__}),
        "python": sys.version.split()[0], "sqlalchemy": sqlalchemy.__version__,
        "sqlite": __import__("sqlite3").sqlite_version, "machine": platform.machine(),
    }, indent=1))


def optuna_writer(path: Path, metrics: dict[str, float], curve: tuple[CurvePoint, ...]):
    """A function that writes one comparable trial through Optuna's RDBStorage at `path`."""
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, study_name="bench", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"width": IntDistribution(16, 100_000), "depth": IntDistribution(0, 6),
             "act": CategoricalDistribution(["relu"]),
             "lr": FloatDistribution(1e-4, 1e-1, log=True)}
    extra = {k: v for k, v in metrics.items() if k != "accuracy"}

    def write() -> None:
        trial = study.ask(space)
        for point in curve:
            trial.report(point.metrics["val_accuracy"], point.epoch)
        for key, value in extra.items():
            trial.set_user_attr(key, value)
        study.tell(trial, metrics["accuracy"])

    return write


if __name__ == "__main__":
    main()
