"""Paths the user gives that cannot be used as they are: named pipes, a CSV larger than the
memory, an unusable checkpoint folder. Each exits 2 naming the path, before anything is
written; none hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.ui.cli import app

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


def nasforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m nasforge ARGS`; a command that blocks on a pipe fails the test on timeout
    (TimeoutExpired) instead of hanging the suite."""
    return subprocess.run([sys.executable, "-m", "nasforge", *args], cwd=cwd, timeout=120,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["config", "csv", "npz"])
def test_a_named_pipe_is_refused_not_read(tmp_path: Path, write_config, what: str) -> None:
    fifo = tmp_path / f"pipe.{'toml' if what == 'config' else what}"
    os.mkfifo(fifo)
    config = fifo if what == "config" else write_config(dataset=f"{what}:{fifo.name}")
    result = nasforge("search", str(config), "--storage", f"sqlite:///{tmp_path / 's.db'}",
                      cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "named pipe" in result.stderr and "pipe." in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s.db").exists()


def test_a_csv_larger_than_the_memory_is_refused(tmp_path: Path, write_config,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from nasforge.evaluator.data import files

    (tmp_path / "big.csv").write_text("a,b,label\n" + "".join(f"{i},{i / 3:.5f},{i % 2}\n"
                                                              for i in range(5000)))
    monkeypatch.setattr(files, "available_memory", lambda: 100_000)
    result = CliRunner().invoke(app, ["search", str(write_config(dataset="csv:big.csv")),
                                      "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, result.output
    assert "big.csv is" in result.stderr and "kB" in result.stderr
    assert "available" in result.stderr and not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("where", ["a file", "under a file", "read-only"])
def test_an_unusable_checkpoint_dir_is_refused_before_the_search(tmp_path: Path, write_config,
                                                                 where: str) -> None:
    blocker = tmp_path / "weights"
    blocker.write_text("not a folder")
    folder = {"a file": blocker, "under a file": blocker / "sub",
              "read-only": Path("/sys/nasforge-checkpoints")}[where]  # sysfs: even root can't
    if where == "read-only" and not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux sysfs, which nobody can write a file in")
    config = write_config(budget=1, epochs=1)
    config.write_text(config.read_text().replace(
        "measure_latency = false", f"measure_latency = false\ncheckpoint_dir = '{folder}'"))
    result = CliRunner().invoke(app, ["search", str(config), "--storage",
                                      f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, result.output
    assert "checkpoint_dir" in result.stderr and str(folder) in result.stderr
    assert not (tmp_path / "s.db").exists() and blocker.read_text() == "not a folder"


def locked_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose content this user may not look up (as `chmod 000`: stat of anything
    inside fails with EACCES). Faked through Path.stat, since root ignores permissions."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = Path.stat

    def stat(self: Path, *args, **kwargs):
        if locked in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    return locked


@pytest.mark.parametrize("where", ["checkpoint_dir", "csv"])
def test_a_path_in_a_folder_this_user_cannot_read_is_a_clear_error(
        tmp_path: Path, write_config, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    locked = locked_folder(tmp_path, monkeypatch)
    inside = locked / ("weights" if where == "checkpoint_dir" else "data.csv")
    config = write_config(budget=1, epochs=1,
                          dataset=f"csv:{inside}" if where == "csv" else "digits")
    if where == "checkpoint_dir":
        config.write_text(config.read_text().replace(
            "measure_latency = false", f"measure_latency = false\ncheckpoint_dir = '{inside}'"))
    result = CliRunner().invoke(app, ["search", str(config), "--storage",
                                      f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert str(inside) in result.stderr and "permission" in result.stderr.lower()
    assert "chmod" in result.stderr, result.stderr  # the fix
    assert "Traceback" not in result.output and not (tmp_path / "s.db").exists()
