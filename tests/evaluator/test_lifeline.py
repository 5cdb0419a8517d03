"""A worker process lives as long as the process that started it, whichever of its threads
started it, and no longer."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from nasforge.evaluator.executors.lifeline import die_with_parent

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def answer(conn: Connection) -> None:
    """A worker: watches its parent, then answers each message until the pipe closes."""
    die_with_parent()
    conn.send("watching")
    while True:
        conn.send(("pong", conn.recv()))


def watch(conn: Connection) -> None:
    """A worker that only watches its parent: it never reads its pipe, so nothing but
    `die_with_parent` ends it when the parent dies."""
    die_with_parent()
    conn.send("watching")
    time.sleep(600)


def until(check, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"waited 60 s for {what}"
        time.sleep(0.01)


def test_a_worker_started_from_a_thread_outlives_that_thread():
    """Linux's parent-death signal follows the *thread* that forked: had the worker set it,
    the kernel would kill it as soon as the short-lived thread below ends."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    started: list[multiprocessing.process.BaseProcess] = []

    def spawn() -> None:
        process = context.Process(target=answer, args=(theirs,), daemon=True)
        process.start()
        theirs.close()  # the worker's end: ours reads EOF once the worker is gone
        started.append(process)
        assert ours.recv() == "watching"  # die_with_parent ran before this thread ends

    spawner = threading.Thread(target=spawn)
    spawner.start()
    spawner.join()
    # gone from the kernel too: a parent-death signal is sent while the thread exits
    until(lambda: not Path(f"/proc/self/task/{spawner.native_id}").exists(), "the thread")
    (process,) = started
    try:
        try:
            ours.send(1)
            reply = ours.recv() if ours.poll(60) else "no reply in 60 s"
        except (EOFError, OSError) as err:  # the pipe's other end is gone
            reply = repr(err)
        assert reply == ("pong", 1), "the worker died with the thread that started it"
        assert process.is_alive()
    finally:
        process.kill()
        process.join(60)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])  # forkserver: a CPU pool's
def test_a_worker_ends_when_its_parent_process_is_killed(tmp_path, method):
    """The parent (a child of this test) starts a worker, writes its pid, then is SIGKILLed.
    A fork server's worker is the server's child, yet it watches the pool's process."""
    pid_file = tmp_path / "worker.pid"
    script = (
        "import multiprocessing, os, signal, sys, time\n"
        "from test_lifeline import watch\n"
        "if __name__ == '__main__':\n"
        f"    ctx = multiprocessing.get_context({method!r})\n"
        "    ours, theirs = ctx.Pipe()\n"
        "    ctx.Process(target=watch, args=(theirs,)).start()\n"
        "    assert ours.recv() == 'watching'\n"
        f"    open({str(pid_file)!r}, 'w').write(str(multiprocessing.active_children()[0].pid))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                        *sys.path])}
    parent = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert parent.returncode == -9
    worker = int(pid_file.read_text())

    def gone() -> bool:
        try:
            return Path(f"/proc/{worker}/stat").read_text().split(") ")[1][0] == "Z"
        except FileNotFoundError:
            return True

    until(gone, f"worker {worker} to end after its parent was killed")
