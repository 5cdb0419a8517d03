"""Executors: the worker pool returns what the inline evaluator returns, in input order, and a
worker that dies in a candidate fails that candidate only (the pool replaces it).

One pool serves the module (spawning a worker costs about 2 s: a fresh interpreter and torch).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from nasforge.config import from_dict
from nasforge.errors import NasforgeError
from nasforge.evaluator import executor as executor_module
from nasforge.evaluator.executor import (
    InlineExecutor,
    WorkerPool,
    WorkerStartError,
    threads_per_worker,
    worker_envs,
)
from nasforge.records import EvalResult, TrialState
from nasforge.search import EvaluatorRecipe, build_evaluator, load_checked, make_executor
from nasforge.searchspace.architecture import Architecture

pytestmark = pytest.mark.slow

RAW = {
    "search": {"name": "pool", "budget": 6, "objectives": ["accuracy:max"], "seed": 3},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1, "measure_latency": False},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none", "batch"],
              "lr": {"low": 1e-3, "high": 1e-2, "log": True},
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}
TIMING = {"train_seconds", "latency_ms", "throughput"}
#: a test-only marker: an architecture with this lr makes the worker die
CRASH_LR = {"exit": 0.00123, "sigkill": 0.00456}


class Crashing:
    """Wraps an evaluator; dies (os._exit or SIGKILL) on an architecture with a CRASH_LR lr."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        for arch in archs:
            if arch["lr"] == CRASH_LR["exit"]:
                os._exit(3)
            if arch["lr"] == CRASH_LR["sigkill"]:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.evaluate(archs)


@dataclass(frozen=True)
class CrashingRecipe:
    recipe: EvaluatorRecipe

    def __call__(self) -> Crashing:
        return Crashing(self.recipe())


@dataclass(frozen=True)
class BrokenRecipe:
    def __call__(self):
        raise ValueError("no data here")


def archs(n: int, seed: int = 0) -> list[Architecture]:
    space = from_dict(RAW).space
    rng = np.random.default_rng(seed)
    out: list[Architecture] = []
    while len(out) < n:
        arch = space.sample(rng)
        if arch not in out:
            out.append(arch)
    return out


def without_timing(result: EvalResult) -> tuple:
    return (result.state, {k: v for k, v in result.metrics.items() if k not in TIMING},
            [(p.epoch, dict(p.metrics)) for p in result.curve], result.error)


@pytest.fixture(scope="module")
def pool():
    config = from_dict(RAW)  # the workers get the dataset, as the CLI sends it
    recipe = CrashingRecipe(EvaluatorRecipe.of(config, dataset=load_checked(config)))
    pool = WorkerPool(2, recipe, threads=1)
    with pool:
        yield pool


def test_pool_matches_inline_in_input_order_and_survives_worker_deaths(pool):
    candidates = archs(4)
    inline = build_evaluator(from_dict(RAW))
    threads = torch.get_num_threads()
    torch.set_num_threads(pool.threads)  # bitwise equality needs the workers' thread count
    try:
        expected = [inline.evaluate([arch])[0] for arch in candidates]  # each one alone
    finally:
        torch.set_num_threads(threads)
    assert all(r.state is TrialState.COMPLETE for r in expected)

    got = pool.evaluate(candidates)
    assert [without_timing(r) for r in got] == [without_timing(r) for r in expected]
    first_pids = set(pool.pids)

    exits = candidates[0].replace(lr=CRASH_LR["exit"])
    killed = candidates[1].replace(lr=CRASH_LR["sigkill"])
    batch = [candidates[2], exits, killed, candidates[3]]
    got = pool.evaluate(batch)
    assert [r.state for r in got] == [TrialState.COMPLETE, TrialState.FAILED,
                                     TrialState.FAILED, TrialState.COMPLETE]
    assert "worker process died (exit code 3)" in got[1].error
    assert "worker process died" in got[2].error and "SIGKILL" in got[2].error
    assert [without_timing(got[i]) for i in (0, 3)] == [
        without_timing(expected[i]) for i in (2, 3)]
    assert pool.replaced == 2 and len(pool.pids) == 2 and set(pool.pids) != first_pids

    # the replaced workers evaluate as before
    again = pool.evaluate(candidates[:2])
    assert [without_timing(r) for r in again] == [without_timing(r) for r in expected[:2]]
    assert pool.evaluate([]) == []


def test_an_interrupt_while_waiting_closes_the_pool(pool, monkeypatch):
    """Runs after the test above (same module pool): Ctrl-C ends every worker."""
    pool.start()
    processes = [w.process for w in pool._workers]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(executor_module, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pool.evaluate(archs(1))
    assert pool.pids == [] and not any(p.is_alive() for p in processes)
    pool.close()  # idempotent


def test_a_recipe_that_fails_in_the_worker_is_a_clear_error():
    with pytest.raises(WorkerStartError, match="could not build its evaluator: ValueError: "
                                               "no data here"):
        WorkerPool(1, BrokenRecipe(), threads=1).start()


@pytest.mark.parametrize("n", [0, -2, True, 1.5])
def test_bad_worker_counts_are_refused(n):
    with pytest.raises(NasforgeError, match="whole number >= 1"):
        WorkerPool(n, BrokenRecipe())
    with pytest.raises(NasforgeError, match="whole number >= 1"):
        make_executor(from_dict(RAW), n)


def test_threads_and_device_assignment():
    assert threads_per_worker(2, cores=2) == 1 and threads_per_worker(4, cores=2) == 1
    assert threads_per_worker(2, cores=16) == 8
    assert worker_envs(2, gpus=0) == [{}, {}]
    assert worker_envs(3, gpus=2) == [{"CUDA_VISIBLE_DEVICES": "0"},
                                      {"CUDA_VISIBLE_DEVICES": "1"},
                                      {"CUDA_VISIBLE_DEVICES": "0"}]


def test_inline_executor_and_make_executor():
    class Echo:
        def evaluate(self, archs):
            return [EvalResult(TrialState.COMPLETE, {"n": i}) for i, _ in enumerate(archs)]

    inline = make_executor(from_dict(RAW), 1, evaluator=Echo())
    assert isinstance(inline, InlineExecutor) and inline.slots == 1
    assert [r.metrics["n"] for r in inline.evaluate(archs(2))] == [0.0, 1.0]
    pool = make_executor(from_dict(RAW), 3)
    assert isinstance(pool, WorkerPool) and pool.slots == 3 and pool.pids == []  # not started
