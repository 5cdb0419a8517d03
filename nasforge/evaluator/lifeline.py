"""Worker processes end with the process that started them.

A worker whose parent dies (SIGKILL, a crash, the OOM killer) would otherwise finish its
chunk, training for seconds and writing checkpoints nobody records. `die_with_parent`, called
first thing in a worker, ends it when the parent goes: on Linux the kernel sends it SIGKILL
(`PR_SET_PDEATHSIG`, set through ctypes); everywhere, a daemon thread waits on the parent's
sentinel (`multiprocessing.parent_process()`, which a spawned child has) and `os._exit`s when
it closes. The thread also covers a parent that died before the prctl call took effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: Exit status of a worker that outlived its parent (as if killed by SIGKILL).
ORPHAN_EXIT = 128 + signal.SIGKILL


def die_with_parent() -> None:
    """Make this (spawned worker) process end as soon as its parent process dies."""
    if sys.platform.startswith("linux"):
        _set_death_signal()
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    threading.Thread(target=_exit_with, args=(parent,), name="nasforge-lifeline",
                     daemon=True).start()


def _set_death_signal() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as err:  # the watcher thread still covers it
        logger.debug("no parent-death signal: %s", err)


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's end of the sentinel pipe closes: it died
    os._exit(ORPHAN_EXIT)
