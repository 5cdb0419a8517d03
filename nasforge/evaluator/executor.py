"""Where evaluations run: inline in this process, or in a pool of worker processes.

Both executors have the evaluator interface the search loop uses, `evaluate(archs) ->
list[EvalResult]` (one result per architecture, in input order), plus `slots`: how many
candidates they evaluate at once (the search asks its strategy for at least that many).

`WorkerPool` lifecycle: constructed (nothing started) -> `start()` (or the first `evaluate`,
or `with pool:`) spawns `n_workers` processes -> each worker builds its evaluator once from
`recipe` (a picklable zero-argument callable; it loads the data once) and then evaluates one
candidate at a time -> `close()` ends them. A worker that dies in a candidate (os._exit,
SIGKILL, a segfault, the OOM killer) turns that candidate into a FAILED result ("worker process
died ...") and is replaced by a fresh worker; the batch goes on. KeyboardInterrupt (or any
error) while waiting closes the pool, then propagates: the search re-queues the batch.

Each worker evaluates one candidate at a time, so a worker never fuses candidates
(`LocalEvaluator`'s fused buckets need a batch in one process): use workers for candidates
that do not stack, or `--workers 1` with a larger `batch` for many tiny stackable ones.

Results equal the inline evaluator's for the same architecture because candidate seeds derive
from (search seed, arch_id) only (`seeding.candidate_seed`), never from a batch position or a
process (bitwise equal when the thread counts match: a different `torch.set_num_threads`
may change float rounding). Architectures and results cross the process boundary as plain
JSON-like values (the frozen records hold read-only mappings, which do not pickle).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Protocol

from nasforge.errors import NasforgeError
from nasforge.records import CurvePoint, EvalResult, TrialState
from nasforge.searchspace.architecture import Architecture

logger = logging.getLogger(__name__)


class BatchEvaluator(Protocol):
    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]: ...


#: Builds an evaluator inside a worker process; must pickle (a module-level class instance).
Recipe = Callable[[], BatchEvaluator]


class WorkerStartError(NasforgeError):
    """A worker process could not build its evaluator (or died while building it)."""


class InlineExecutor:
    """Runs the wrapped evaluator in this process (the default, `--workers 1`)."""

    slots = 1

    def __init__(self, evaluator: BatchEvaluator) -> None:
        self.evaluator = evaluator

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        return self.evaluator.evaluate(archs)

    def close(self) -> None:
        return None

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_count() -> int:
    """CPU cores this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int, cores: int | None = None) -> int:
    """Intra-op threads per worker so that workers x threads <= cores (at least 1)."""
    return max(1, (cores or cpu_count()) // n_workers)


def worker_envs(n_workers: int, gpus: int) -> list[dict[str, str]]:
    """Per-worker environment: with `gpus` > 0, worker i sees only GPU i % gpus (as cuda:0),
    so N workers spread round-robin over the GPUs; with 0 GPUs, nothing is set."""
    if gpus <= 0:
        return [{} for _ in range(n_workers)]
    return [{"CUDA_VISIBLE_DEVICES": str(i % gpus)} for i in range(n_workers)]


def _result_to_wire(result: EvalResult) -> tuple:
    return (result.state.value, dict(result.metrics),
            [(point.epoch, dict(point.metrics)) for point in result.curve], result.error)


def _result_from_wire(wire: tuple) -> EvalResult:
    state, metrics, curve, error = wire
    return EvalResult(TrialState(state), metrics,
                      tuple(CurvePoint(epoch, values) for epoch, values in curve), error)


def _worker_main(conn: Connection, recipe: Recipe, threads: int, env: Mapping[str, str]) -> None:
    """A worker process: build the evaluator once, then answer one architecture at a time.

    Protocol on `conn`: the worker sends ("ready", pid) or ("error", message) once; then for
    every arch JSON it receives it sends ("result", wire result); None ends it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.update(env)
    import torch

    torch.set_num_threads(threads)
    try:
        evaluator = recipe()
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"{type(err).__name__}: {err}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent went away
            return
        if message is None:
            return
        arch = Architecture.from_json(message)
        try:
            (result,) = evaluator.evaluate([arch])
        except Exception as err:  # an evaluator should not raise; keep the worker alive
            result = EvalResult.failed(f"{type(err).__name__}: {err}")
        conn.send(("result", _result_to_wire(result)))


class _Worker:
    def __init__(self, index: int, process: multiprocessing.process.BaseProcess,
                 conn: Connection) -> None:
        self.index, self.process, self.conn = index, process, conn
        self.ready = False
        self.task: int | None = None  # position in the current batch


class WorkerPool:
    """Evaluates candidates in `n_workers` spawned processes, one candidate per worker at a time.

    `recipe` builds each worker's evaluator (e.g. `nasforge.search.EvaluatorRecipe`);
    `threads` is each worker's `torch.set_num_threads` (default: cores // n_workers, at least
    1); `gpus` > 0 pins worker i to GPU i % gpus through CUDA_VISIBLE_DEVICES (the recipe then
    sees it as cuda:0). The constructor only stores its arguments.
    """

    def __init__(self, n_workers: int, recipe: Recipe, *, threads: int | None = None,
                 gpus: int = 0) -> None:
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
            raise NasforgeError(f"workers = {n_workers!r}; use a whole number >= 1 "
                                "(1 evaluates in this process).")
        self.n_workers = n_workers
        self.recipe = recipe
        self.threads = threads or threads_per_worker(n_workers)
        self.gpus = gpus
        self._envs = worker_envs(n_workers, gpus)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self.replaced = 0  # workers that died and were replaced

    @property
    def slots(self) -> int:
        return self.n_workers

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the workers and wait until each has built its evaluator."""
        if self._workers:
            return
        try:
            self._workers = [self._spawn(i) for i in range(self.n_workers)]
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise

    def _spawn(self, index: int) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self.recipe, self.threads, self._envs[index]),
            name=f"nasforge-worker-{index}", daemon=True)
        process.start()
        child.close()
        return _Worker(index, process, parent)

    def _await_ready(self, worker: _Worker) -> None:
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join()
            raise WorkerStartError(
                f"worker process {worker.index} died while building its evaluator (exit code "
                f"{worker.process.exitcode}); run with --workers 1 to see the error.") from None
        if kind != "ready":
            raise WorkerStartError(f"worker process {worker.index} could not build its "
                                   f"evaluator: {payload}")
        worker.ready = True

    def _replace(self, worker: _Worker) -> _Worker:
        """Spawn a successor (not yet ready: it says so on its pipe)."""
        worker.conn.close()
        worker.process.join()
        self.replaced += 1
        fresh = self._spawn(worker.index)
        self._workers[worker.index] = fresh
        return fresh

    def evaluate(self, archs: Sequence[Architecture]) -> list[EvalResult]:
        """One result per architecture, in input order; a worker death is a FAILED result."""
        self.start()
        try:
            return self._evaluate(list(archs))
        except BaseException:
            # KeyboardInterrupt or a broken pool: workers may be mid-candidate; end them all
            self.close()
            raise

    def _evaluate(self, archs: list[Architecture]) -> list[EvalResult]:
        results: list[EvalResult | None] = [None] * len(archs)
        pending = list(range(len(archs)))[::-1]  # pop() from the end: input order
        idle = [w for w in self._workers if w.ready]
        watched = {w.index: w for w in self._workers if not w.ready}  # busy or starting
        while pending or any(w.task is not None for w in watched.values()):
            while pending and idle:
                worker, task = idle.pop(0), pending.pop()
                worker.task = task
                worker.conn.send(archs[task].json)
                watched[worker.index] = worker
            waitables: dict[object, _Worker] = {}
            for worker in watched.values():
                waitables[worker.conn] = worker
                waitables[worker.process.sentinel] = worker
            for ready in wait(list(waitables)):
                worker = waitables[ready]
                if watched.get(worker.index) is not worker:
                    continue  # both its pipe and its sentinel fired; already handled
                message = None
                if worker.conn.poll():
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        message = None
                if message is not None and message[0] == "error":
                    raise WorkerStartError(f"worker process {worker.index} could not build "
                                           f"its evaluator: {message[1]}")
                if message is None and worker.process.is_alive():
                    continue  # woken without a message (should not happen); wait again
                del watched[worker.index]
                if message is not None and message[0] == "ready":
                    worker.ready = True
                    idle.append(worker)
                    continue
                task, worker.task = worker.task, None
                if message is not None:
                    results[task] = _result_from_wire(message[1])
                    idle.append(worker)
                    continue
                worker.process.join()
                code = worker.process.exitcode
                if task is None:  # died while starting
                    raise WorkerStartError(
                        f"worker process {worker.index} died while building its evaluator "
                        f"(exit code {code}); run with --workers 1 to see the error.")
                reason = (f"worker process died (exit code {code}{_signal_name(code)}) while "
                          "evaluating this candidate; the worker was replaced")
                logger.warning("Candidate %s: %s", archs[task].arch_id, reason)
                results[task] = EvalResult.failed(reason)
                fresh = self._replace(worker)
                watched[fresh.index] = fresh
        return [r for r in results if r is not None]

    def close(self) -> None:
        """End every worker (idempotent): ask idle ones to stop, terminate busy ones."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.process.is_alive() and worker.task is None and worker.ready:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            else:
                worker.process.terminate()
        for worker in workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return ""
    try:
        return f", killed by {signal.Signals(-code).name}"
    except ValueError:
        return ""
