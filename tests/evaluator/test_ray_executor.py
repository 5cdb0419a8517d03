"""RayExecutor on a local Ray instance: the inline evaluator's results in input order, a search
with as many trials as inline, an actor death failing only the candidate that causes it; and
clear errors without Ray or without a reachable cluster.

One Ray instance (2 CPUs, a 200 MB object store) and one executor of two actors serve the
checks that need Ray, all in one test (xdist would otherwise start an instance per worker):
starting Ray costs about 4 s here and each actor a second or two (an interpreter and torch).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
import torch
from evaluator_helpers import assert_same_results, distinct_archs

from nasforge.config import from_dict
from nasforge.errors import NasforgeError
from nasforge.evaluator.executors import ray as ray_module
from nasforge.evaluator.executors.pool import InlineExecutor
from nasforge.evaluator.executors.ray import RayExecutor, RayExecutorError
from nasforge.evaluator_setup import EvaluatorRecipe, build_evaluator, load_checked
from nasforge.records import EvalResult, TrialState
from nasforge.search import Search
from nasforge.searchspace.architecture import Architecture
from nasforge.store import open_store

ray = pytest.importorskip("ray")
# the actors cannot import this test module: its recipe and wrapper travel by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

RAW = {
    "search": {"name": "ray", "budget": 5, "objectives": ["accuracy:max"], "seed": 3},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1, "measure_latency": False},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none", "batch"],
              "lr": {"low": 1e-3, "high": 1e-2, "log": True},
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}
NOT_COMPARED = {"train_seconds", "train_cpu_seconds", "latency_ms", "latency_ms_p90",
                "throughput", "chunk", "pid"}
CRASH_LR = 0.00123  # a test-only marker: an architecture with this lr kills its actor


class Crashing:
    """Wraps an evaluator; os._exit on an architecture with lr CRASH_LR; adds to each result
    the size of the batch it came in (`chunk`) and the actor's process id (`pid`)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        if any(arch["lr"] == CRASH_LR for arch in archs):
            os._exit(3)
        return [EvalResult(r.state, {**r.metrics, "chunk": len(archs), "pid": os.getpid()},
                           r.curve, r.error) for r in self.inner.evaluate(archs)]


@dataclass(frozen=True)
class CrashingRecipe:
    recipe: EvaluatorRecipe

    def __call__(self) -> Crashing:
        return Crashing(self.recipe())


def archs(n: int, seed: int = 0) -> list[Architecture]:
    return distinct_archs(RAW, n, seed)


def assert_same(got: Sequence[EvalResult], expected: Sequence[EvalResult]) -> None:
    assert_same_results(got, expected, NOT_COMPARED)


@pytest.fixture(scope="module")
def executor():
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=200 * 2**20, log_to_driver=False)
    try:
        config = from_dict(RAW)
        recipe = CrashingRecipe(EvaluatorRecipe.of(config, dataset=load_checked(config)))
        with RayExecutor(recipe, slots=2) as executor:  # reuses this process's Ray
            yield executor
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def expected() -> dict[str, EvalResult]:
    """The inline evaluator's result of each of archs(4), trained alone, by arch_id."""
    inline = build_evaluator(from_dict(RAW))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the actors' thread count (cpus_per_candidate = 1)
    try:
        return {arch.arch_id: inline.evaluate([arch])[0] for arch in archs(4)}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_on_a_local_ray_instance(executor, expected, tmp_path):
    """One test, so that `pytest -n 2` never starts two Ray instances for this module."""
    check_matches_inline_in_input_order_one_chunk_per_actor(executor, expected)
    check_a_search_on_ray_runs_as_many_trials_as_inline(executor, tmp_path)
    check_an_actor_death_fails_only_the_candidate_that_causes_it(executor, expected)


def check_matches_inline_in_input_order_one_chunk_per_actor(executor, expected):
    candidates = archs(4)
    handed: dict[int, EvalResult] = {}  # streamed: each chunk's results as they arrive
    got = executor.evaluate(candidates, on_result=handed.setdefault)
    assert sorted(handed) == [0, 1, 2, 3] and all(handed[i] is got[i] for i in range(4))
    assert [r.state for r in got] == [TrialState.COMPLETE] * 4
    assert_same(got, [expected[a.arch_id] for a in candidates])
    assert [r.metrics["chunk"] for r in got] == [2, 2, 2, 2]  # chunks (0, 1) and (2, 3)
    pids = [r.metrics["pid"] for r in got]
    assert pids[0] == pids[1] != pids[2] == pids[3] != os.getpid()
    assert executor.evaluate([]) == [] and executor.slots == 2


def check_a_search_on_ray_runs_as_many_trials_as_inline(executor, tmp_path):
    config = from_dict(RAW)
    outcomes, trials = [], []
    for name, evaluator in (("inline", InlineExecutor(build_evaluator(config))),
                            ("ray", executor)):
        store = open_store(f"sqlite:///{tmp_path / name}.db")
        try:
            outcomes.append(Search(config, store, evaluator).run())
            trials.append(store.trials("ray"))
        finally:
            store.close()
    inline, on_ray = outcomes
    assert (on_ray.complete, on_ray.failed) == (inline.complete, inline.failed)
    assert on_ray.complete + on_ray.failed == len(trials[1]) == RAW["search"]["budget"]
    assert all(t.state is TrialState.COMPLETE for t in trials[1])


def check_an_actor_death_fails_only_the_candidate_that_causes_it(executor, expected):
    healthy = archs(4)
    before = executor.replaced
    batch = [healthy[0], healthy[1].replace(lr=CRASH_LR), healthy[2], healthy[3]]
    handed: list[int] = []
    got = executor.evaluate(batch, on_result=lambda i, r: handed.append(i))
    # chunk (0, 1) dies; 0 and 1 run again alone; every result is handed over once
    assert sorted(handed) == [0, 1, 2, 3]
    assert [r.state for r in got] == [TrialState.COMPLETE, TrialState.FAILED,
                                     TrialState.COMPLETE, TrialState.COMPLETE]
    assert got[1].error.startswith("ray worker died (")
    assert got[1].error.endswith("while evaluating this candidate; the actor was replaced")
    assert [r.metrics["chunk"] for r in (got[0], got[2], got[3])] == [1, 2, 2]
    assert_same([got[0], got[2], got[3]], [expected[healthy[i].arch_id] for i in (0, 2, 3)])
    assert executor.replaced == before + 2  # the chunk's death, then the crasher's own task
    assert [r.state for r in executor.evaluate(healthy[:2])] == [TrialState.COMPLETE] * 2


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    executor = RayExecutor(CrashingRecipe(EvaluatorRecipe({})), slots=2)  # stores only
    with pytest.raises(RayExecutorError, match=r'pip install "nasforge\[ray\]"'):
        executor.evaluate(archs(1))
    assert isinstance(RayExecutorError("x"), NasforgeError)


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_unreachable_address_is_a_clear_error(monkeypatch, address):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    monkeypatch.setattr(ray, "init", lambda **kw: pytest.fail("ray.init must not be reached"))
    executor = RayExecutor(EvaluatorRecipe({}), address=address, connect_timeout=2)
    with pytest.raises(RayExecutorError, match=rf"--ray-address {address}: nothing accepts "
                                               r"connections at 127\.0\.0\.1:1.*ray start "
                                               r"--head.*--executor local"):
        executor.start()


def test_ray_init_errors_are_wrapped_and_only_own_connections_are_shut_down(monkeypatch):
    calls: list[object] = []

    def no_cluster(**kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    with pytest.raises(RayExecutorError, match="could not start or reach --ray-address auto: "
                                               "ConnectionError: Could not find"):
        RayExecutor(EvaluatorRecipe({}), address="auto").start()
    assert calls == []  # it never connected: nothing to shut down

    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    local = RayExecutor(EvaluatorRecipe({}), slots=2)
    local._connect(ray)  # a local instance sized for the actors, ignoring RAY_ADDRESS
    assert calls == [{"address": "local", "num_cpus": max(2, ray_module.cpu_count()),
                      "include_dashboard": False}]
    local.close()
    assert calls[-1] == "shutdown"
    with pytest.raises(RayExecutorError, match="need 2 GPUs; the Ray instance has 0"):
        RayExecutor(EvaluatorRecipe({}), slots=2, gpus_per_candidate=1)._connect(ray)

    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # connected by someone else
    calls.clear()
    borrowed = RayExecutor(EvaluatorRecipe({}), address="auto")
    borrowed._connect(ray)
    borrowed.close()
    assert calls == []


@pytest.mark.parametrize("bad", [{"slots": 0}, {"slots": True}, {"gpus_per_candidate": -1},
                                 {"cpus_per_candidate": "1"}])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(NasforgeError, match="use a"):
        RayExecutor(EvaluatorRecipe({}), **bad)


@pytest.mark.parametrize("resources, gpus", [({"CPU": 2.0}, 0.0), ({"CPU": 8.0, "GPU": 4.0},
                                                                   1.0)])
def test_auto_gpus_take_one_gpu_per_candidate_where_the_cluster_has_gpus(monkeypatch, resources,
                                                                         gpus):
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    executor = RayExecutor(EvaluatorRecipe({}), address="auto", gpus_per_candidate=None)
    executor._connect(ray)
    assert executor.gpus_per_candidate == gpus


@pytest.mark.parametrize("device, gpus", [("auto", None), ("cpu", 0.0), ("cuda", 1.0),
                                          ("cuda:1", 1.0)])
def test_make_executor_asks_ray_for_gpus_by_the_configured_device(device, gpus):
    from nasforge.evaluator_setup import make_executor

    config = from_dict({**RAW, "training": {**RAW["training"], "device": device}})
    executor = make_executor(config, 2, executor="ray")  # constructed only: nothing starts
    assert isinstance(executor, RayExecutor) and executor.gpus_per_candidate == gpus
