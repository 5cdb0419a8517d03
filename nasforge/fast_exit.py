"""What a process checks before it leaves with `os._exit` (the `nasforge` command:
`ui/process_exit.py`; the workers' fork server: `evaluator/executors/server_exit.py`):
whether a tracer or profiler watches it (then it exits normally, so that they save their
results), and that its output is written."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def watched() -> bool:
    """True under a tracer or profiler (sys.settrace / setprofile, or 3.12's monitoring)."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and any(
        monitoring.get_tool(tool) is not None
        for tool in (monitoring.DEBUGGER_ID, monitoring.COVERAGE_ID, monitoring.PROFILER_ID))


def flushed(stream: TextIO) -> bool:
    """Flush `stream`; False when its output could not be written (a closed pipe or stream
    is not an error: nothing reads it)."""
    try:
        stream.flush()
    except (BrokenPipeError, ValueError):
        return True
    except OSError as error:  # e.g. a full disk: reported as the interpreter reports it
        try:
            os.write(2, f"Exception ignored flushing {getattr(stream, 'name', stream)}: "
                        f"{error}\n".encode())
        except OSError:
            pass
        return False
    return True
