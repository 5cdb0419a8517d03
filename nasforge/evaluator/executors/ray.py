"""Evaluations as Ray actors: on a local Ray instance or on a Ray cluster (`--executor ray`).

`RayExecutor` has the executor interface of `InlineExecutor` and `WorkerPool`:
`evaluate(archs) -> list[EvalResult]` (one result per architecture, in input order), `slots`
(candidates evaluated at once), `close()`, and `with executor:`.

Lifecycle: constructed (only the arguments stored; Ray need not be installed yet) -> `start()`
(or the first `evaluate`, or `with`) connects to Ray: `address=None` starts a local Ray instance
(`ray.init(address="local")`, the environment's RAY_ADDRESS ignored); "auto", "HOST:6379" or
"ray://HOST:10001" connects to a running cluster (a process already connected to Ray, e.g. by
its own `ray.init`, keeps that connection) -> the recipe goes to the object store once, and
`slots` actors start, each asking for `cpus_per_candidate` CPUs and `gpus_per_candidate` GPUs
(Ray then sets CUDA_VISIBLE_DEVICES, so a "cuda" recipe sees its GPU as cuda:0; 0.5 puts two
candidates on one GPU) and building its evaluator once (the data loads once per actor) ->
`evaluate` splits a batch with `chunks.plan_chunks` (candidates of equal `group_key` in one
chunk, where `LocalEvaluator` fuses them) and sends one chunk at a time to each idle actor ->
`close()` kills the actors and, only if this executor started or connected Ray itself,
disconnects (`ray.shutdown()`: that stops a local instance it started, never a cluster).
`ray.init` replaces the SIGTERM handler; the caller's is put back right after it.
Ctrl-C (or any error) while waiting closes the executor and propagates.

A real cluster: `ray start --head` on the head node, `ray start --address HEAD:6379` on the
others, then `--ray-address auto` on the head node, or `ray://HEAD:10001` (Ray Client) from
elsewhere. Every node needs nasforge (and torch) installed and the same data paths: actors
import `nasforge` themselves and the recipe names files by path.

Crashes: an actor that dies (os._exit, a segfault, Ray's OOM killer, a lost node) is replaced;
its chunk's candidates run again one at a time, and a candidate whose own task kills an actor
becomes FAILED ("ray worker died ..."). An evaluator that raises fails only the candidate that
raised (`worker.evaluate_chunk`). Architectures and results cross as plain values
(Architecture JSON, `wire.result_to_wire`): the frozen records do not pickle; an
early-stopping rule (`evaluate(archs, stop=rule)`) goes with each chunk, as in `WorkerPool`. Results
equal the inline evaluator's with the same thread count (each actor runs
`torch.set_num_threads(max(1, int(cpus_per_candidate)))`), as for `WorkerPool`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from nasforge.curves.rule import StopRule
from nasforge.errors import NasforgeError
from nasforge.evaluator.executors.capacity import cpu_count
from nasforge.evaluator.executors.chunks import GroupKey, plan_chunks
from nasforge.evaluator.executors.pool import WorkerStartError
from nasforge.evaluator.executors.wire import result_from_wire, result_to_wire
from nasforge.evaluator.executors.worker import Recipe, evaluate_chunk
from nasforge.evaluator.protocol import Evaluator, OnResult, hand_over
from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CAUSE = re.compile(r"[\w.]+(Error|Exception|Exit):")  # a traceback's last line
FIX = ("Start the cluster with `ray start --head` (and `ray start --address HEAD:6379` on the "
       "other nodes), pass its address (`auto` on the head node, ray://HEAD:10001 from "
       "elsewhere), or use --executor local.")
INSTALL_HINT = '--executor ray needs Ray: pip install "nasforge[ray]"'


class RayExecutorError(NasforgeError):
    """Ray is missing, its cluster cannot be reached, or it cannot host the actors."""


def import_ray() -> Any:
    """The `ray` module, or a RayExecutorError telling how to install it."""
    try:
        import ray
    except ImportError as err:
        raise RayExecutorError(f"{INSTALL_HINT} (import ray failed: {err}).") from None
    return ray


class _Slot:
    """The body of one Ray actor: builds its evaluator once, then evaluates chunks."""

    def __init__(self, recipe: Recipe, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        from nasforge.plugins import load_plugins  # the plugins' parts, as the CLI's
        load_plugins()
        self.evaluator: Evaluator | None = None
        self.error: str | None = None
        try:
            self.evaluator = recipe()
        except Exception as err:  # reported by ready() / evaluate(); the driver raises
            self.error = f"{type(err).__name__}: {err}"

    def ready(self) -> tuple[str, object]:
        return ("error", self.error) if self.evaluator is None else ("ready", os.getpid())

    def evaluate(self, arch_jsons: list[str], stop: StopRule | None = None
                 ) -> tuple[str, object]:
        if self.evaluator is None:
            return "error", self.error
        archs = [Architecture.from_json(a) for a in arch_jsons]
        results = evaluate_chunk(self.evaluator, archs, stop)
        return "result", [result_to_wire(r) for r in results]


class RayExecutor:
    """Evaluates candidates on `slots` Ray actors, one chunk per actor at a time.

    `recipe`: a picklable zero-argument callable that builds an evaluator (e.g.
    `nasforge.evaluator_setup.EvaluatorRecipe`); `address`: None (a local Ray instance) or a cluster
    address ("auto", "HOST:6379", "ray://HOST:10001"); `gpus_per_candidate` /
    `cpus_per_candidate`: the Ray resources of each actor (`gpus_per_candidate` None: one GPU
    if the Ray cluster has any, else none, decided once connected); `group_key`: as
    `WorkerPool`'s (e.g. `evaluator_setup.fusion_key`);
    `connect_timeout`: seconds to reach a "HOST:PORT" address; `start_timeout`: seconds to wait
    for the actors to build their evaluators (they wait for free resources on a cluster).
    """

    def __init__(self, recipe: Recipe, *, address: str | None = None, slots: int = 1,
                 gpus_per_candidate: float | None = 0.0, cpus_per_candidate: float = 1.0,
                 group_key: GroupKey | None = None, connect_timeout: float = 5.0,
                 start_timeout: float = 600.0) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise NasforgeError(f"workers = {slots!r}; use a whole number >= 1 (Ray actors).")
        for name, value in (("gpus_per_candidate", 0.0 if gpus_per_candidate is None
                             else gpus_per_candidate),
                            ("cpus_per_candidate", cpus_per_candidate)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise NasforgeError(f"{name} = {value!r}; use a number >= 0.")
        self.recipe = recipe
        self.address = address
        self._slots = slots
        self.gpus_per_candidate = None if gpus_per_candidate is None else float(
            gpus_per_candidate)
        self.cpus_per_candidate = float(cpus_per_candidate)
        self.group_key = group_key
        self.connect_timeout = connect_timeout
        self.start_timeout = start_timeout
        self.replaced = 0  # actors that died and were replaced
        self._actors: list[Any] = []
        self._recipe_ref: Any = None
        self._actor_class: Any = None
        self._disconnect = False  # True: this executor called ray.init, so it shuts down

    @property
    def slots(self) -> int:
        return self._slots

    def __enter__(self) -> RayExecutor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect to Ray (or start it) and wait until every actor has built its evaluator."""
        if self._actors:
            return
        ray = import_ray()
        try:
            self._connect(ray)
            self._recipe_ref = ray.put(self.recipe)
            self._actor_class = ray.remote(_Slot).options(
                num_cpus=self.cpus_per_candidate, num_gpus=self.gpus_per_candidate,
                max_restarts=0)
            self._actors = [self._spawn(ray) for _ in range(self._slots)]
            self._await_ready(ray)
        except BaseException:
            self.close()
            raise

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            logger.info("Using this process's Ray connection")
            self._resolve_gpus(ray)
            return
        where = "a local Ray instance" if self.address is None else f"--ray-address {self.address}"
        if self.address is None:
            num_cpus = max(cpu_count(), math.ceil(self._slots * self.cpus_per_candidate))
            init = {"address": "local", "num_cpus": num_cpus, "include_dashboard": False}
        else:
            self._check_reachable()
            init = {"address": self.address}
        handler = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(**init)
        except Exception as err:
            raise RayExecutorError(
                f"could not start or reach {where}: {type(err).__name__}: {err}. "
                f"{FIX}") from None
        finally:
            _restore_sigterm(handler)
        self._disconnect = True
        self._check_resources(ray)

    def _resolve_gpus(self, ray: Any) -> float:
        """`gpus_per_candidate`, with None ("auto") resolved against the cluster (and kept)."""
        if self.gpus_per_candidate is None:  # "auto": a GPU per candidate where there are GPUs
            has = float(ray.cluster_resources().get("GPU", 0.0)) > 0
            self.gpus_per_candidate = 1.0 if has else 0.0
            logger.info("Ray cluster %s GPUs: %g GPU per candidate", "has" if has else "has no",
                        self.gpus_per_candidate)
        return self.gpus_per_candidate

    def _check_reachable(self) -> None:
        """Fail fast on a "HOST:PORT" or "ray://HOST:PORT" that accepts no connection (Ray
        itself retries for minutes)."""
        address = str(self.address)
        hostport = address.removeprefix("ray://")
        host, sep, port = hostport.rpartition(":")
        if address == "auto" or not sep or not port.isdigit():
            return  # "auto", or a form Ray resolves itself
        try:
            socket.create_connection((host.strip("[]"), int(port)), self.connect_timeout).close()
        except OSError as err:
            raise RayExecutorError(f"--ray-address {address}: nothing accepts connections at "
                                   f"{host}:{port} ({err}). {FIX}") from None

    def _check_resources(self, ray: Any) -> None:
        """Refuse a local instance that cannot host every actor (they would wait forever); on a
        cluster (which may autoscale) only warn."""
        gpus = self._resolve_gpus(ray)
        total = ray.cluster_resources()
        for name, each in (("GPU", gpus), ("CPU", self.cpus_per_candidate)):
            need, have = self._slots * each, float(total.get(name, 0.0))
            if need <= have + 1e-9:
                continue
            message = (f"{self._slots} Ray actors x {each:g} {name} need {need:g} {name}s; "
                       f"the Ray instance has {have:g}")
            if self.address is None:
                raise RayExecutorError(f"{message}: use fewer --workers, or run on a machine "
                                       "or cluster with more.")
            logger.warning("%s; actors wait until the cluster has room.", message)

    def _spawn(self, ray: Any) -> Any:
        return self._actor_class.remote(self._recipe_ref, max(1, int(self.cpus_per_candidate)))

    def _await_ready(self, ray: Any) -> None:
        refs = {actor.ready.remote(): i for i, actor in enumerate(self._actors)}
        done, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=self.start_timeout)
        if waiting:
            raise RayExecutorError(
                f"{len(waiting)} of {len(refs)} Ray actors did not start within "
                f"{self.start_timeout:g} s (each asks for {self.cpus_per_candidate:g} CPU, "
                f"{self.gpus_per_candidate:g} GPU; the cluster has {ray.cluster_resources()}): "
                "use fewer --workers or add nodes.")
        for ref in done:
            try:
                kind, payload = ray.get(ref)
            except ray.exceptions.RayError as err:
                raise WorkerStartError(f"Ray actor {refs[ref]} died while building its "
                                       f"evaluator ({_brief(err)}); run with --executor local "
                                       "to see the error.") from None
            if kind != "ready":
                raise WorkerStartError(f"Ray actor {refs[ref]} could not build its evaluator: "
                                       f"{payload}")

    stops_early = True  # each actor's evaluator decides (`protocol.evaluate_batch`)
    streams_results = True  # `evaluate(on_result=...)` as each chunk's results arrive

    def evaluate(self, archs: Sequence[Architecture], stop: StopRule | None = None,
                 on_result: OnResult | None = None) -> list[EvalResult]:
        """One result per architecture, in input order; an actor death is a FAILED result;
        `stop` goes to each actor's evaluator; `on_result(position, result)` as each
        chunk's results arrive (once the actor has its next chunk)."""
        if not archs:
            return []
        self.start()
        try:
            return self._evaluate(list(archs), stop, on_result)
        except BaseException:
            self.close()  # Ctrl-C or a broken cluster: actors may be mid-candidate
            raise

    def _evaluate(self, archs: list[Architecture], stop: StopRule | None = None,
                  on_result: OnResult | None = None) -> list[EvalResult]:
        ray = import_ray()
        results: list[EvalResult | None] = [None] * len(archs)
        arrived: list[int] = []  # positions whose results `on_result` has not seen yet
        pending = deque(plan_chunks(archs, self._slots, self.group_key))
        idle = list(range(len(self._actors)))
        running: dict[Any, tuple[int, tuple[int, ...]]] = {}  # ref -> (actor index, chunk)
        while pending or running:
            while pending and idle:
                slot, task = idle.pop(0), pending.popleft()
                ref = self._actors[slot].evaluate.remote([archs[i].json for i in task], stop)
                running[ref] = (slot, task)
            hand_over(arrived, results, on_result)  # the actors train meanwhile
            (ref,), _ = ray.wait(list(running), num_returns=1)
            slot, task = running.pop(ref)
            idle.append(slot)
            try:
                kind, payload = ray.get(ref)
            except ray.exceptions.RayTaskError as err:  # raised outside evaluate_chunk
                self._retry_or_fail(archs, task, f"the Ray task failed ({_brief(err)})",
                                    pending, results)
                arrived.extend(i for i in task if results[i] is not None)  # a lone FAILED
                continue
            except ray.exceptions.RayError as err:  # the actor (or its node) died
                self._replace(ray, slot)
                self._retry_or_fail(archs, task, f"ray worker died ({_brief(err)})", pending,
                                    results, "while evaluating this candidate; the actor was "
                                    "replaced")
                arrived.extend(i for i in task if results[i] is not None)
                continue
            if kind == "error":
                raise WorkerStartError(f"Ray actor {slot} could not build its evaluator: "
                                       f"{payload}")
            for i, wire in zip(task, payload, strict=True):
                results[i] = result_from_wire(wire)
                arrived.append(i)
        hand_over(arrived, results, on_result)
        return [r for r in results if r is not None]

    def _retry_or_fail(self, archs: list[Architecture], task: tuple[int, ...], why: str,
                       pending: deque[tuple[int, ...]], results: list[EvalResult | None],
                       alone: str = "") -> None:
        """A chunk's candidates run again alone (next, in order); a lone candidate FAILS."""
        if len(task) > 1:
            logger.warning("%s in a chunk of %d candidates; running each of them alone", why,
                           len(task))
            pending.extendleft((i,) for i in reversed(task))
            return
        reason = f"{why} {alone}" if alone else why
        logger.warning("Candidate %s: %s", archs[task[0]].arch_id, reason)
        results[task[0]] = EvalResult.failed(reason)

    def _replace(self, ray: Any, slot: int) -> None:
        """A fresh actor in `slot` (its first task waits until it has built its evaluator)."""
        _kill(ray, self._actors[slot])
        self.replaced += 1
        self._actors[slot] = self._spawn(ray)

    def close(self) -> None:
        """Kill this executor's actors; disconnect if it connected (idempotent)."""
        actors, self._actors = self._actors, []
        self._recipe_ref = self._actor_class = None
        if not actors and not self._disconnect:
            return
        ray = import_ray()
        for actor in actors:
            _kill(ray, actor)
        if self._disconnect:
            self._disconnect = False
            ray.shutdown()  # stops a local instance this executor started; leaves a cluster


def _restore_sigterm(handler: Any) -> None:
    """Put back the SIGTERM handler `ray.init` replaces with its own (`sys.exit`), so that
    SIGTERM still stops a search the way Ctrl-C does (`ui.termination`)."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return  # not set from Python, or not settable from this thread (nor set by Ray)
    signal.signal(signal.SIGTERM, handler)


def _kill(ray: Any, actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception as err:  # already gone, or the connection is
        logger.debug("ray.kill: %s: %s", type(err).__name__, err)


def _brief(err: BaseException) -> str:
    """The error's name and first line, plus the traceback's root cause (e.g. a module the node
    cannot import) and Ray's worker exit detail when it has them."""
    lines = [_ANSI.sub("", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line.strip("^~ ")]
    if not lines:
        return type(err).__name__
    parts = [lines[0].split(" (pid=")[0]]
    detail = " ".join(lines).partition("Worker exit detail:")[2].strip().split(". ")[0]
    cause = lines[-1] if _CAUSE.match(lines[-1]) and len(lines) > 1 else ""
    parts += [part for part in (cause, detail) if part]
    return f"{type(err).__name__}: " + "; ".join(parts)
