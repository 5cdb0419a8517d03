"""Turn database driver errors that a user can cause into StoreError.

Unreachable server, wrong password, permission denied, read-only file, full disk, a file that
is not a database, a lock held too long: the user can fix these, so they become a
`StoreError` naming the store URL, the driver's reason and a hint. Programming errors
(syntax errors, integrity violations by our own statements) are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc
from sqlalchemy.engine import make_url

from nasforge.errors import StoreError

#: SQLSTATE classes (PostgreSQL and other servers) that a user or operator causes.
_USER_SQLSTATES = (
    "08",  # connection exception
    "28",  # invalid authorization (wrong user / password)
    "3D",  # database does not exist
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57P",  # operator intervention: server shutting down
    "25006",  # read-only transaction (a hot standby)
    "42501",  # insufficient privilege
)

#: substrings of the driver's message -> what the user can do about it
_HINTS = (
    (("database is locked", "database table is locked", "busy"),
     "another process held the database locked for longer than the busy timeout; try "
     "again, or use PostgreSQL for many parallel workers"),
    (("readonly", "read-only", "read only"),
     "the file, its folder or the database is read-only; check permissions or pass "
     "another --storage"),
    (("disk is full", "no space left", "disk full", "could not extend file",
      "file too large"),
     "writing failed: the disk is full or the file size limit (ulimit -f) was reached, or "
     "the device failed; the store itself is intact (the failed transaction was rolled "
     "back). Free some space or raise the limit and try again, or pass another --storage"),
    (("unable to open database file",),
     "check that the folder exists and that you may write to it"),
    (("disk i/o error",),
     "the operating system failed to read or write the file (a failing disk or network "
     "file system, or a full disk); check the disk and try again, or pass another --storage"),
    (("not a database", "malformed"),
     "the file is not a SQLite database or is damaged; pass another --storage"),
    (("password authentication failed", "authentication failed", "no password supplied"),
     "check the user name and password in the URL"),
    (("permission denied",),
     "the database user lacks the rights; grant them or use another user"),
    (('role "',),
     "check the user name in the URL: the server has no such role (user)"),
    (("does not exist",),
     "create the database first (e.g. `createdb NAME`) or fix the name in the URL"),
    (("could not translate host name", "failed to resolve host", "name or service not known",
      "temporary failure in name resolution", "nodename nor servname"),
     "the host name could not be resolved; check the host in the URL (and this machine's "
     "DNS)"),
    (("connection refused", "could not connect", "connection failed", "timeout expired",
      "no route to host", "server closed the connection", "connection timed out",
      "terminating connection"),
     "is the database server running and reachable from here? check host and port"),
)

_PROGRAMMING_SQLITE = ("syntax error", "no such column", "incomplete input")


def safe_url(url: str) -> str:
    """The URL with its password hidden, fit for messages, logs and reprs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # malformed: hide what looks like user:password@
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(url))


def _sqlstate(err: exc.DBAPIError) -> str | None:
    orig = err.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def is_user_error(err: exc.DBAPIError) -> bool:
    """True for driver errors the user can cause and fix (see the module docstring)."""
    code = _sqlstate(err)
    if code is not None:
        return code.startswith(_USER_SQLSTATES) or (
            isinstance(err, exc.OperationalError) and not code.startswith("42"))
    if err.connection_invalidated:
        return True
    if isinstance(err, exc.OperationalError):
        reason = str(err.orig).lower()
        return not any(text in reason for text in _PROGRAMMING_SQLITE)
    # sqlite3.DatabaseError itself: "file is not a database", "database disk image is malformed"
    return type(err) is exc.DatabaseError


#: SQLite's extended result codes (`sqlite3.Error.sqlite_errorname`) that mean reading or
#: writing the file failed in the operating system, not a damaged file
_IO_WRITE = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE",
             "SQLITE_IOERR_DIR_FSYNC", "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_SHMMAP")


def _hint(reason: str, orig: BaseException | None = None) -> str:
    if getattr(orig, "sqlite_errorname", None) in _IO_WRITE:
        reason = "disk is full"
    low = reason.lower()
    for needles, hint in _HINTS:
        if any(n in low for n in needles):
            return hint
    return ""


def store_error(url: str, err: BaseException, doing: str = "failed") -> StoreError:
    """A StoreError for `err`, naming the (password-free) URL, the reason and a hint."""
    orig = getattr(err, "orig", None) or err
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    hint = _hint(str(orig), orig)
    message = f"The store {safe_url(url)} {doing}: {reason}."
    return StoreError(f"{message} Hint: {hint}." if hint else message)


@contextmanager
def translate_errors(url: str, doing: str = "failed") -> Iterator[None]:
    """Re-raise user-caused driver errors inside the block as StoreError."""
    try:
        yield
    except exc.DBAPIError as err:
        if is_user_error(err):
            raise store_error(url, err, doing) from err
        raise
    except exc.TimeoutError as err:  # connection pool exhausted
        raise store_error(url, err, doing) from err
