"""Imported by the fork server as it starts (the last module it preloads:
`start.SERVER_EXIT`): the server then leaves with `os._exit`, skipping its other exit
handlers and the interpreter's finalization of torch and the rest (0.3-0.4 s of teardown on
the 2-core machine). It leaves once the command and every worker have closed its "alive"
pipe (also on multiprocessing's `_stop`, or after an error: status 1 then).

Why: the server inherited the command's stdout and stderr, and a pipeline (`nasforge search
... | tee log`) ends only when every holder has closed them: it waited for that teardown
after the command had ended (0.45-0.58 s). The server has nothing to clean up: its socket
lives in the parent's temporary folder, and it holds no semaphore or shared memory. Imported
anywhere else, a worker forked from the server included, the module does nothing.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
from types import FrameType

from nasforge.fast_exit import flushed, watched


def in_fork_server() -> bool:
    """True in multiprocessing's fork server itself (this import runs inside its `main`), not
    in a process forked from it (whose copied stack holds `main` too, but has a parent)."""
    server = sys.modules.get("multiprocessing.forkserver")
    code = getattr(getattr(server, "main", None), "__code__", None)
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_code is code:
            return multiprocessing.parent_process() is None
        frame = frame.f_back
    return False


def _leave() -> None:
    if watched():
        return  # a tracer (coverage) or profiler saves its data on the normal way out
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            flushed(stream)
    os._exit(1 if hasattr(sys, "last_value") else 0)  # set once an error was printed


if in_fork_server():
    atexit.register(_leave)  # the last registered: the first handler to run
