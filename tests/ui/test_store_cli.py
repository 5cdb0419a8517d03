"""What the CLI does with the store itself: reading commands never write (an older schema is
read as it is, `nasforge upgrade` brings it to head), resume and worker refuse changed data,
a budget below the finished trials and an in-memory store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasforge.store.schema import SCHEMA_REVISION
from nasforge.ui.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def state(path: Path) -> tuple[bytes, int, list[str]]:
    """The store file's bytes, its mtime and the files beside it (-wal, -shm, -journal)."""
    return (path.read_bytes(), path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.glob(path.name + "*")))


def revision(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def csv_config(folder: Path, write_config, rows: int = 60, columns: int = 2) -> Path:
    data = folder / "data.csv"
    names = [f"f{i}" for i in range(columns)]
    data.write_text(",".join([*names, "label"]) + "\n" + "".join(
        ",".join(str((i * (c + 3)) % 17) for c in range(columns)) + f",{i % 2}\n"
        for i in range(rows)))
    config = write_config(budget=2, epochs=1, dataset="csv:data.csv")
    config.write_text(config.read_text().replace('dataset = "csv:data.csv"',
                                                 'dataset = "csv:data.csv"\ntarget = "label"'))
    return config


@pytest.fixture
def searched(tmp_path: Path, write_config) -> tuple[Path, str]:
    db = tmp_path / "q.db"
    url = f"sqlite:///{db}"
    result = invoke("search", str(write_config(budget=1, epochs=1)), "--storage", url)
    assert result.exit_code == 0, result.output
    return db, url


# -- item 7: reading never writes ---------------------------------------------------------

def test_list_show_export_leave_a_rollback_journal_store_untouched(searched, tmp_path):
    db, url = searched
    with sqlite3.connect(db) as conn:  # a store where WAL was refused (a network file system)
        conn.execute("PRAGMA journal_mode = DELETE")
    before = state(db)
    for args in (("list",), ("list", "--json"), ("show", "tiny"), ("show", "tiny", "--json"),
                 ("export", "tiny", "--trial", "0", "--out", str(tmp_path / "out" / "x"))):
        result = invoke(*args, "--storage", url)
        assert result.exit_code == 0, (args, result.output)
        assert state(db) == before, args


def _downgrade(db: Path, to: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from nasforge.store.engine import MIGRATIONS_DIR

    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.downgrade(config, to)
    engine.dispose()


def test_an_older_schema_is_read_as_is_and_upgrade_brings_it_to_head(searched):
    db, url = searched
    _downgrade(db, "0003")
    before = state(db)[:2]  # a WAL store: readers may add SQLite's -wal/-shm lock files
    listed = invoke("list", "--storage", url, "--json")
    assert listed.exit_code == 0, listed.output
    assert [row["name"] for row in json.loads(listed.stdout)] == ["tiny"]
    assert f"nasforge upgrade --storage {url}" in listed.stderr
    shown = invoke("show", "tiny", "--storage", url, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["trials"][0]["state"] == "COMPLETE"
    assert state(db)[:2] == before and revision(db) == "0003"

    upgraded = invoke("upgrade", "--storage", url)
    assert upgraded.exit_code == 0, upgraded.output
    assert "0003" in upgraded.stdout and SCHEMA_REVISION in upgraded.stdout
    assert revision(db) == SCHEMA_REVISION
    again = invoke("list", "--storage", url)
    assert again.exit_code == 0 and "nasforge upgrade" not in again.stderr
    assert "already" in invoke("upgrade", "--storage", url).stdout


def test_a_schema_that_cannot_be_read_as_is_is_refused_with_the_upgrade_hint(searched):
    db, url = searched
    _downgrade(db, "0003")
    with sqlite3.connect(db) as conn:  # a table an old schema lacked
        conn.execute("DROP TABLE curve_points")
    before = state(db)
    result = invoke("list", "--storage", url)
    assert result.exit_code == 2, result.output
    assert "schema 0003" in result.stderr and f"nasforge upgrade --storage {url}" in \
        result.stderr and "back up" in result.stderr
    assert state(db) == before


def test_upgrade_of_a_missing_store_creates_nothing(tmp_path):
    result = invoke("upgrade", "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 2 and "no store" in result.stderr.lower()
    assert list(tmp_path.iterdir()) == []


# -- item 5: resume and worker refuse changed data ----------------------------------------

def test_resume_and_worker_refuse_a_changed_data_file(tmp_path, write_config):
    config = csv_config(tmp_path, write_config)
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(config), "--storage", url).exit_code == 0
    data = tmp_path / "data.csv"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:-1]) + "16,16,1\n")  # one row changed, same shape
    before = state(db)
    for args in (("resume", "tiny", "--budget", "4"), ("worker", "tiny")):
        result = invoke(*args, "--storage", url)
        assert result.exit_code == 2, result.output
        message = result.stderr
        assert str(data) in message and "content" in message, message
        assert "restore" in message.lower() and "another name" in message
        assert state(db) == before
    csv_config(tmp_path, write_config, rows=60, columns=3)  # a column more: the shape too
    result = invoke("resume", "tiny", "--budget", "4", "--storage", url)
    assert result.exit_code == 2 and "shape" in result.stderr, result.output
    csv_config(tmp_path, write_config)  # the original back: resume goes on
    result = invoke("resume", "tiny", "--budget", "3", "--storage", url)
    assert result.exit_code == 0, result.output


def test_a_refused_resume_or_worker_starts_no_worker_processes(tmp_path, write_config,
                                                               monkeypatch):
    """Changed data, or a budget below the finished trials, is refused before the executor
    spawns its worker processes (or connects to Ray)."""
    from nasforge.evaluator.executors.pool import WorkerPool

    config = csv_config(tmp_path, write_config)
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(config), "--storage", url).exit_code == 0
    started: list[int] = []
    monkeypatch.setattr(WorkerPool, "start", lambda pool: started.append(pool.n_workers))
    before = state(db)
    result = invoke("search", str(config), "--resume", "--budget", "1", "--workers", "2",
                    "--storage", url)  # the config's budget, below the 2 finished
    assert result.exit_code == 2 and "2 finished" in result.stderr, result.output
    data = tmp_path / "data.csv"
    data.write_text(data.read_text().replace("\n0,0,0\n", "\n0,1,0\n", 1))
    for args in (("resume", "tiny", "--budget", "4"), ("worker", "tiny"),
                 ("search", str(config), "--resume")):
        result = invoke(*args, "--workers", "2", "--storage", url)
        assert result.exit_code == 2 and "content changed" in result.stderr, result.output
    assert started == []
    assert state(db) == before


def test_a_search_stored_without_a_fingerprint_gets_one_on_resume(tmp_path, write_config):
    config = csv_config(tmp_path, write_config)
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(config), "--storage", url).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE searches SET data_fingerprint = NULL")
    assert invoke("resume", "tiny", "--budget", "3", "--storage", url).exit_code == 0
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT data_fingerprint FROM searches").fetchone()[0]
    assert stored and str(tmp_path / "data.csv") in stored
    (tmp_path / "data.csv").write_text("f0,f1,label\n" + "1,2,0\n3,4,1\n" * 30)
    result = invoke("resume", "tiny", "--budget", "4", "--storage", url)
    assert result.exit_code == 2 and "content" in result.stderr, result.output


@pytest.mark.parametrize("old", [None, 0])
def test_a_fingerprint_of_an_older_recipe_is_refreshed_not_refused(tmp_path, write_config,
                                                                    caplog, old):
    config = csv_config(tmp_path, write_config)
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(config), "--storage", url).exit_code == 0
    with sqlite3.connect(db) as conn:
        current = json.loads(conn.execute("SELECT data_fingerprint FROM searches").fetchone()[0])
        outdated = {**current, "split": "made another way"}  # an older recipe
        outdated.pop("version")
        if old is not None:
            outdated["version"] = old
        conn.execute("UPDATE searches SET data_fingerprint = ?", (json.dumps(outdated),))
    result = invoke("resume", "tiny", "--budget", "3", "--storage", url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        stored = json.loads(conn.execute("SELECT data_fingerprint FROM searches").fetchone()[0])
    assert stored == current
    assert "older nasforge" in caplog.text and "replaced" in caplog.text


def test_a_fingerprint_of_a_newer_recipe_is_kept_and_not_compared(tmp_path, write_config,
                                                                   caplog):
    config = csv_config(tmp_path, write_config)
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(config), "--storage", url).exit_code == 0
    newer = json.dumps({"version": 99, "recipe": "not known here"})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE searches SET data_fingerprint = ?", (newer,))
    result = invoke("resume", "tiny", "--budget", "3", "--storage", url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT data_fingerprint FROM searches").fetchone()[0] == newer
    assert "newer nasforge" in caplog.text and "not checked" in caplog.text


# -- item 6: a budget below the finished trials -------------------------------------------

def test_resume_budget_below_the_finished_trials_is_refused(tmp_path, write_config):
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(write_config(budget=3, epochs=1)), "--storage",
                  url).exit_code == 0
    before = state(db)
    result = invoke("resume", "tiny", "--storage", url, "--budget", "2")
    assert result.exit_code == 2, result.output
    assert "--budget 2" in result.stderr and "3 finished" in result.stderr
    assert state(db) == before
    assert invoke("resume", "tiny", "--storage", url, "--budget", "3").exit_code == 0


def test_resume_at_the_stored_budget_is_never_refused(tmp_path, write_config):
    """A search whose stored budget is below its finished trials (lowered by an older
    nasforge, or by hand): resuming it as it is changes nothing and is not an error."""
    db, url = tmp_path / "q.db", f"sqlite:///{tmp_path / 'q.db'}"
    assert invoke("search", str(write_config(budget=3, epochs=1)), "--storage",
                  url).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE searches SET budget = 2")
    for args in (("resume", "tiny"), ("resume", "tiny", "--budget", "2")):
        result = invoke(*args, "--storage", url)
        assert result.exit_code == 0, (args, result.output)
        assert "3 complete" in result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT budget FROM searches").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM trials").fetchone()[0] == 3
    result = invoke("resume", "tiny", "--budget", "1", "--storage", url)  # lowering it more
    assert result.exit_code == 2 and "3 finished" in result.stderr, result.output


# -- item 9: an in-memory store -----------------------------------------------------------

@pytest.mark.parametrize("memory", ["sqlite:///:memory:", "sqlite://",
                                    "sqlite:///file:x?mode=memory&uri=true"])
@pytest.mark.parametrize("command", ["search", "resume", "worker"])
def test_an_in_memory_store_is_refused(tmp_path, write_config, memory, command):
    first = str(write_config()) if command == "search" else "tiny"
    result = invoke(command, first, "--storage", memory)
    assert result.exit_code == 2, result.output
    assert "memory" in result.stderr and "sqlite:///" in result.stderr
    assert "file" in result.stderr
