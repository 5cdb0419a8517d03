"""Worker processes end with the process that started them.

A worker whose parent dies (SIGKILL, a crash, the OOM killer) would otherwise finish its
chunk, training for seconds and writing checkpoints nobody records. `die_with_parent`, called
first thing in a worker, starts a daemon thread that waits on the parent's sentinel
(`multiprocessing.parent_process()`, which a spawned child has: a pipe whose other end only
the parent process holds) and `os._exit`s when it closes, i.e. when the parent process ends,
however it ends. A parent that died before the thread started is seen at once.

Why not Linux's `prctl(PR_SET_PDEATHSIG, SIGKILL)` as well: the kernel sends that signal when
the *thread* that forked the child exits, not the process. A `WorkerPool` started or refilled
from a short-lived thread (a library user's thread, a server's request thread) would see its
workers killed as soon as that thread returned, while the parent process lives on; the child
cannot tell which thread forked it. What the signal would add, killing a worker whose main
thread holds the GIL inside one long C call, does not arise in training loops (torch
releases the GIL in its kernels, and Python switches threads between operations).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

logger = logging.getLogger(__name__)

#: Exit status of a worker that outlived its parent (as if killed by SIGKILL).
ORPHAN_EXIT = 128 + signal.SIGKILL


def die_with_parent() -> None:
    """Make this (spawned worker) process end as soon as its parent process dies."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        logger.debug("no parent process to watch")
        return
    threading.Thread(target=_exit_with, args=(parent,), name="nasforge-lifeline",
                     daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's end of the sentinel pipe closes: it died
    os._exit(ORPHAN_EXIT)
