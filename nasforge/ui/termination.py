"""SIGTERM stops a run the way Ctrl-C does.

`kill PID`, `timeout`, systemd, Docker and Kubernetes stop a process with SIGTERM, whose
default action ends Python at once: the trials it holds stay RUNNING until another process's
heartbeat sweep re-queues them, and its worker processes lose their pipe mid-chunk. Under
`sigterm_as_interrupt`, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread
instead, so the interrupt path runs: the executor is closed, the trials are handed back and
the resume hint printed; the command then exits with `interrupt_exit_code`: 143 (128 +
SIGTERM, what a shell reports for a process SIGTERM ended) rather than Ctrl-C's 130, so a
supervisor can tell the two apart. Further SIGTERMs are ignored while it hands back (SIGKILL
still ends it): the handler replaces itself with `_terminating`, which does nothing. That
replacement is also how a SIGTERM is recognised where a library re-raised the interrupt as a
plain KeyboardInterrupt (Ray's `ray.wait` and `ray.get` do).
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
    signal.signal(signal.SIGTERM, _terminating)  # once: let the hand-back finish
    raise Terminated()


def _terminating(signum: int, frame: FrameType | None) -> None:
    """SIGTERM's handler once one arrived: further ones are ignored."""


def _sigterm_arrived(stop: KeyboardInterrupt) -> bool:
    return isinstance(stop, Terminated) or signal.getsignal(signal.SIGTERM) is _terminating


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
    except KeyboardInterrupt as stop:  # before or after the search loop's own interrupt path
        if not _sigterm_arrived(stop):
            raise
        raise typer.Exit(code=SIGTERM_EXIT) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit_code(stop: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C (called within `sigterm_as_interrupt`)."""
    return SIGTERM_EXIT if _sigterm_arrived(stop) else SIGINT_EXIT
