"""The `nasforge` command ends without the interpreter's teardown (`ui.process_exit`), and
still exits as a normal exit would: its status, its atexit handlers, its whole output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasforge.ui.process_exit import exit_status

ROOT = Path(__file__).resolve().parents[2]

# a module global whose finalizer runs only when the interpreter tears its modules down
_PROBE = """
import atexit, runpy, sys
class Teardown:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")
probe = Teardown()
atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
sys.argv = ["nasforge", *{argv!r}]
runpy.run_module("nasforge", run_name="__main__")
"""


def nasforge(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PROBE.format(argv=argv)], cwd=cwd,
                          capture_output=True, text=True)


def test_a_command_skips_the_teardown_but_runs_atexit_and_delivers_all_its_output() -> None:
    done = nasforge(["layers", "--json"])
    assert done.returncode == 0, done.stderr
    assert "atexit ran" in done.stderr
    assert "teardown ran" not in done.stderr
    assert "relu" in json.loads(done.stdout)["activations"]  # all of it, through a pipe


def _python(code: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter whose stdout is block-buffered (as a user's, piped)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True)


def test_buffered_output_is_flushed_before_the_process_ends() -> None:
    done = _python("import sys\nfrom nasforge.ui.process_exit import finish\n"
                   "sys.stdout.write('x' * 1000)\nfinish(0)\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "x" * 1000  # less than a buffer: written only by the flush


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_an_error_as_in_a_normal_exit() -> None:
    with open("/dev/full", "w") as full:
        done = _python("import sys\nfrom nasforge.ui.process_exit import finish\n"
                       "sys.stdout.write('x' * 10)\nfinish(0)\n", stdout=full)
    assert done.returncode == 120
    assert "No space left" in done.stderr


def test_under_a_profiler_the_exit_is_normal_and_the_profile_saved(tmp_path: Path) -> None:
    profile = tmp_path / "nasforge.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m",
                           "nasforge", "layers", "--json"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0


def test_a_failing_command_keeps_its_exit_status_and_message(tmp_path: Path) -> None:
    done = nasforge(["search", str(tmp_path / "missing.toml")], cwd=tmp_path)
    assert done.returncode == 2
    assert "missing.toml" in done.stderr
    assert "atexit ran" in done.stderr


def test_a_running_non_daemon_thread_is_waited_for() -> None:
    code = ("import threading, time, sys\n"
            "from nasforge.ui.process_exit import finish\n"
            "def late():\n"
            "    time.sleep(0.3)\n"
            "    print('thread finished', flush=True)\n"
            "threading.Thread(target=late).start()\n"
            "finish(3)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "thread finished"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (True, 1),
                                              (256 + 7, 7)])
def test_the_status_is_the_interpreters(code: object, status: int) -> None:
    assert exit_status(code) == status


def test_a_message_is_printed_on_stderr_with_status_1(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert exit_status("no such search") == 1
    assert capsys.readouterr().err == "no such search\n"
