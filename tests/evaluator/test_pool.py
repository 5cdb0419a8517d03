"""Executors: the worker pool returns what the inline evaluator returns, in input order; it
sends whole chunks to its workers (groups of `group_key` kept together), and a worker that
dies in a chunk re-runs the chunk's candidates alone, failing only the one that kills it.

One pool serves the module (a spawned worker costs about 2 s: a fresh interpreter and torch).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
import torch
from evaluator_helpers import assert_same_results, blobs, distinct_archs

from nasforge.config import from_dict
from nasforge.errors import NasforgeError
from nasforge.evaluator.executors import chunks as chunks_module
from nasforge.evaluator.executors import pool as executor_module
from nasforge.evaluator.executors.chunks import plan_chunks
from nasforge.evaluator.executors.pool import (
    InlineExecutor,
    WorkerPool,
    WorkerStartError,
    threads_per_worker,
    worker_envs,
)
from nasforge.evaluator.executors.start import SERVER_EXIT
from nasforge.evaluator.executors.worker import evaluate_chunk
from nasforge.evaluator.local import LocalEvaluator
from nasforge.evaluator_setup import (
    EvaluatorRecipe,
    build_evaluator,
    fusion_key,
    load_checked,
    make_executor,
)
from nasforge.records import EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture

RAW = {
    "search": {"name": "pool", "budget": 6, "objectives": ["accuracy:max"], "seed": 3},
    "data": {"dataset": "digits"},
    "training": {"epochs": 1, "measure_latency": False},
    "space": {"families": ["mlp"], "activation": ["relu", "gelu"], "norm": ["none", "batch"],
              "lr": {"low": 1e-3, "high": 1e-2, "log": True},
              "mlp": {"depth": {"low": 1, "high": 2}, "width": [8, 16, 32]}},
}
#: metrics that vary between runs, or that the Crashing wrapper adds
NOT_COMPARED = {"train_seconds", "train_cpu_seconds", "latency_ms", "latency_ms_p90",
                "throughput", "chunk", "pid", "lr"}
#: a test-only marker: an architecture with this lr makes the worker die
CRASH_LR = {"exit": 0.00123, "sigkill": 0.00456}


class Crashing:
    """Wraps an evaluator; dies (os._exit or SIGKILL) on an architecture with a CRASH_LR lr.
    Adds to each result the size of the batch it came in (`chunk`), the process (`pid`) and
    the architecture's lr (`lr`: which candidate a result is for)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        for arch in archs:
            if arch["lr"] == CRASH_LR["exit"]:
                os._exit(3)
            if arch["lr"] == CRASH_LR["sigkill"]:
                os.kill(os.getpid(), signal.SIGKILL)
        return [EvalResult(r.state, {**r.metrics, "chunk": len(archs), "pid": os.getpid(),
                                     "lr": arch["lr"]}, r.curve, r.error)
                for arch, r in zip(archs, self.inner.evaluate(archs), strict=True)]


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
    return distinct_archs(RAW, n, seed)


def assert_same(got: Sequence[EvalResult], expected: Sequence[EvalResult]) -> None:
    assert_same_results(got, expected, NOT_COMPARED)


@pytest.fixture(scope="module")
def pool():
    config = from_dict(RAW)  # the workers get the dataset, as the CLI sends it
    recipe = CrashingRecipe(EvaluatorRecipe.of(config, dataset=load_checked(config)))
    pool = WorkerPool(2, recipe, threads=1)
    with pool:
        yield pool


@pytest.fixture(scope="module")
def expected() -> dict[str, EvalResult]:
    """The inline evaluator's result of each of archs(4), each trained alone, by arch_id."""
    inline = build_evaluator(from_dict(RAW))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the pool's workers' thread count
    try:
        return {arch.arch_id: inline.evaluate([arch])[0] for arch in archs(4)}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_pool_sends_whole_chunks_and_matches_inline_in_input_order(pool, expected):
    candidates = archs(4)
    assert all(expected[a.arch_id].state is TrialState.COMPLETE for a in candidates)
    got = pool.evaluate(candidates)
    assert_same(got, [expected[a.arch_id] for a in candidates])
    assert [r.metrics["lr"] for r in got] == [a["lr"] for a in candidates]
    # no group key: two chunks of two, each in one evaluate call of one worker
    assert [r.metrics["chunk"] for r in got] == [2, 2, 2, 2]
    pids = [r.metrics["pid"] for r in got]
    assert pids[0] == pids[1] != pids[2] == pids[3]
    assert pool.evaluate([]) == []


@pytest.mark.slow
def test_a_crash_in_a_chunk_reruns_its_chunk_mates_alone(pool, expected):
    healthy = archs(4)
    first_pids = set(pool.pids)
    exits = healthy[0].replace(lr=CRASH_LR["exit"])
    killed = healthy[1].replace(lr=CRASH_LR["sigkill"])
    batch = [healthy[2], exits, healthy[3], killed]  # chunks (0, 1) and (2, 3) both die
    got = pool.evaluate(batch)
    assert [r.state for r in got] == [TrialState.COMPLETE, TrialState.FAILED,
                                     TrialState.COMPLETE, TrialState.FAILED]
    assert "worker process died (exit code 3)" in got[1].error
    assert "worker process died" in got[3].error and "SIGKILL" in got[3].error
    assert "while evaluating this candidate" in got[3].error
    assert_same([got[0], got[2]], [expected[healthy[i].arch_id] for i in (2, 3)])
    assert got[0].metrics["chunk"] == got[2].metrics["chunk"] == 1  # re-run alone
    # each chunk's death, then each crasher's own task
    assert pool.replaced == 4 and len(pool.pids) == 2 and not set(pool.pids) & first_pids


@pytest.mark.slow
def test_group_key_keeps_a_group_in_one_chunk(pool, monkeypatch):
    # interleaved: a split by position would mix the two groups in both chunks
    batch = [a.replace(activation=("relu", "gelu")[i % 2]) for i, a in enumerate(archs(6))]
    monkeypatch.setattr(pool, "group_key", lambda arch: arch["activation"])
    # both workers ready: a worker that the crash test replaced may still be starting, and
    # the other would then take both chunks (seen under load)
    pool.close()
    pool.start()
    got = pool.evaluate(batch)
    assert [r.state for r in got] == [TrialState.COMPLETE] * 6
    assert [r.metrics["lr"] for r in got] == [a["lr"] for a in batch]  # input order
    assert all(r.metrics["chunk"] == 3 for r in got)
    pids = [r.metrics["pid"] for r in got]
    assert len(set(pids[0::2])) == len(set(pids[1::2])) == 1 and pids[0] != pids[1]


@pytest.mark.slow
def test_several_chunks_a_worker_go_out_costliest_first(pool, monkeypatch):
    sent: list[list[tuple[int, ...]]] = []
    real = chunks_module.costliest_first

    def spy(chunks, archs, cost_key):
        sent.append(real(chunks, archs, cost_key))
        return sent[-1]

    monkeypatch.setattr(chunks_module, "costliest_first", spy)
    monkeypatch.setattr(pool, "chunks_per_worker", 2)
    monkeypatch.setattr(pool, "cost_key", lambda arch: arch["lr"])
    batch = archs(4)
    got = pool.evaluate(batch)
    assert [r.state for r in got] == [TrialState.COMPLETE] * 4
    assert [r.metrics["lr"] for r in got] == [a["lr"] for a in batch]  # input order
    assert all(r.metrics["chunk"] == 1 for r in got)  # 2 workers x 2 chunks: one each
    first = [batch[chunk[0]]["lr"] for chunk in sent[0]]
    assert len(sent) == 1 and first == sorted(first, reverse=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a fork server on Linux only")
def test_cpu_pools_fork_from_a_server_and_gpu_pools_spawn() -> None:
    def method(**kwargs: object) -> str:
        return WorkerPool(2, EvaluatorRecipe({}), **kwargs)._context.get_start_method()

    assert method() == "forkserver"
    assert method(gpus=1) == method(fork_server=False) == "spawn"  # "cuda:N": no gpus given


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a fork server on Linux only")
def test_the_fork_server_preloads_torch_compile_only_for_a_search_that_compiles(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Training imports no `torch._dynamo` (`kernel_optimizer`); torch.compile does, in
    every worker unless the server has it."""
    import multiprocessing.context

    from nasforge.evaluator_setup import make_executor

    asked: list[list[str]] = []
    monkeypatch.setattr(multiprocessing.context.ForkServerContext, "set_forkserver_preload",
                        lambda self, modules: asked.append(list(modules)))
    WorkerPool(2, EvaluatorRecipe({}))
    assert "torch" in asked[-1] and "torch._dynamo" not in asked[-1]
    make_executor(from_dict({**RAW, "training": {**RAW["training"], "compile": True}}), 2)
    assert "torch._dynamo" in asked[-1]
    # last, so that its exit handler runs first (`server_exit`)
    assert asked[0][-1] == asked[1][-1] == SERVER_EXIT


def test_a_worker_gets_the_environment_its_pool_has_when_it_starts(monkeypatch) -> None:
    """A forked worker would otherwise keep the fork server's, from the server's start."""
    sent: list[dict[str, str]] = []
    pool = WorkerPool(2, EvaluatorRecipe({}), gpus=2)

    class Process:
        def __init__(self, target: object, args: tuple, **kwargs: object) -> None:
            sent.append(args[3])

        def start(self) -> None:
            return None

    monkeypatch.setattr(pool._context, "Process", Process)
    monkeypatch.setenv("NASFORGE_CACHE_DIR", "/somewhere/new")
    pool._spawn(1)
    assert sent[0]["NASFORGE_CACHE_DIR"] == "/somewhere/new"
    assert sent[0]["CUDA_VISIBLE_DEVICES"] == "1" and sent[0]["PATH"] == os.environ["PATH"]


@pytest.mark.slow
def test_a_planner_s_chunks_reach_the_workers_whole_and_in_its_order(pool, monkeypatch):
    asked: list[int] = []

    def planner(batch, workers):
        asked.append(workers)
        return [(4,), (0, 2, 3), (1,)]

    monkeypatch.setattr(pool, "planner", planner)
    batch = archs(5)
    got = pool.evaluate(batch)
    assert asked == [2] and [r.state for r in got] == [TrialState.COMPLETE] * 5
    assert [r.metrics["lr"] for r in got] == [a["lr"] for a in batch]  # input order
    assert [r.metrics["chunk"] for r in got] == [3, 1, 3, 3, 1]
    assert got[0].metrics["pid"] == got[2].metrics["pid"] == got[3].metrics["pid"]


WAIT_LR = 0.00789  # a test-only marker: the worker waits for `Waiting.path` to exist


class Waiting:
    """Wraps an evaluator; on an architecture with WAIT_LR it first waits (up to 20 s) for
    `path` to exist, and reports whether it did (`saw_file`)."""

    def __init__(self, inner, path: str) -> None:
        self.inner, self.path = inner, path

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        seen = 0.0
        if any(arch["lr"] == WAIT_LR for arch in archs):
            deadline = time.monotonic() + 20
            while not os.path.exists(self.path) and time.monotonic() < deadline:
                time.sleep(0.01)
            seen = float(os.path.exists(self.path))
        return [EvalResult(r.state, {**r.metrics, "saw_file": seen}, r.curve, r.error)
                for r in self.inner.evaluate(archs)]


@dataclass(frozen=True)
class WaitingRecipe:
    recipe: EvaluatorRecipe
    path: str

    def __call__(self) -> Waiting:
        return Waiting(self.recipe(), self.path)


@pytest.mark.slow
def test_each_chunk_s_results_reach_on_result_while_other_chunks_still_train(tmp_path):
    """The callback gets the fast chunk's result while the other chunk's worker waits for
    the file that the callback writes: without streaming it would wait in vain."""
    config = from_dict(RAW)
    flag = tmp_path / "first-result-arrived"
    recipe = WaitingRecipe(EvaluatorRecipe.of(config, dataset=load_checked(config)), str(flag))
    batch = archs(2)
    batch[0] = batch[0].replace(lr=WAIT_LR)
    seen: list[int] = []

    def on_result(position: int, result: EvalResult) -> None:
        seen.append(position)
        flag.touch()

    with WorkerPool(2, recipe, threads=1, planner=lambda archs, workers: [(0,), (1,)]) as pool:
        got = pool.evaluate(batch, on_result=on_result)
    assert seen == [1, 0]
    assert got[0].metrics["saw_file"] == 1.0
    assert [r.state for r in got] == [TrialState.COMPLETE] * 2


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_recipe_that_fails_in_the_worker_is_a_clear_error():
    with pytest.raises(WorkerStartError, match="could not build its evaluator: ValueError: "
                                               "no data here"):
        WorkerPool(1, BrokenRecipe(), threads=1).start()


@pytest.mark.slow
def test_launch_returns_while_the_workers_spawn_and_start_waits(monkeypatch):
    """`launch` spawns in the background (the CLI opens the store meanwhile, while a fork
    server that is still importing holds each spawn); `start` waits for the spawns and then
    for each worker's evaluator, so a worker that cannot build it fails there, and its pool
    ends."""
    pool = WorkerPool(2, BrokenRecipe(), threads=1)
    spawn, release = pool._spawn, threading.Event()

    def held(index):
        assert release.wait(5)
        return spawn(index)

    monkeypatch.setattr(pool, "_spawn", held)
    pool.launch()  # returns although no worker could spawn yet
    pool.launch()  # idempotent: one launch
    assert pool.pids == []
    release.set()
    with pytest.raises(WorkerStartError, match="no data here"):
        pool.start()
    assert pool.pids == []


@pytest.mark.slow
def test_a_launch_that_fails_halfway_fails_start_and_ends_the_workers_it_started(monkeypatch):
    pool = WorkerPool(2, BrokenRecipe(), threads=1)
    spawn, started = pool._spawn, []

    def second_fails(index):
        if index == 1:
            raise OSError("no more processes")
        started.append(spawn(index))
        return started[-1]

    monkeypatch.setattr(pool, "_spawn", second_fails)
    pool.launch()
    with pytest.raises(OSError, match="no more processes"):
        pool.start()
    assert len(started) == 1 and not started[0].process.is_alive()
    assert pool.pids == []


def holding_the_second_spawn(pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
                             ) -> tuple[list, threading.Event, threading.Event]:
    """(The workers the pool spawns, set when the second spawn begins, what releases it)."""
    spawn, started, second, release = pool._spawn, [], threading.Event(), threading.Event()

    def held(index):
        if index == 1:
            second.set()
            assert release.wait(10)
        started.append(spawn(index))
        return started[-1]

    monkeypatch.setattr(pool, "_spawn", held)
    return started, second, release


@pytest.mark.slow
def test_close_during_a_launch_stops_it_and_ends_every_worker_it_spawned(monkeypatch):
    pool = WorkerPool(3, BrokenRecipe(), threads=1)
    started, second, release = holding_the_second_spawn(pool, monkeypatch)
    pool.launch()
    assert second.wait(10)  # worker 0 spawned, worker 1 spawning
    threading.Timer(0.2, release.set).start()
    pool.close()  # ends worker 0, stops the launch and waits: its thread ends worker 1
    assert len(started) == 2  # worker 2 never spawned
    assert not any(w.process.is_alive() for w in started)
    assert pool.pids == []


class InterruptedOnce:
    """An event whose first `wait` raises KeyboardInterrupt (Ctrl-C while `start` waits)."""

    def __init__(self, event: threading.Event) -> None:
        self.event, self.interrupted = event, False

    def wait(self, timeout: float | None = None) -> bool:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return self.event.wait(timeout)

    def set(self) -> None:
        self.event.set()


@pytest.mark.slow
def test_an_interrupt_while_start_waits_for_the_launch_leaves_no_worker(monkeypatch):
    pool = WorkerPool(3, BrokenRecipe(), threads=1)
    started, second, release = holding_the_second_spawn(pool, monkeypatch)
    pool.launch()
    assert second.wait(10)
    pool._launch.done = InterruptedOnce(pool._launch.done)
    threading.Timer(0.2, release.set).start()
    with pytest.raises(KeyboardInterrupt):
        pool.start()  # interrupted: it closes the pool, which waits for the launch to stop
    assert len(started) == 2 and not any(w.process.is_alive() for w in started)
    assert pool.pids == []
    pool.launch()  # a closed pool launches again
    with pytest.raises(WorkerStartError, match="no data here"):
        pool.start()
    assert len(started) == 5 and not any(w.process.is_alive() for w in started)


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
    # no dataset given: grouped by the architecture's values without lr and weight_decay
    a, b = archs(2)
    assert pool.group_key(a) == pool.group_key(a.replace(lr=0.5, weight_decay=0.0))
    assert pool.group_key(a) != pool.group_key(a.replace(epochs=7))


def _check_plan(chunks: list[tuple[int, ...]], n: int, n_workers: int) -> None:
    assert len(chunks) <= n_workers
    assert sorted(i for c in chunks for i in c) == list(range(n))
    assert all(c and list(c) == sorted(c) and len(c) <= math.ceil(n / n_workers)
               for c in chunks)


@pytest.mark.parametrize(("n", "n_workers"), [(1, 2), (2, 2), (5, 4), (7, 3), (12, 4)])
def test_without_a_group_key_the_split_is_even_and_by_position(n, n_workers):
    chunks = plan_chunks(archs(n), n_workers)
    _check_plan(chunks, n, n_workers)
    assert len(chunks) == min(n, n_workers)
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    assert [i for c in chunks for i in c] == list(range(n))
    assert plan_chunks([], 3) == []


def test_groups_stay_whole_where_the_balance_allows():
    candidates = archs(12)
    labels = "aaabbbcccxxd" + ""  # groups of 3, 3, 3, 2 and 1

    def key(arch: Architecture) -> str:
        return labels[candidates.index(arch)]

    chunks = plan_chunks(candidates, 4, key)
    _check_plan(chunks, 12, 4)
    assert sorted("".join(sorted(labels[i] for i in c)) for c in chunks) == [
        "aaa", "bbb", "ccc", "dxx"]

    # a group larger than a chunk (ceil(8 / 2) = 4) is split; the others stay whole
    big = "ggggggho"
    chunks = plan_chunks(candidates[:8], 2, lambda a: big[candidates.index(a)])
    _check_plan(chunks, 8, 2)
    assert sorted("".join(sorted(big[i] for i in c)) for c in chunks) == ["gggg", "ggho"]


def test_a_group_key_that_raises_puts_the_candidate_alone():
    candidates = archs(4)

    def key(arch: Architecture) -> object:
        if arch == candidates[1]:
            raise ValueError("no plan")
        return [] if arch == candidates[2] else "same"  # [] is unhashable: alone too

    chunks = plan_chunks(candidates, 2, key)
    _check_plan(chunks, 4, 2)
    assert (0, 3) in chunks  # the two with a key share a chunk


def test_fusion_key_groups_as_local_evaluator_buckets():
    data = blobs()
    base = archs(8, seed=1)
    candidates = base + [a.replace(lr=0.005) for a in base[:4]] + [
        base[0].replace(epochs=2), base[1].replace(**{"mlp.width": 16, "mlp.depth": 2}),
        base[2].replace(dropout=0.5)]  # dropout does not fuse: no key
    evaluator = LocalEvaluator(data, seed=0, fused=True)
    bucket_of = {c.index: n for n, b in enumerate(evaluator._buckets(candidates)) for c in b}
    key = fusion_key(data.spec)
    groups: dict[object, list[int]] = {}
    for i, arch in enumerate(candidates):
        try:
            groups.setdefault(key(arch), []).append(i)
        except NasforgeError:
            assert i == len(candidates) - 1  # only the dropout candidate: it fuses with none
    # every group lies in one of the evaluator's buckets (it may merge more, e.g. widths)
    assert all(len({bucket_of[i] for i in group}) == 1 for group in groups.values())
    assert sum(len(g) for g in groups.values() if len(g) > 1) >= 5

    # without a spec: a finer grouping, never one that mixes buckets
    by_values = fusion_key(None)
    for i, a in enumerate(candidates[:-1]):
        for j, b in enumerate(candidates[:-1]):
            if by_values(a) == by_values(b):
                assert key(a) == key(b), (i, j)


def test_a_raising_evaluator_fails_only_the_candidate_that_raises():
    candidates = archs(3)

    class Picky:
        calls: list[int] = []

        def evaluate(self, batch):
            self.calls.append(len(batch))
            if candidates[1] in batch:
                raise RuntimeError("bad candidate")
            return [EvalResult(TrialState.COMPLETE, {"n": len(batch)}) for _ in batch]

    picky = Picky()
    results = evaluate_chunk(picky, candidates)
    assert [r.state for r in results] == [TrialState.COMPLETE, TrialState.FAILED,
                                         TrialState.COMPLETE]
    assert results[1].error == "RuntimeError: bad candidate"
    assert picky.calls == [3, 1, 1, 1]
