"""How a pool's worker processes start: on Linux, a CPU pool's forked from a server that has
imported torch and the worker's modules once ("forkserver"); otherwise as fresh interpreters
("spawn").

Why: a spawned worker imports torch and nasforge itself, about 2 s of CPU each, and a CPU
pool's workers start together on the very cores they then train on: 3-5 s before the first
candidate inside a search on the 2-core machine (issue 19). The fork server imports once, in
a process that never trains (its only other thread is numpy's idle BLAS pool, which handles
forks; no torch thread pool is ever forked), and each worker is a fork of it; later pools of
the same process reuse it (0.1 s a start). `prestart` launches the server early (the CLI:
before the data loads), so that its imports run while this process works. A forked worker
still receives the parent's `sys.path` and main module, as a spawned one does
(`multiprocessing.spawn.prepare`), and the pool hands each worker the parent's environment
as it is at the worker's start (the server's dates from its own start). GPU pools spawn:
nothing CUDA-related is ever forked.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ForkServerContext exists only where the platform has a fork server
    from multiprocessing.context import ForkServerContext, SpawnContext

#: What the fork server imports before forking workers (an ImportError is skipped).
PRELOAD = ("torch", "nasforge.evaluator.executors.pool",
           "nasforge.evaluator.local", "nasforge.evaluator_setup")
#: ... and for `[training] compile = true`: torch.compile's `torch._dynamo` (1.4-1.7 s, once
#: in the server instead of in every worker; training alone no longer imports it:
#: `kernel_optimizer`).
COMPILER = ("torch._dynamo",)
#: ... and last, so that its exit handler runs first: the server leaves without finalizing
#: once its parent has gone (it holds the command's stdout and stderr: `server_exit`).
SERVER_EXIT = "nasforge.evaluator.executors.server_exit"


def worker_context(fork_server: bool, compiles: bool = False
                   ) -> ForkServerContext | SpawnContext:
    """The multiprocessing context a pool's workers start from (see the module docstring):
    the fork server when asked for and on Linux (macOS's default is "spawn" because forking
    after some system frameworks load is unsafe there; Windows has none), else "spawn".
    `compiles`: the workers will torch.compile (the server preloads `COMPILER` too)."""
    if fork_server and sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([*PRELOAD, *(COMPILER if compiles else ()),
                                        SERVER_EXIT])
        return context
    return multiprocessing.get_context("spawn")


def prestart(device: str, compiles: bool = False) -> None:
    """Launch the fork server now, for a pool of CPU workers to come (`device`: the config's
    `[training] device`; nothing for "cuda..."; `compiles`: its `[training] compile`): it
    imports in the background and the pool's `start` then only forks. Returns at once."""
    if device.startswith("cuda"):
        return
    if worker_context(True, compiles).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
