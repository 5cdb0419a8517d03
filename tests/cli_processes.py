"""Running `python -m nasforge` as real processes in tests: a small digits config, start
with output in files, poll the store, stop and kill (the shared-search fault tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nasforge.errors import StoreError
from nasforge.records import TrialRecord
from nasforge.store import open_store

# digits, an MLP trained for 20 epochs: ~0.3 s a trial (after a ~2 s first one); the lr is
# continuous, so two trials with one arch_id would mean one candidate added twice
CONFIG = """
[search]
name = "tiny"
budget = {budget}
objectives = ["accuracy:max", "params:min"]
seed = 0

[data]
dataset = "digits"

[training]
epochs = {epochs}
measure_latency = false

[space]
families = ["mlp"]
activation = ["relu", "gelu"]
norm = ["none", "batch"]
lr = {{ low = 1e-3, high = 1e-2, log = true }}

[space.mlp]
depth = {{ low = 1, high = 2 }}
width = [16, 32, 64]
"""


def write_config(folder: Path, budget: int, epochs: int = 20) -> Path:
    path = folder / "run.toml"
    path.write_text(CONFIG.format(budget=budget, epochs=epochs))
    return path


def start(folder: Path, label: str, *args: str) -> subprocess.Popen:
    """`python -m nasforge ARGS`, its output in files (a pipe nobody reads could fill)."""
    env = {**os.environ, "NASFORGE_CACHE_DIR": str(folder / "cache"),
           "OMP_NUM_THREADS": "1"}  # several processes share the cores
    with (folder / f"{label}.out").open("w") as out, (folder / f"{label}.err").open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "nasforge", *args], env=env,
                                stdout=out, stderr=err, text=True)


def output(folder: Path, label: str) -> str:
    return (folder / f"{label}.out").read_text() + (folder / f"{label}.err").read_text()


def snapshot(url: str, name: str = "tiny") -> list[TrialRecord] | None:
    """The trials of the search, or None while the store or the search does not exist."""
    try:
        store = open_store(url, create=False)
    except StoreError:
        return None
    try:
        return store.trials(name)
    except StoreError:  # not created yet (or busy): ask again
        return None
    finally:
        store.close()


def wait_for(condition, procs: list[subprocess.Popen], what: str, limit: float = 90.0):
    """Poll `condition()` until it is truthy (returns it); fail if a process exits first."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def worker_of(proc: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{proc.pid}"


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)  # reaped: its pid is gone, as a dead process's on this host
