"""Retry store calls across dropped database connections (a PostgreSQL restart, a terminated
backend, a server that refuses connections while it is down).

`retry_methods(*names)` is a class decorator for `SQLStore`: each named method is retried
with backoff (0.1 s doubling to 2 s) while it fails on a *disconnect*, for up to the store's
``retry_seconds`` in all (0: never retry); the pool is emptied between attempts and each
retry logs a warning. After the deadline the call raises a StoreError naming the URL.
`retry_open` applies the same policy to opening the store: a worker started on a cluster
while the database server restarts waits for it exactly as a running one does, rather
than exiting at once (and both give up with the same error after ``retry_seconds``); a URL
that can never work (below) fails at once.

A disconnect is recognised on the driver error (the StoreError of `translate_errors` keeps
it as ``__cause__``): SQLAlchemy's ``connection_invalidated``, SQLSTATE class 08
(connection exception) and 57P01/57P02/57P03 (admin shutdown, crash shutdown, cannot
connect now), or a psycopg ``OperationalError`` without SQLSTATE -- libpq's own connection
failures, which carry none -- whose message says the server is out of reach (refused,
reset, timed out, closed, starting up or shutting down). A host name that does not resolve
is retried only once the store has been opened (a DNS outage under a running search); when
opening, it is a typo like an unknown database or user or a wrong password, and those fail
at once with the server's reason. Everything else -- constraint violations, unknown names,
bad SQL, `LeaseLostError`, our own StoreErrors -- is raised at once.

Every attempt is one whole transaction, so a retried call never leaves half a write. What
a retry cannot know is whether the COMMIT of the attempt that died went through; writes
that are not idempotent ask `after_disconnect()` and look for their own earlier commit,
recognised by `call_now()`, one timestamp shared by all attempts of a call.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import exc

from nasforge.errors import StoreError

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0
_DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")
#: (lower-case) messages of driver errors without SQLSTATE that mean the server is out of reach
_OUTAGE_MESSAGES = (
    "connection refused", "connection reset", "timeout expired", "timed out",
    "is the server running", "server closed the connection", "could not receive data",
    "could not send data", "no route to host", "network is unreachable",
    "host is unreachable", "the database system is", "terminating connection",
    "connection is closed", "connection is lost", "ssl syscall error", "eof detected",
    "broken pipe", "consuming input failed")
#: a host name that does not resolve: an outage of a running store, a typo when opening one
_NAME_MESSAGES = ("could not translate host name", "failed to resolve host",
                  "name or service not known", "temporary failure in name resolution",
                  "nodename nor servname")

T = TypeVar("T")


@dataclass
class _Call:
    """The state of one public call across its attempts."""

    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    disconnected: bool = False  # an earlier attempt of this call died on a disconnect


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("nasforge_store_call",
                                                                     default=None)


def call_now() -> datetime:
    """The time of the current store call, the same for all its attempts (outside a
    retried call: now)."""
    call = _CALL.get()
    return call.now if call is not None else datetime.now(timezone.utc)


def after_disconnect() -> bool:
    """True when an earlier attempt of the current call died on a disconnect, so its
    COMMIT may have gone through."""
    call = _CALL.get()
    return call is not None and call.disconnected


def _driver_error(err: BaseException) -> BaseException | None:
    """The driver error behind `err` (itself, or the cause of a translated StoreError)."""
    current: BaseException | None = err
    seen = 0
    while current is not None and seen < 4:
        if isinstance(current, exc.DBAPIError) or _is_psycopg(current):
            return current
        if not isinstance(current, StoreError):
            return None
        current, seen = current.__cause__, seen + 1
    return None


def _is_psycopg(err: BaseException) -> bool:
    return type(err).__module__.split(".")[0] in ("psycopg", "psycopg2")


def is_disconnect(err: BaseException, opening: bool = False) -> bool:
    """True if `err` (or the driver error behind a StoreError) is a dropped or refused
    connection worth retrying; `opening`: the store was never reached yet, so a host name
    that does not resolve is a typo, not an outage. See the module docstring."""
    found = _driver_error(err)
    if found is None:
        return False
    if isinstance(found, exc.DBAPIError):
        if found.connection_invalidated:
            return True
        found = found.orig
        if found is None or not _is_psycopg(found):
            return False
    code = getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)
    if code:
        return str(code).startswith(_DISCONNECT_SQLSTATES)
    # no SQLSTATE: the client library's own connection failures
    if not any(cls.__name__ == "OperationalError" for cls in type(found).__mro__):
        return False
    message = str(found).lower()
    outages = _OUTAGE_MESSAGES if opening else _OUTAGE_MESSAGES + _NAME_MESSAGES
    return any(text in message for text in outages)


def _reason(err: BaseException) -> str:
    found = _driver_error(err)
    orig = getattr(found, "orig", None) or found or err
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _unreachable(url: str, seconds: float, attempts: int, err: BaseException) -> StoreError:
    reason = _reason(err)
    return StoreError(
        f"The store {url} was unreachable for {seconds:.1f} s ({attempts} attempts, last: "
        f"{reason}). Hint: is the database server running and reachable from here? check "
        "host and port, or allow a longer outage with retry_seconds.")


def _attempts(url: str, budget: float, what: str, attempt: Callable[[], T],
              before_retry: Callable[[], None] = lambda: None, opening: bool = False) -> T:
    """`attempt()` until it returns, retrying disconnects for `budget` seconds."""
    start, delay, attempts = time.monotonic(), FIRST_DELAY_S, 0
    while True:
        attempts += 1
        try:
            return attempt()
        except Exception as err:
            if not is_disconnect(err, opening):
                raise
            elapsed = time.monotonic() - start
            if elapsed >= budget:
                raise _unreachable(url, elapsed, attempts, err) from err
            log.warning("Store %s: %s failed on a dropped connection (%s); retry %d in "
                        "%.1f s.", url, what, _reason(err), attempts,
                        min(delay, budget - elapsed))
            before_retry()
            time.sleep(min(delay, budget - elapsed))
            delay = min(delay * 2, MAX_DELAY_S)


def retry_open(url: str, seconds: float, open_: Callable[[], T]) -> T:
    """`open_()`, retried while the server is unreachable for up to `seconds` (0: once)."""
    if seconds <= 0:
        return open_()
    return _attempts(url, seconds, "opening", open_, opening=True)


class _Closed(Exception):
    """A call failed after the store was closed: not retried, raised as it was."""

    def __init__(self, err: Exception) -> None:
        super().__init__(str(err))
        self.err = err


def _retrying(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> T:
        budget = float(getattr(self, "_retry_seconds", 0.0))
        if _CALL.get() is not None or budget <= 0:  # nested, or retries disabled
            return method(self, *args, **kwargs)
        state = _Call()
        token = _CALL.set(state)

        def attempt() -> T:
            try:
                return method(self, *args, **kwargs)
            except Exception as err:
                if getattr(self, "_closed", False):
                    raise _Closed(err) from err
                raise

        def before_retry() -> None:
            state.disconnected = True
            self._engine.dispose()  # drop pooled connections to the old server

        try:
            return _attempts(self.url, budget, method.__name__, attempt, before_retry)
        except _Closed as closed:
            raise closed.err from closed.err.__cause__
        finally:
            _CALL.reset(token)

    return call


def retry_methods(*names: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: retry the named methods across disconnects (module docstring)."""
    def wrap(cls: type[T]) -> type[T]:
        for name in names:
            setattr(cls, name, _retrying(getattr(cls, name)))
        return cls

    return wrap
