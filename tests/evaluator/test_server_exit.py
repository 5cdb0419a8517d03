"""The fork server leaves without finalizing once the command has gone (`server_exit`): it
holds the command's stdout and stderr, and a pipeline (`nasforge search ... | tee log`)
would otherwise wait for its torch teardown after the command has ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nasforge.evaluator.executors.server_exit import in_fork_server
from nasforge.evaluator.executors.start import SERVER_EXIT

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="a fork server on Linux only"), pytest.mark.slow]


def run_parent(folder: Path, preload: list[str], body: str) -> subprocess.CompletedProcess:
    """Run a parent process that starts a fork server preloading `preload` (modules in
    `folder` or importable here) and then runs `body`; returns once every holder of its
    pipes, the server too, has closed them."""
    script = folder / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing
        if __name__ == "__main__":
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload({preload!r})
    """) + textwrap.indent(textwrap.dedent(body), "    "))
    # the server imports by PYTHONPATH (3.11-3.13 ignore the parent's sys.path there)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the server too: it holds the pipes
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("leaves", [True, False])
def test_the_fork_server_skips_exit_handlers_registered_before_it(tmp_path: Path,
                                                                  leaves: bool) -> None:
    """A module preloaded before `server_exit` registers an exit handler that writes a file:
    it never runs in a server that preloads `server_exit` last (as `start.worker_context`
    does), and runs in one that does not (so the check can fail)."""
    marker = tmp_path / "finalized"
    (tmp_path / "finalizing.py").write_text(textwrap.dedent(f"""
        import atexit, pathlib
        atexit.register(pathlib.Path({str(marker)!r}).write_text, "the server finalized")
    """))
    done = run_parent(tmp_path, ["finalizing", *([SERVER_EXIT] if leaves else [])], """
        child = context.Process(target=print, args=("a worker",))
        child.start()  # after the server's preload
        child.join()
    """)
    assert done.returncode == 0, done.stderr
    assert "a worker" in done.stdout
    assert marker.exists() is not leaves


def test_a_worker_forked_from_the_server_is_not_the_server(tmp_path: Path) -> None:
    """Its copied stack holds the server's `main` too; it keeps its own exit status."""
    (tmp_path / "probe.py").write_text(textwrap.dedent("""
        import sys
        from nasforge.evaluator.executors.server_exit import in_fork_server
        def main():
            print("worker in fork server:", in_fork_server(), flush=True)
            sys.exit(3)
    """))
    done = run_parent(tmp_path, ["probe", SERVER_EXIT], """
        import probe
        child = context.Process(target=probe.main)
        child.start()
        child.join()
        print("worker exit code:", child.exitcode)
    """)
    assert done.returncode == 0, done.stderr
    assert "worker in fork server: False" in done.stdout
    assert "worker exit code: 3" in done.stdout


def test_it_does_nothing_outside_the_fork_server() -> None:
    assert not in_fork_server()
