"""Where evaluations run: inline in this process, or in a pool of worker processes.

Both executors have the evaluator interface the search loop uses (`protocol.Evaluator`),
`evaluate(archs) -> list[EvalResult]` (one result per architecture, in input order), plus
`slots`: how many candidates they evaluate at once (the search asks its strategy for at
least that many).

`WorkerPool` lifecycle: constructed (nothing started) -> `launch()` spawns `n_workers`
processes from a background thread and returns, `start()` (or the first `evaluate`, or
`with pool:`) launches them if not launched, waits for the launch and until each worker is
ready -> each worker (`worker.worker_main`, its side of the pipe protocol) builds its
evaluator once from `recipe` (a picklable zero-argument callable; it loads the data once)
and then evaluates one chunk at a time -> `close()` ends them. KeyboardInterrupt (or any
error, an `on_result` callback's too) while waiting closes the pool, then propagates: the
search re-queues the trials of the batch it has not stored yet.

Chunks: `evaluate(archs)` cuts the batch into chunks (`chunks.dispatch_order`: a `planner`'s,
or `chunks_per_worker` a worker by `group_key`, costliest first) and hands them out as workers
free up; a worker's evaluator gets its chunk in one `evaluate` call, so `LocalEvaluator` fuses
the stackable candidates of a chunk. `evaluate(archs, on_result=callback)` hands each
chunk's results to the callback as they arrive, after the worker has its next chunk: the
search stores them while the other chunks train (`protocol.evaluate_batch`).

Crashes: a worker that dies (os._exit, SIGKILL, a segfault, the OOM killer) is replaced by a
fresh worker and the batch goes on. If it died in a chunk of several candidates, each of them
runs again alone (so one bad candidate cannot fail its chunk-mates); a candidate whose
single-candidate task kills a worker becomes a FAILED result ("worker process died ...").

Results equal the inline evaluator's for the same architecture because candidate seeds derive
from (search seed, arch_id) only (`seeding.candidate_seed`), never from a batch position or a
process: bitwise equal when trained the same way (alone, or fused in the same bucket) with the
same thread count (a different `torch.set_num_threads` may change float rounding), within
fused training's rtol 1e-4 otherwise (a chunk's buckets are parts of the batch's buckets).
Architectures and results cross the process boundary as plain JSON-like values (`wire`;
the frozen records do not pickle); an early-stopping rule (`evaluate(archs, stop=rule)`,
`nasforge.curves.rule.StopRule`) goes with each chunk as the picklable value it is, and the
worker hands it to its evaluator (`protocol.evaluate_batch`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

from nasforge.curves.rule import StopRule
from nasforge.errors import NasforgeError
from nasforge.evaluator.executors.capacity import cpu_count
from nasforge.evaluator.executors.chunks import ChunkPlanner, CostKey, GroupKey, dispatch_order
from nasforge.evaluator.executors.start import worker_context
from nasforge.evaluator.executors.wire import result_from_wire
from nasforge.evaluator.executors.worker import Recipe, worker_main
from nasforge.evaluator.protocol import Evaluator, OnResult, evaluate_batch, hand_over, stops_early
from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture

logger = logging.getLogger(__name__)


class WorkerStartError(NasforgeError):
    """A worker process could not build its evaluator (or died while building it)."""


class InlineExecutor:
    """Runs the wrapped evaluator in this process (`--workers 1`, and what `--workers auto`
    gives unless a round of several candidates trains on a CPU)."""

    slots = 1

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    @property
    def stops_early(self) -> bool:
        return stops_early(self.evaluator)

    def evaluate(self, archs: Sequence[Architecture], stop: StopRule | None = None
                 ) -> list[EvalResult]:
        return evaluate_batch(self.evaluator, archs, stop)

    def close(self) -> None:
        return None

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def threads_per_worker(n_workers: int, cores: int | None = None) -> int:
    """Intra-op threads per worker so that workers x threads <= cores (at least 1)."""
    return max(1, (cores or cpu_count()) // n_workers)


def worker_envs(n_workers: int, gpus: int) -> list[dict[str, str]]:
    """Per-worker environment: with `gpus` > 0, worker i sees only GPU i % gpus (as cuda:0),
    so N workers spread round-robin over the GPUs; with 0 GPUs, nothing is set."""
    if gpus <= 0:
        return [{} for _ in range(n_workers)]
    return [{"CUDA_VISIBLE_DEVICES": str(i % gpus)} for i in range(n_workers)]


class _Worker:
    def __init__(self, index: int, process: multiprocessing.process.BaseProcess,
                 conn: Connection) -> None:
        self.index, self.process, self.conn = index, process, conn
        self.ready = False
        self.task: tuple[int, ...] | None = None  # positions in the current batch (a chunk)


class WorkerPool:
    """Evaluates candidates in `n_workers` spawned processes, one chunk per worker at a time.

    `recipe` builds each worker's evaluator (e.g. `nasforge.evaluator_setup.EvaluatorRecipe`);
    `group_key` (runs in this process) maps an architecture to what candidates must share to
    be fused (e.g. `nasforge.evaluator_setup.fusion_key`): equal keys go to one chunk where the
    balance allows; None splits a batch evenly by position;
    `threads` is each worker's `torch.set_num_threads` (default: cores // n_workers, at least
    1); `gpus` > 0 pins worker i to GPU i % gpus through CUDA_VISIBLE_DEVICES (the recipe then
    sees it as cuda:0). `chunks_per_worker` > 1 splits a batch into that many chunks per
    worker, handed out costliest first (`cost_key`) as workers free up: the load balances
    where candidates differ in cost, at the price of smaller fused stacks. `planner`, when
    given, cuts each batch instead (`chunks.dispatch_order`; a CPU's is
    `fused.chunking.StackChunks`: `evaluator_setup.make_executor`). `fork_server`: workers
    fork from a server with torch imported (`start.worker_context`; CPU pools only: pass
    False for a "cuda:N" pool; `compiles`: and torch.compile's modules, for a recipe that
    compiles). Nothing starts before `launch` or `start`.
    """

    def __init__(self, n_workers: int, recipe: Recipe, *, threads: int | None = None,
                 gpus: int = 0, group_key: GroupKey | None = None,
                 chunks_per_worker: int = 1, cost_key: CostKey | None = None,
                 planner: ChunkPlanner | None = None, fork_server: bool = True,
                 compiles: bool = False) -> None:
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
            raise NasforgeError(f"workers = {n_workers!r}; use a whole number >= 1 "
                                "(1 evaluates in this process).")
        self.n_workers = n_workers
        self.recipe = recipe
        self.threads = threads or threads_per_worker(n_workers)
        self.gpus = gpus
        self.group_key = group_key
        self.chunks_per_worker = max(1, chunks_per_worker)
        self.cost_key = cost_key
        self.planner = planner
        self._envs = worker_envs(n_workers, gpus)
        self._context = worker_context(fork_server and gpus <= 0, compiles)
        self._workers: list[_Worker] = []
        self._started = False
        self._launch: _Launch | None = None  # a background spawn not yet waited for
        self._lock = threading.Lock()  # a launch adds workers; `close` takes them
        self.replaced = 0  # workers that died and were replaced

    stops_early = True  # each worker's evaluator decides (`protocol.evaluate_batch`)
    streams_results = True  # `evaluate(on_result=...)` as each chunk's results arrive

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

    def launch(self) -> None:
        """Spawn the workers from a background thread and return at once: the caller works
        (the CLI opens the store) while a fork server that is still importing holds each
        spawn. `start` waits for the launch and raises what it raised."""
        if self._workers or self._launch is not None:
            return
        launch = self._launch = _Launch()
        threading.Thread(target=self._spawn_all, args=(launch,), name="nasforge-launch",
                         daemon=True).start()

    def _spawn_all(self, launch: _Launch) -> None:
        """The launch thread: each worker joins the pool as it spawns, unless the pool was
        closed meanwhile: then the thread ends it and stops."""
        try:
            for index in range(self.n_workers):
                if launch.stop.is_set():
                    return
                worker = self._spawn(index)
                with self._lock:
                    if not launch.stop.is_set():
                        self._workers.append(worker)
                        continue
                _end([worker])
                return
        except BaseException as err:  # noqa: BLE001 - `start` re-raises it in the caller
            launch.error = err
        finally:
            launch.done.set()

    def start(self) -> None:
        """Launch the workers (unless launched), wait for the launch and then until each
        worker has built its evaluator."""
        if self._started:
            return
        try:
            self.launch()
            launch = self._launch
            if launch is not None:
                launch.done.wait()
                self._launch = None
                if launch.error is not None:
                    raise launch.error
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise
        self._started = True

    def _spawn(self, index: int) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(child, self.recipe, self.threads, {**os.environ, **self._envs[index]}),
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

    def evaluate(self, archs: Sequence[Architecture], stop: StopRule | None = None,
                 on_result: OnResult | None = None) -> list[EvalResult]:
        """One result per architecture, in input order; a worker death is a FAILED result;
        `stop` goes to each worker's evaluator; `on_result(position, result)` as each
        chunk's results arrive (once the worker has its next chunk)."""
        self.start()
        try:
            return self._evaluate(list(archs), stop, on_result)
        except BaseException:
            # KeyboardInterrupt or a broken pool: workers may be mid-candidate; end them all
            self.close()
            raise

    def _evaluate(self, archs: list[Architecture], stop: StopRule | None = None,
                  on_result: OnResult | None = None) -> list[EvalResult]:
        results: list[EvalResult | None] = [None] * len(archs)
        arrived: list[int] = []  # positions whose results `on_result` has not seen yet
        pending = deque(dispatch_order(archs, self.n_workers, self.chunks_per_worker,
                                       self.group_key, self.cost_key, self.planner))
        idle = [w for w in self._workers if w.ready]
        watched = {w.index: w for w in self._workers if not w.ready}  # busy or starting
        while pending or any(w.task is not None for w in watched.values()):
            while pending and idle:
                worker, task = idle.pop(0), pending.popleft()
                worker.task = task
                try:
                    worker.conn.send(([archs[i].json for i in task], stop))
                except OSError:  # it died since its last message: its sentinel tells
                    pass
                watched[worker.index] = worker
            hand_over(arrived, results, on_result)  # the workers train meanwhile
            waitables: dict[object, _Worker] = {}  # its pipe and its process sentinel
            handles: list[Connection | int] = []
            for worker in watched.values():
                for handle in (worker.conn, worker.process.sentinel):
                    waitables[handle] = worker
                    handles.append(handle)
            for ready in wait(handles):
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
                chunk, worker.task = worker.task, None
                if message is not None:
                    for i, wire in zip(chunk or (), message[1], strict=True):
                        results[i] = result_from_wire(wire)
                        arrived.append(i)
                    idle.append(worker)
                    continue
                self._died(worker, chunk, archs, results, pending)
                arrived.extend(i for i in chunk or () if results[i] is not None)
                fresh = self._replace(worker)
                watched[fresh.index] = fresh
        hand_over(arrived, results, on_result)
        return [r for r in results if r is not None]

    def _died(self, worker: _Worker, task: tuple[int, ...] | None, archs: list[Architecture],
              results: list[EvalResult | None], pending: deque[tuple[int, ...]]) -> None:
        """A worker died: a chunk's candidates run again alone (next, in order); a lone
        candidate is FAILED."""
        worker.process.join()
        code = worker.process.exitcode
        if task is None:  # died while starting
            raise WorkerStartError(
                f"worker process {worker.index} died while building its evaluator "
                f"(exit code {code}); run with --workers 1 to see the error.")
        died = f"worker process died (exit code {code}{_signal_name(code)})"
        if len(task) > 1:
            logger.warning("%s in a chunk of %d candidates; running each of them alone", died,
                           len(task))
            pending.extendleft((i,) for i in reversed(task))
            return
        reason = f"{died} while evaluating this candidate; the worker was replaced"
        logger.warning("Candidate %s: %s", archs[task[0]].arch_id, reason)
        results[task[0]] = EvalResult.failed(reason)

    def close(self) -> None:
        """End every worker (idempotent): ask idle ones to stop, terminate busy ones. A launch
        still spawning stops: its thread ends any worker it still spawns, and `close` waits
        for it (an interrupt there leaves nothing behind)."""
        launch, self._launch = self._launch, None
        with self._lock:  # from here on, a launch adds no worker
            if launch is not None:
                launch.stop.set()
            workers, self._workers, self._started = self._workers, [], False
        try:
            _end(workers)
        finally:
            if launch is not None:
                launch.done.wait()


class _Launch:
    """One background spawn of a pool's workers (`WorkerPool.launch`): `stop` set by
    `close`, `done` set by the thread when it ends, `error` what it raised."""

    def __init__(self) -> None:
        self.stop, self.done = threading.Event(), threading.Event()
        self.error: BaseException | None = None


def _end(workers: Sequence[_Worker]) -> None:
    """Ask idle, ready workers to stop and terminate the others; wait for each (killed after
    10 s)."""
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
