"""FrontPruner: checkpoint pruning that reads the history once and then compares only what
changed keeps exactly what a full `prune` keeps, across rounds, a resume and two workers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nasforge.checkpoint_policy import Checkpoints, FrontPruner, prune
from nasforge.config import from_dict
from nasforge.records import EvalResult, TrialRecord, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store
from nasforge.strategies.pareto import pareto_front

RAW = {
    "search": {"name": "s", "budget": 60, "objectives": ["accuracy:max", "params:min"],
               "seed": 3},
    "data": {"dataset": "digits"},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none"],
              "lr": {"low": 1e-4, "high": 1e-1, "log": True},
              "mlp": {"depth": {"low": 1, "high": 3}, "width": [8, 16, 32]}},
}


class RandomWriting:
    """Random metrics (a few NaN); a file per candidate under `folder`."""

    def __init__(self, folder: Path, seed: int) -> None:
        self.folder, self.rng = folder, np.random.default_rng(seed)

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        out = []
        for arch in archs:
            path = self.folder / f"{arch.arch_id}.pt"
            path.write_bytes(b"w")
            accuracy = float("nan") if self.rng.random() < 0.05 else float(self.rng.random())
            out.append(EvalResult(TrialState.COMPLETE, {
                "accuracy": accuracy, "params": float(self.rng.integers(1, 50))},
                checkpoint=str(path)))
        return out


class CountingStore:
    """Counts `trials` reads of COMPLETE trials (what a full prune does)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.full_reads = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def trials(self, name: str, states: Any = None, *args: Any, **kwargs: Any) -> Any:
        if states is not None and list(states) == [TrialState.COMPLETE] \
                and not kwargs.get("numbers"):
            self.full_reads += 1
        return self.inner.trials(name, states, *args, **kwargs)


def front_numbers(trials: list[TrialRecord], objectives: Sequence[Any]) -> set[int]:
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    return {complete[i].number for i in pareto_front([t.metrics for t in complete], objectives)}


def check_kept_is_front(store: Any, ckpt: Checkpoints, objectives: Sequence[Any]) -> None:
    trials = store.trials("s")
    front = front_numbers(trials, objectives)
    assert {t.number for t in trials if t.checkpoint} == front
    assert {p.name for p in ckpt.folder.iterdir()} == {
        f"{t.arch_id}.pt" for t in trials if t.number in front}


@pytest.mark.parametrize("batch", [1, 4])
def test_a_search_reads_the_history_once_and_keeps_exactly_the_front(
        tmp_path: Path, batch: int) -> None:
    cfg = from_dict({**RAW, "search": {**RAW["search"], "batch": batch}})
    ckpt = Checkpoints(tmp_path / "root", "s")
    with open_store(f"sqlite:///{tmp_path / 'n.db'}") as inner:
        store = CountingStore(inner)
        Search(cfg, store, RandomWriting(ckpt.folder, 0), checkpoints=ckpt).run()
        assert store.full_reads == 2  # pruning's first read, and the outcome's front
        check_kept_is_front(inner, ckpt, cfg.objectives)


def test_resume_cleans_up_what_a_crash_left_and_goes_on(tmp_path: Path) -> None:
    """A crash after trials were stored with their paths but before pruning: the resumed
    search's first read prunes them, and the end state is the front of all trials."""
    cfg = from_dict(RAW)
    ckpt = Checkpoints(tmp_path / "root", "s")
    with open_store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        store.create_search("s", cfg.objectives, 60, cfg.raw)
        crashed = RandomWriting(ckpt.folder, 1)
        archs = [Architecture({"family": "mlp", "x": i}) for i in range(10)]
        for trial, result in zip(store.add_trials("s", archs, TrialState.RUNNING),
                                 crashed.evaluate(archs), strict=True):
            store.finish("s", trial.number, EvalResult(
                result.state, result.metrics, checkpoint=ckpt.relative(result.checkpoint)))
        Search(cfg, store, RandomWriting(ckpt.folder, 2), checkpoints=ckpt, resume=True).run()
        assert len(store.trials("s")) == 60
        check_kept_is_front(store, ckpt, cfg.objectives)


def test_two_workers_prune_to_the_front_of_both(tmp_path: Path) -> None:
    """Two pruners on one search, each storing its own trials and noting the other's (as
    `SharedHistory.news` hands them over): together they keep exactly the front."""
    cfg = from_dict(RAW)
    ckpt = Checkpoints(tmp_path / "root", "s")
    with open_store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        store.create_search("s", cfg.objectives, 100, cfg.raw)
        pruners = [FrontPruner(store, cfg.objectives, ckpt) for _ in range(2)]
        writers = [RandomWriting(ckpt.folder, seed) for seed in (5, 6)]
        for step in range(40):
            me = step % 2
            arch = Architecture({"family": "mlp", "x": step})
            (trial,) = store.add_trials("s", [arch], TrialState.RUNNING)
            (result,) = writers[me].evaluate([arch])
            result = EvalResult(result.state, result.metrics,
                                checkpoint=ckpt.relative(result.checkpoint))
            kept = pruners[me].unkept(result)
            record = store.finish("s", trial.number, kept)
            if kept.checkpoint is None:
                pruners[me].discard(result.checkpoint)
            else:
                pruners[me].note([record])
            pruners[1 - me].note([record])
            pruners[me].prune()
        for pruner in pruners:
            pruner.prune()
        check_kept_is_front(store, ckpt, cfg.objectives)
        assert prune(store, cfg.objectives, ckpt) == []  # nothing left for a full prune


def test_a_dominated_result_is_stored_without_its_path(tmp_path: Path) -> None:
    cfg = from_dict(RAW)
    ckpt = Checkpoints(tmp_path / "root", "s")
    with open_store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        store.create_search("s", cfg.objectives, 10, cfg.raw)
        pruner = FrontPruner(store, cfg.objectives, ckpt)
        good, worse, equal = (EvalResult(TrialState.COMPLETE, {"accuracy": a, "params": p},
                                         checkpoint=f"s/{c}.pt")
                              for a, p, c in ((0.9, 1.0, "a"), (0.5, 2.0, "b"), (0.9, 1.0, "c")))
        failed = EvalResult(TrialState.FAILED, {}, error="boom", checkpoint="s/d.pt")
        assert pruner.unkept(good) is good  # an empty front dominates nothing
        (trial,) = store.add_trials("s", [Architecture({"x": 1})], TrialState.RUNNING)
        pruner.note([store.finish("s", trial.number, good)])
        assert pruner.prune() == []
        assert pruner.unkept(worse).checkpoint is None
        assert pruner.unkept(equal) is equal  # equal rows share the front
        assert pruner.unkept(failed) is failed  # only COMPLETE trials are pruned
