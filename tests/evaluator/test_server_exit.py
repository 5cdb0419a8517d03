"""The fork server leaves without finalizing once its parent has gone (`server_exit`): it
holds the command's stdout and stderr, and a pipeline (`nasforge search ... | tee log`)
would otherwise wait for its torch teardown after the command has ended."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nasforge.evaluator.executors.server_exit import in_fork_server
from nasforge.evaluator.executors.start import SERVER_EXIT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="a fork server on Linux only")


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
    preload = ["finalizing", *([SERVER_EXIT] if leaves else [])]
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing
        if __name__ == "__main__":
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload({preload!r})
            child = context.Process(target=print, args=("a worker",))
            child.start()  # after the server's preload
            child.join()
    """))
    # returns once every holder of the pipes, the server too, has closed them
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(  # the server imports by it
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "a worker" in done.stdout
    assert marker.exists() is not leaves


def test_it_does_nothing_outside_the_fork_server() -> None:
    assert not in_fork_server()
