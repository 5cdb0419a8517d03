"""A pool worker process's side (`pool.WorkerPool` starts it; Ray actors evaluate chunks
with `evaluate_chunk` too): build the evaluator once from its recipe, then answer one chunk
of candidates at a time over a pipe.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection

from nasforge.curves.rule import StopRule
from nasforge.evaluator.executors.lifeline import die_with_parent
from nasforge.evaluator.executors.wire import result_to_wire
from nasforge.evaluator.protocol import Evaluator, evaluate_batch
from nasforge.records import EvalResult
from nasforge.searchspace.architecture import Architecture

#: Builds an evaluator inside a worker process; must pickle (a module-level class instance).
Recipe = Callable[[], Evaluator]


def worker_main(conn: Connection, recipe: Recipe, threads: int, env: Mapping[str, str]) -> None:
    """A worker process: build the evaluator once, then answer one chunk at a time.

    Protocol on `conn`: the worker sends ("ready", pid) or ("error", message) once; then for
    every (list of arch JSONs, stop rule or None) (a chunk) it receives it sends ("result",
    [wire result per arch]); None ends it. The worker dies with its parent (`lifeline`); a
    parent that went away (EOF, a broken pipe) ends it quietly.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent()
    os.environ.clear()  # the parent's environment now (a forked worker has the server's)
    os.environ.update(env)
    import torch

    torch.set_num_threads(threads)
    from nasforge.plugins import load_plugins  # the plugins' parts, as the CLI's
    load_plugins()
    try:
        evaluator = recipe()
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which raises
        send(conn, ("error", f"{type(err).__name__}: {err}"))
        return
    if not send(conn, ("ready", os.getpid())):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if message is None:
            return
        jsons, stop = message
        results = evaluate_chunk(evaluator, [Architecture.from_json(a) for a in jsons], stop)
        if not send(conn, ("result", [result_to_wire(r) for r in results])):
            return


def send(conn: Connection, message: tuple) -> bool:
    """Send to the parent; False (no traceback) when it has gone away."""
    try:
        conn.send(message)
    except OSError:  # BrokenPipeError: the parent closed the pool or died
        return False
    return True


def evaluate_chunk(evaluator: Evaluator, archs: list[Architecture],
                    stop: StopRule | None = None) -> list[EvalResult]:
    """The evaluator's results for the chunk; if it raises (it should not), each candidate
    alone, so the error lands on the candidate that caused it."""
    try:
        results = evaluate_batch(evaluator, archs, stop)
        if len(results) != len(archs):
            raise RuntimeError(f"the evaluator returned {len(results)} results for "
                               f"{len(archs)} architectures")
        return results
    except Exception as err:
        if len(archs) == 1:
            return [EvalResult.failed(f"{type(err).__name__}: {err}")]
    return [evaluate_chunk(evaluator, [arch], stop)[0] for arch in archs]
