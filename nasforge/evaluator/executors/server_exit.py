"""Imported by the fork server as it starts (`start.PRELOAD`): the server then leaves with
`os._exit` once its parent has gone, without the interpreter's finalization of torch and
the rest (0.3-0.4 s on the 2-core machine).

Why: the server inherited the command's stdout and stderr, and a pipeline (`nasforge search
... | tee log`) ends only when every holder has closed them: it waited for that teardown
after the command had ended. Imported anywhere else (a worker forked from the server never
runs atexit handlers), the module does nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from types import FrameType


def in_fork_server() -> bool:
    """True while multiprocessing's fork server runs its preload (this import)."""
    server = sys.modules.get("multiprocessing.forkserver")
    main = getattr(server, "main", None)
    code = getattr(main, "__code__", None)
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _leave() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(0)


if in_fork_server():
    atexit.register(_leave)  # the last registered: the first handler to run
