"""A full disk or a file-size limit is reported as such, with the store's path, and the
store stays readable; a PostgreSQL server that is down when a store is opened is waited for
like one that goes down mid-run (one retry policy), while a URL that can never work (an
unknown host, database or user) fails at once with the server's reason."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pg_schema import POSTGRES_ENV
from sqlalchemy.engine import make_url
from store_helpers import OBJECTIVES

from nasforge.errors import StoreError
from nasforge.store import SQLStore, open_store

REPO = Path(__file__).resolve().parents[2]

_WRITE_UNDER_A_LIMIT = """
import resource, signal, sys
from pathlib import Path
from nasforge.errors import StoreError
from nasforge.store import open_store
path = Path(sys.argv[1])
store = open_store(f"sqlite:///{path}", create=False)
store.get_search("s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
limit = max(p.stat().st_size for p in path.parent.iterdir()) + 8192
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    store.set_diagnostics("s", {"blob": "x" * 4_000_000})
except StoreError as err:
    print(err)
    sys.exit(3)
"""


def test_a_file_size_limit_is_reported_as_such_and_the_store_stays_readable(
        tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    store.create_search("s", OBJECTIVES, 5, {"seed": 1})
    store.close()
    run = subprocess.run([sys.executable, "-c", _WRITE_UNDER_A_LIMIT, str(path)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 3, run.stdout + run.stderr
    message = run.stdout
    assert str(path) in message
    assert "disk is full" in message and "file size limit" in message
    assert "not a SQLite database" not in message and "damaged" not in message
    store = open_store(f"sqlite:///{path}", create=False)
    try:
        assert store.get_search("s").diagnostics == {}
        store.set_budget("s", 7)
        assert store.get_search("s").budget == 7
    finally:
        store.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_down_at_open_is_retried_like_one_down_mid_run(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/postgres"
    with caplog.at_level(logging.WARNING, logger="nasforge.store"):
        with pytest.raises(StoreError, match=r"unreachable for \d+\.\d s \(\d+ attempts"):
            SQLStore(url, create=False, retry_seconds=1)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) >= 1
    with pytest.raises(StoreError, match="refused"):  # retry_seconds=0: at once, no wait
        SQLStore(url, create=False, retry_seconds=0)


def _test_server() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    return url


@pytest.mark.parametrize(("change", "reason"), [
    ({"host": "nasforge-no-such-host.invalid"}, "nasforge-no-such-host.invalid"),
    ({"database": "nasforge_no_such_db"}, 'database "nasforge_no_such_db" does not exist'),
    ({"username": "nasforge_no_such_user"}, 'role "nasforge_no_such_user" does not exist'),
])
def test_a_url_that_can_never_work_fails_at_once_with_the_reason(
        change: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture) -> None:
    url = make_url(_test_server()).set(**change).render_as_string(hide_password=False)
    with caplog.at_level(logging.WARNING, logger="nasforge.store"):
        with pytest.raises(StoreError) as raised:
            SQLStore(url, create=False, retry_seconds=30)
    message = str(raised.value)
    assert reason in message and "unreachable" not in message, message
    assert "Hint:" in message
    assert [r.getMessage() for r in caplog.records if "retry" in r.getMessage()] == []
