"""Compute until a target accuracy, on real training: nasforge's strategies, its proxy
pre-filter and learning-curve early stopping, against random search and Optuna's TPE with
its HyperbandPruner.

    python bench/time_to_target.py [--quick] [--seeds 5] [--methods random,evolution,...]

The space is `examples/mnist1d.toml`'s (MLP and CNN families on MNIST-1D, generated offline),
trained for `--epochs` epochs, one objective (validation accuracy). The target is the mean,
over seeds, of the best validation accuracy random search reaches with `--target-trials` full
trainings (60; `--quick`: 20, 3 seeds). For each method and seed, *compute* is the summed
training CPU seconds (`train_cpu_seconds` of every trial at one thread, stopped and failed
ones included: CPU time is what a shared machine's load inflates least) plus the seconds
spent on zero-cost proxies (per-trial `zc_seconds` and the pre-filter's pool scoring),
counted until a finished full training reaches the target; a run that has spent
`--max-factor` times random's compute for the target trials without reaching it counts as
not reaching it (infinite compute, `null` in the JSON). The summary is the median over seeds.

The same architecture trained with the same seed gives the same result (`candidate_seed`),
so a run without early stopping reuses a training another method of the same seed already
did (its measured seconds are charged again): this saves wall time only, never compute.
Optuna's trials train through the same `train_candidate`, reporting validation accuracy
after each epoch to the pruner.

Keys: ``target``, ``compute_to_target`` (method -> median seconds), ``compute_ratio_vs_random``
(random's median / the best nasforge method's), ``ratio_vs_optuna`` (Optuna's median / the
best nasforge method's; > 1: nasforge needs less), ``per_seed`` (every run), ``load_average``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasforge.config import SearchConfig, from_dict  # noqa: E402
from nasforge.records import CurvePoint, EvalResult, SearchRecord, TrialRecord, TrialState  # noqa: E402
from nasforge.searchspace.architecture import Architecture  # noqa: E402

EXAMPLE = ROOT / "examples" / "mnist1d.toml"
NASFORGE_METHODS = ("random", "evolution", "halving", "prefilter+evolution",
                    "curve+evolution", "prefilter+curve+evolution")
OPTUNA = "optuna_tpe_hyperband"
METHODS = (*NASFORGE_METHODS, OPTUNA)
TRAIN_CPU = "train_cpu_seconds"  # CPU time (1 thread): what load inflates least
PROXY_SECONDS = "zc_seconds"  # a trained trial's own proxies (nasforge.proxies.candidate)


class _Stop(Exception):  # noqa: N818 -- control flow, not an error
    """Raised by the tracker to end a run once it reached the target or spent its cap."""


@dataclass
class Tracker:
    """Sums compute over finished trials and stops the run at the target or the cap.
    `extra` holds compute spent outside trials (the pre-filter's pool scoring)."""

    target: float
    cap: float
    epochs: int
    extra: list[float] = field(default_factory=list)
    compute: float = 0.0
    best: float = -math.inf
    trials: int = 0
    full: int = 0
    stopped: int = 0
    reached_at: float | None = None
    trajectory: list[tuple[float, float]] = field(default_factory=list)

    def on_start(self, search: SearchRecord, history: Sequence[TrialRecord]) -> None:
        """Nothing to replay: each run starts a new search."""

    def on_trial(self, record: TrialRecord) -> None:
        self.add(record.state, record.metrics)

    def add(self, state: TrialState, metrics: Mapping[str, float]) -> None:
        if not state.is_finished:
            return
        self.trials += 1
        self.compute += metrics.get(TRAIN_CPU, 0.0) + metrics.get(PROXY_SECONDS, 0.0)
        self.compute += sum(self.extra)
        self.extra.clear()
        if (state is TrialState.COMPLETE and "accuracy" in metrics
                and metrics.get("epochs") == self.epochs):  # halving's low rungs do not count
            self.full += 1
            self.best = max(self.best, metrics["accuracy"])
        elif state is TrialState.PRUNED:
            self.stopped += 1
        self.trajectory.append((round(self.compute, 3), round(self.best, 4)))
        if self.best >= self.target:
            self.reached_at = self.compute
            raise _Stop()
        if self.compute >= self.cap:
            raise _Stop()

    def summary(self) -> dict[str, Any]:
        return {"compute_to_target": None if self.reached_at is None
                else round(self.reached_at, 2),
                "compute": round(self.compute, 2), "best": round(self.best, 4),
                "trials": self.trials, "full_trainings": self.full, "stopped": self.stopped}


class ChargedEvaluator:
    """The local evaluator, with a failed candidate charged the seconds it took (a FAILED
    result carries no ``train_cpu_seconds``) and, given a `memo`, full trainings kept by
    (training config, arch_id). With a memo the rule of early stopping is never passed
    (runs with early stopping train for real)."""

    def __init__(self, inner: Any, memo: dict[tuple[str, str], EvalResult] | None,
                 key: str) -> None:
        self.inner, self.memo, self.key = inner, memo, key
        self.stops_early = memo is None and getattr(inner, "stops_early", False)

    def evaluate(self, archs: Sequence[Architecture], stop: Any = None) -> list[EvalResult]:
        if self.memo is None:
            return self._charged(archs, stop)
        missing = [a for a in archs if (self.key, a.arch_id) not in self.memo]
        for arch, result in zip(missing, self._charged(missing, None), strict=True):
            self.memo[(self.key, arch.arch_id)] = result
        return [self.memo[(self.key, a.arch_id)] for a in archs]

    def _charged(self, archs: Sequence[Architecture], stop: Any) -> list[EvalResult]:
        if not archs:
            return []
        began = time.process_time()
        results = (self.inner.evaluate(archs, stop) if stop is not None
                   else self.inner.evaluate(archs))
        share = (time.process_time() - began) / len(archs)
        return [r if r.state is not TrialState.FAILED or TRAIN_CPU in r.metrics
                else EvalResult(r.state, dict(r.metrics, **{TRAIN_CPU: share}), r.curve,
                                r.error) for r in results]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def base_raw(epochs: int, seed: int) -> dict[str, Any]:
    """The example's data and space, `epochs` epochs, accuracy only, nothing but training."""
    example = tomllib.loads(EXAMPLE.read_text())
    training = dict(example["training"], epochs=epochs, device="cpu", threads=1,
                    measure_latency=False, checkpoints="none")
    return {"search": {"name": "ttt", "objectives": ["accuracy:max"], "seed": seed,
                       "budget": 100_000, "batch": 1},
            "data": example["data"], "training": training, "space": example["space"]}


def method_raw(method: str, epochs: int, seed: int) -> dict[str, Any]:
    raw = base_raw(epochs, seed)
    search, training, space = raw["search"], raw["training"], raw["space"]
    search["strategy"] = method.rsplit("+", 1)[-1]
    if method == "halving":
        search["strategy_options"] = {"inner": "random", "eta": 3}
        space["epochs"] = rungs(training.pop("epochs"))
    if "prefilter" in method:
        search["strategy_options"] = {"prefilter": {"proxy": "naswot", "pool": 8}}
    if "curve" in method:
        training["early_stop"] = "curve"
    return raw


def rungs(epochs: int) -> list[int]:
    """Halving's fidelities: `epochs` and its thirds, at least 1 epoch."""
    return sorted({max(1, epochs // 9), max(1, epochs // 3), epochs})


def run_nasforge(config: SearchConfig, dataset: Any, tracker: Tracker,
                 memo: dict[tuple[str, str], EvalResult] | None) -> None:
    from nasforge.evaluator_setup import build_evaluator, pool_scorer
    from nasforge.search import Search
    from nasforge.store import open_store

    key = repr(config.training) + repr(config.strategy_options.get("prefilter"))
    evaluator = ChargedEvaluator(build_evaluator(config, dataset=dataset), memo, key)
    scorer = None
    if "prefilter" in config.strategy_options:
        scorer = timed_scorer(pool_scorer(config, dataset=dataset), tracker.extra)
    store = open_store("sqlite://")
    try:
        Search(config, store, evaluator, observer=tracker, scorer=scorer).run()
    except _Stop:
        pass
    finally:
        store.close()


def timed_scorer(scorer: Any, spent: list[float]) -> Any:
    """`scorer` that adds the seconds of each call (a pool's proxies) to `spent`."""
    def score(archs: Sequence[Architecture]) -> Any:
        began = time.process_time()
        try:
            return scorer(archs)
        finally:
            spent.append(time.process_time() - began)
    return score


def run_optuna(config: SearchConfig, dataset: Any, tracker: Tracker, epochs: int) -> None:
    """TPE + HyperbandPruner over the same space, each trial trained by `train_candidate`
    with the evaluator's seed, reporting validation accuracy after every epoch."""
    import optuna
    import torch

    from nasforge.evaluator.data.tensors import to_device
    from nasforge.strategies.optuna_space import space_distributions, suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3))
    distributions = space_distributions(config.space)
    data = to_device(dataset, torch.device("cpu"))
    try:
        while True:
            trial = study.ask()
            arch = suggest(trial, config.space, distributions)
            state, metrics = train_reporting(config, data, arch, trial)
            tracker_state = TrialState.PRUNED if state == "pruned" else (
                TrialState.COMPLETE if state == "complete" else TrialState.FAILED)
            if tracker_state is TrialState.COMPLETE:
                study.tell(trial, metrics["accuracy"])
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED
                           if state == "pruned" else optuna.trial.TrialState.FAIL)
            tracker.add(tracker_state, metrics)
    except _Stop:
        pass


def train_reporting(config: SearchConfig, data: Any, arch: Architecture,
                    trial: Any) -> tuple[str, dict[str, float]]:
    """Train `arch` as the local evaluator does (its seed, its loop), reporting validation
    accuracy to `trial` after each epoch and stopping when the pruner says so."""
    from nasforge.errors import NasforgeError
    from nasforge.evaluator.seeding import candidate_seed, seeded
    from nasforge.evaluator.train import TrainingParams, train_candidate
    from nasforge.searchspace.build import build_from_plan
    from nasforge.searchspace.families import plan_for

    def report(curve: Sequence[CurvePoint]) -> dict[str, float] | None:
        point = curve[-1]
        trial.report(point.metrics["val_accuracy"], point.epoch)
        return {} if trial.should_prune() else None

    seed = candidate_seed(config.seed, arch.arch_id)
    began = time.process_time()
    try:
        params = TrainingParams.from_arch(arch)
        plan = plan_for(arch, data.spec)
        with seeded(seed):
            model = build_from_plan(plan)
        outcome = train_candidate(model, data, params, seed=seed, task=data.spec.task,
                                  stop=report)
    except NasforgeError:  # diverged: a failed trial, its time spent
        return "failed", {TRAIN_CPU: time.process_time() - began}
    metrics = {TRAIN_CPU: time.process_time() - began}
    if outcome.stopped is not None:
        return "pruned", metrics
    return "complete", dict(metrics, accuracy=outcome.val_accuracy, epochs=outcome.epochs)


def seed_runs(seed: int, methods: Sequence[str], epochs: int, target: float | None,
              target_trials: int, cap: float,
              memo: dict[tuple[str, str], EvalResult]) -> dict[str, Any]:
    """Phase 1 (`target` None): random search for `target_trials` full trainings, its best
    and compute. Phase 2: every method until the target or `cap` seconds of compute."""
    import torch

    from nasforge.evaluator_setup import load_checked

    torch.set_num_threads(1)
    base = from_dict(method_raw("random", epochs, seed))
    dataset = load_checked(base)
    if target is None:
        tracker = Tracker(target=math.inf, cap=math.inf, epochs=epochs)
        raw = method_raw("random", epochs, seed)
        raw["search"]["budget"] = target_trials
        run_nasforge(from_dict(raw), dataset, tracker, memo)
        return {"best": tracker.best, "compute": tracker.compute,
                "memo": {key: to_wire(result) for key, result in memo.items()}}
    memo = {key: from_wire(wire) for key, wire in memo.items()}
    runs: dict[str, Any] = {}
    for method in methods:
        tracker = Tracker(target=target, cap=cap, epochs=epochs)
        began = time.perf_counter()
        if method == OPTUNA:
            run_optuna(from_dict(method_raw("random", epochs, seed)), dataset, tracker, epochs)
        else:
            config = from_dict(method_raw(method, epochs, seed))
            run_nasforge(config, dataset, tracker, None if "curve" in method else memo)
        runs[method] = dict(tracker.summary(), wall_seconds=round(time.perf_counter() - began, 1))
        print(f"# seed {seed} {method}: {json.dumps(runs[method])}", file=sys.stderr, flush=True)
    return runs


def to_wire(result: EvalResult) -> tuple[Any, ...]:
    """A picklable copy (the frozen mappings of a result are read-only proxies)."""
    return (result.state.value, dict(result.metrics),
            [(p.epoch, dict(p.metrics)) for p in result.curve], result.error)


def from_wire(wire: tuple[Any, ...]) -> EvalResult:
    state, metrics, curve, error = wire
    return EvalResult(TrialState(state), metrics, tuple(CurvePoint(e, m) for e, m in curve),
                      error)


def median_or_none(values: Sequence[float | None]) -> float | None:
    finite = [math.inf if v is None else v for v in values]
    middle = statistics.median(finite) if finite else math.inf
    return None if math.isinf(middle) else round(middle, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds, target from 20 random trainings, 8 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--target-trials", type=int, default=None)
    parser.add_argument("--max-factor", type=float, default=3.0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--jobs", type=int, default=2, help="seeds run in parallel")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 5)
    epochs = args.epochs or (8 if args.quick else 15)
    target_trials = args.target_trials or (20 if args.quick else 60)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    load_start, began = os.getloadavg(), time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        first = list(pool.map(seed_runs, range(seeds), [methods] * seeds, [epochs] * seeds,
                              [None] * seeds, [target_trials] * seeds, [math.inf] * seeds,
                              [{} for _ in range(seeds)]))
        target = statistics.fmean(run["best"] for run in first)
        second = list(pool.map(seed_runs, range(seeds), [methods] * seeds, [epochs] * seeds,
                               [target] * seeds, [target_trials] * seeds,
                               [args.max_factor * run["compute"] for run in first],
                               [run["memo"] for run in first]))
    compute = {m: median_or_none([runs[m]["compute_to_target"] for runs in second])
               for m in methods}
    ours = [compute[m] for m in methods if m != OPTUNA and compute[m] is not None]
    best = min(ours) if ours else None
    out = {
        "benchmark": "time_to_target", "quick": args.quick, "seeds": seeds, "epochs": epochs,
        "target_trials": target_trials, "target": round(target, 4),
        "random_best_per_seed": [round(run["best"], 4) for run in first],
        "compute_to_target": compute,
        "best_nasforge_method": None if best is None else
        next(m for m in methods if compute[m] == best and m != OPTUNA),
        "compute_ratio_vs_random": None if best is None or compute.get("random") is None
        else round(compute["random"] / best, 2),
        "ratio_vs_optuna": None if best is None or compute.get(OPTUNA) is None
        else round(compute[OPTUNA] / best, 2),
        "per_seed": second, "wall_seconds": round(time.perf_counter() - began, 1),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
