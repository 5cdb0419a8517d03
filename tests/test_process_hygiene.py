"""Stopping `nasforge search --workers 2` from outside, in real processes: SIGTERM is handled
like Ctrl-C (trials handed back, the resume hint, exit 143, no traceback) and SIGKILL of the
parent takes its worker processes with it (they write no checkpoint after it).

Linux only: the worker processes are found through /proc. No assertion depends on how fast
the (shared, loaded) machine is: waits poll with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_processes import output, snapshot, start, stop, wait_for, worker_of, write_config

from nasforge.records import TrialState

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.append(int(entry))
    return found


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if (stat := _stat(pid)) is not None and stat[0] != "Z"]


#: A deadline for things that take milliseconds on a quiet machine, seconds on a loaded one.
PATIENCE = 60.0


def gone_within(pids: list[int], limit: float = PATIENCE) -> bool:
    """Whether every process in `pids` has ended (or is a zombie) before `limit` seconds."""
    deadline = time.monotonic() + limit
    while alive(pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def checkpoint_files(folder: Path) -> set[str]:
    root = folder / "q.db.checkpoints"
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def running_search(folder: Path, budget: int, epochs: int) -> tuple[subprocess.Popen, str,
                                                                    list[int]]:
    """`nasforge search --workers 2` in the middle of a round (trials of it RUNNING, its two
    workers up); returns the process, the store URL and the worker pids."""
    url = f"sqlite:///{folder / 'q.db'}"
    proc = start(folder, "search", "search", str(write_config(folder, budget, epochs)),
                 "--storage", url, "--workers", "2")
    me = worker_of(proc)
    wait_for(lambda: any(t.worker == me and t.state is TrialState.RUNNING
                         for t in snapshot(url) or ()), [proc], "a RUNNING trial")
    workers = wait_for(lambda: children(proc.pid) if len(children(proc.pid)) >= 2 else None,
                       [proc], "the worker processes")
    return proc, url, workers


def test_sigterm_hands_the_trials_back_and_ends_the_workers(tmp_path):
    budget = 6
    proc, url, workers = running_search(tmp_path, budget, epochs=60)
    try:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=2 * PATIENCE)
        text = output(tmp_path, "search")
        # 143 = 128 + SIGTERM, as a shell reports a process that SIGTERM ended (Ctrl-C: 130)
        assert code == 143, text
        assert "Traceback" not in text and "BrokenPipeError" not in text, text
        assert "interrupted: finished trials are kept" in text and "nasforge resume tiny" in text
        assert gone_within(workers), alive(workers)
        me = worker_of(proc)
        handed_back = snapshot(url)
        assert not [t.number for t in handed_back if t.worker == me
                    and t.state is TrialState.RUNNING], handed_back

        # the trials handed back run again (only they: --budget; in this process, no workers)
        resumed = start(tmp_path, "resume", "resume", "tiny", "--storage", url,
                        "--budget", str(len(handed_back)))
        try:
            assert resumed.wait(timeout=300) == 0, output(tmp_path, "resume")
        finally:
            stop([resumed])
        trials = snapshot(url)
        assert [t.number for t in trials] == [t.number for t in handed_back]
        assert [t.state for t in trials] == [TrialState.COMPLETE] * len(handed_back), trials
        assert len({t.arch_id for t in trials}) == len(handed_back)
    finally:
        stop([proc])


def test_sigkill_of_the_parent_ends_its_workers_before_they_write_anything(tmp_path):
    # 300 epochs: a candidate trains for seconds; a worker outliving its parent would finish it
    proc, url, workers = running_search(tmp_path, budget=8, epochs=300)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=PATIENCE)
        files = checkpoint_files(tmp_path)
        assert gone_within(workers), f"workers {alive(workers)} outlived their parent"
        # a candidate trains for seconds: a worker that outlived its parent would write one
        assert checkpoint_files(tmp_path) == files
    finally:
        stop([proc])
        for pid in alive(workers):  # only on failure: do not leave them training
            os.kill(pid, signal.SIGKILL)


def test_sigterm_during_a_search_on_ray_hands_back_and_exits_143(tmp_path):
    """ray.init installs its own SIGTERM handler, and ray.wait re-raises a signal's
    KeyboardInterrupt as its own: neither may cost the clean exit."""
    pytest.importorskip("ray")
    url = f"sqlite:///{tmp_path / 'q.db'}"
    proc = start(tmp_path, "search", "search", str(write_config(tmp_path, 4, epochs=300)),
                 "--storage", url, "--executor", "ray")
    try:
        wait_for(lambda: any(t.state is TrialState.RUNNING for t in snapshot(url) or ()),
                 [proc], "a RUNNING trial", limit=3 * PATIENCE)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=2 * PATIENCE)
        text = output(tmp_path, "search")
        assert code == 143, text
        assert "Traceback" not in text and "nasforge resume tiny" in text, text
        assert not [t.number for t in snapshot(url) if t.state is TrialState.RUNNING]
    finally:
        stop([proc])
