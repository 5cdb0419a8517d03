"""A throwaway PostgreSQL cluster of a test's own, to restart and stop at will.

    with pg_cluster() as cluster:        # initdb into a temp folder, start on a free port
        store = SQLStore(cluster.url)
        cluster.restart()                # pg_ctl restart -m fast
        cluster.stop(); cluster.start()

Binaries come from /usr/lib/postgresql/*/bin (or PATH). As root, the server runs as user
``postgres`` (``su postgres -c``), as in ``.ci/run``. Without PostgreSQL the test skips;
but when ``NASFORGE_TEST_POSTGRES_URL`` is set (CI installs PostgreSQL) it fails instead.
The manual/CI server of that variable is never touched.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_ENV = "NASFORGE_TEST_POSTGRES_URL"


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                   key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()])
    for folder in reversed(found):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _unavailable(why: str) -> None:
    if os.environ.get(POSTGRES_ENV):
        pytest.fail(f"{why}, but {POSTGRES_ENV} is set (CI installs PostgreSQL)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One cluster in a temp folder; `url` reaches it over TCP on 127.0.0.1."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="nasforge-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        try:
            if self._as_postgres:
                shutil.chown(self.root, "postgres")
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_postgres:
            cmd = ["su", "postgres", "-c", shlex.join(cmd)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args[:1])} failed ({done.returncode}): "
                               f"{done.stdout[-800:]}{done.stderr[-800:]}{self._log()}")

    def _log(self) -> str:
        try:
            return "\nserver log:\n" + (self.root / "log").read_text()[-1500:]
        except OSError:
            return ""

    def _ctl(self, *args: str) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-t", "60", *args, "-o", options)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Fast restart: open sessions are terminated, the server comes back at once."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def cleanup(self) -> None:
        try:
            self.stop()
        except (RuntimeError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A started cluster, stopped and deleted afterwards; skips (or fails, see the module
    docstring) when PostgreSQL is not installed."""
    pytest.importorskip("psycopg")
    bin_dir = pg_bin()
    if bin_dir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    assert bin_dir is not None
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root without a 'postgres' user to run the server")
    cluster = PgCluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.cleanup()
