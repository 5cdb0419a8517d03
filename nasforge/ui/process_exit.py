"""How the `nasforge` command ends: without tearing the interpreter down.

Once a command has finished, a normal interpreter exit still finalizes every module and
extension it loaded: 0.3-0.4 s after anything that imported torch, about 0.6 s after a search
with worker processes (measured on the 2-core machine, issue 19), with nothing left to save
(the store is closed, the results are printed). `finish(code)` does what a normal exit does
that matters, then `os._exit`:

- runs the atexit handlers (logging's flush, Ray's shutdown, multiprocessing's and any
  plugin's clean-up);
- flushes stdout and stderr (a closed pipe, as in ``nasforge show | head``, is ignored);
- exits with the status the interpreter gives `SystemExit(code)` (None 0, an int itself, a
  message printed on stderr and 1).

It exits normally instead while any other non-daemon thread still runs (the interpreter
waits for those threads) and under a tracer or profiler (coverage, cProfile, pdb: they save
their results after the program raises `SystemExit`). Otherwise only module and object
finalizers (``__del__`` of objects alive at exit) are skipped. Output that cannot be
written is reported as a normal exit reports it (status 120), except a closed pipe.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from nasforge.fast_exit import flushed, watched


def exit_status(code: object) -> int:
    """The process status the interpreter gives `SystemExit(code)`; a message (any other
    value) is printed on stderr, as the interpreter prints it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def finish(code: object = None) -> NoReturn:
    """End the process as `sys.exit(code)` would, less the interpreter's teardown (see the
    module docstring)."""
    if watched() or _other_threads():
        raise SystemExit(code)
    status = exit_status(code)
    try:
        atexit._run_exitfuncs()
    finally:
        streams = {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
                   if s is not None}
        if not all([flushed(stream) for stream in streams.values()]):
            status = status or 120
        os._exit(status)


def _other_threads() -> bool:
    main = threading.main_thread()
    return any(thread is not main and not thread.daemon and thread.is_alive()
               for thread in threading.enumerate())
