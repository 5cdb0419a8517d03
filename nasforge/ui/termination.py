"""SIGTERM stops a run the way Ctrl-C does.

`kill PID`, `timeout`, systemd, Docker and Kubernetes stop a process with SIGTERM, whose
default action ends Python at once: the trials it holds stay RUNNING until another process's
heartbeat sweep re-queues them, and its worker processes lose their pipe mid-chunk. Under
`sigterm_as_interrupt`, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread
instead, so the interrupt path runs: the executor is closed, the trials are handed back and
the resume hint printed; the command then exits with `interrupt_exit_code`: 143 (128 +
SIGTERM, what a shell reports for a process SIGTERM ended) rather than Ctrl-C's 130, so a
supervisor can tell the two apart. Further SIGTERMs are ignored while it hands back (SIGKILL
still ends it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

SIGINT_EXIT = 128 + signal.SIGINT  # 130
SIGTERM_EXIT = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised where Ctrl-C's KeyboardInterrupt would be)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the hand-back finish
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within it (a decorator too), SIGTERM raises `Terminated`; one that escapes exits
    with 143 without a traceback. Outside the main thread (no signal handlers there) it
    changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Terminated:  # before or after the search loop's own interrupt path
        raise typer.Exit(code=SIGTERM_EXIT) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit_code(stop: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return SIGTERM_EXIT if isinstance(stop, Terminated) else SIGINT_EXIT
