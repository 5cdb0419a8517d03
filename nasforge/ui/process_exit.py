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

While any other non-daemon thread still runs it exits normally instead (the interpreter waits
for those threads); only module and object finalizers (``__del__`` of objects alive at exit)
are skipped.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


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
    main = threading.main_thread()
    if any(thread is not main and not thread.daemon and thread.is_alive()
           for thread in threading.enumerate()):
        raise SystemExit(code)
    status = exit_status(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__,
                                          sys.__stderr__) if s is not None}.values():
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing to deliver
                pass
        os._exit(status)
