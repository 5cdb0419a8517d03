"""examples/params run as the README prints it (`PYTHONPATH=. nasforge search run.toml` in
that folder): search, show, resume, --workers 2; and an objective the evaluator never
returns stops the search with exit code 2, the trial stored FAILED with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "params"


def nasforge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([".", str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "nasforge", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "params")
    return tmp_path / "params"


def trials(cwd: Path, name: str, url: str) -> list[dict]:
    shown = nasforge(cwd, "show", name, "--storage", url, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["trials"]


def test_example_searches_shows_resumes_and_runs_on_two_workers(folder: Path):
    url = f"sqlite:///{folder / 'runs.db'}"
    first = nasforge(folder, "search", "run.toml", "--storage", url)
    assert first.returncode == 0, first.stderr
    assert "12 complete, 0 failed" in first.stdout
    done = trials(folder, "params-example", url)
    assert len(done) == 12 and all(t["state"] == "COMPLETE" for t in done)
    assert all(("momentum" in t["arch"]) == (t["arch"]["opt"] == "sgd") for t in done)
    assert all(set(t["metrics"]) == {"loss", "cost"} for t in done)
    assert nasforge(folder, "show", "params-example", "--storage", url).returncode == 0

    resumed = nasforge(folder, "resume", "params-example", "--storage", url, "--budget", "16")
    assert resumed.returncode == 0, resumed.stderr
    assert len(trials(folder, "params-example", url)) == 16

    pooled = nasforge(folder, "search", "run.toml", "--storage", url, "--name", "pooled",
                      "--workers", "2")
    assert pooled.returncode == 0, pooled.stderr
    assert [t["state"] for t in trials(folder, "pooled", url)] == ["COMPLETE"] * 12


def test_objective_the_evaluator_never_returns_exits_2_and_keeps_the_trial(folder: Path):
    config = folder / "run.toml"
    config.write_text(config.read_text().replace('"loss:min"', '"accuracy:max"'))
    url = f"sqlite:///{folder / 'runs.db'}"
    result = nasforge(folder, "search", "run.toml", "--storage", url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "'accuracy'" in result.stderr and "'loss'" in result.stderr
    stored = trials(folder, "params-example", url)
    assert stored and stored[0]["state"] == "FAILED"
    assert "'accuracy'" in stored[0]["error"]


def test_export_of_a_plain_search_says_there_is_no_network(folder: Path):
    url = f"sqlite:///{folder / 'runs.db'}"
    assert nasforge(folder, "search", "run.toml", "--storage", url).returncode == 0
    result = nasforge(folder, "export", "params-example", "--storage", url, "--out", "out",
                      "--pareto")
    assert result.returncode == 2
    assert "toy_objective:score" in result.stderr and "no network" in result.stderr


FLAKY = '''
from pathlib import Path

from toy_objective import score as toy


def score(params, **options):
    stop = Path("interrupt")
    if stop.exists():  # the user presses Ctrl-C in the middle of the search
        stop.unlink()
        raise KeyboardInterrupt
    return toy(params, **options)
'''


def test_nasforge_worker_finishes_an_interrupted_search_with_the_users_function(folder: Path):
    (folder / "flaky.py").write_text(FLAKY)
    config = folder / "run.toml"
    config.write_text(config.read_text().replace('"toy_objective:score"', '"flaky:score"'))
    (folder / "interrupt").write_text("")
    url = f"sqlite:///{folder / 'runs.db'}"
    stopped = nasforge(folder, "search", "run.toml", "--storage", url)
    assert stopped.returncode not in (0, 2), stopped.stdout + stopped.stderr
    assert "interrupted: finished trials are kept" in stopped.stderr
    worker = nasforge(folder, "worker", "params-example", "--storage", url)
    assert worker.returncode == 0, worker.stderr
    assert [t["state"] for t in trials(folder, "params-example", url)] == ["COMPLETE"] * 12
